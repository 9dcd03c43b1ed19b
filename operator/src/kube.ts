// Every Kubernetes API call the operator makes, in one place: this file is the list of verbs its RBAC needs.
//
//   forkpool.io      jobpools          list, watch
//   forkpool.io      jobpools/status   patch
//   forkpool.io      jobpools/finalizers update (no call: the Deployment's owner reference sets
//                                      blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
//                                      admission plugin, on in OpenShift, allows only to who may do this)
//   apps             deployments       list, watch, patch, create (server-side apply; the API server
//                                      authorizes an apply that creates the object as create too)
//   ""               pods              list, watch, patch (pod-deletion-cost annotation)
//   ""               secrets           get (spec.redis.urlFrom)
//   ""               events            create
//   coordination.k8s.io leases         get, create, update (leader election)
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
  type V1Deployment,
  type V1Lease,
  type V1Pod,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type JobPoolStatus } from './jobpool.ts';
import { FIELD_MANAGER } from './desired-deployment.ts';
import type { ListPage } from './informer.ts';

/** The RBAC rules the calls below need, exactly (the Helm chart's ClusterRole is checked against them). */
export const RBAC_RULES: readonly { apiGroups: string[]; resources: string[]; verbs: string[] }[] = [
  { apiGroups: [GROUP], resources: [PLURAL], verbs: ['list', 'watch'] },
  { apiGroups: [GROUP], resources: [`${PLURAL}/status`], verbs: ['patch'] },
  { apiGroups: [GROUP], resources: [`${PLURAL}/finalizers`], verbs: ['update'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch', 'patch', 'create'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch', 'patch'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

/** A JobPool as the API returns it, before parsing. */
export interface RawJobPool {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: unknown;
  status?: JobPoolStatus;
}

/** The HTTP status of a failed API call, when there is one. */
export function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** The API server's message for a failed call (its Status body), for logs and conditions. */
export function apiMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'body' in err) {
    const { body } = err;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (typeof parsed.message === 'string') return parsed.message;
      } catch {
        return body.slice(0, 500);
      }
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/** Call options that abort the request when `signal` does (client-node takes a signal only through a middleware). */
function abortable(signal: AbortSignal | undefined): ConfigurationOptions<ObservableMiddleware> | undefined {
  if (signal === undefined) return undefined;
  return {
    middleware: [
      {
        pre: (request) => {
          request.setSignal(signal);
          return new Observable(Promise.resolve(request));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

const page = <T>(list: { items: T[]; metadata?: { resourceVersion?: string; _continue?: string } }): ListPage<T> => ({
  items: list.items,
  resourceVersion: list.metadata?.resourceVersion ?? '',
  continue: list.metadata?._continue,
});

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/**
 * A KubeConfig whose requests share one connection pool. client-node (2.0.1) gives every request an undici
 * Agent of its own, so a TLS handshake per request and, until its keep-alive ends, an open connection and
 * a TLS context per request: at 1,000 busy pools that was most of the operator's memory. The pool is made
 * from the first request's TLS settings (the cluster's CA, a client certificate), as client-node's own
 * WebSocket agents are; credentials in headers, such as a rotated service-account token, are still read
 * for every request.
 */
class SharedConnections extends KubeConfig {
  #dispatcher: Dispatcher | undefined;

  /** A copy of `kc` whose requests share one connection pool. */
  static of(kc: KubeConfig): SharedConnections {
    const shared = new SharedConnections();
    shared.mergeConfig(kc);
    return shared;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const own = context.getDispatcher();
    if (own === undefined) return;
    this.#dispatcher ??= own;
    context.setDispatcher(this.#dispatcher);
  }
}

/** Called for every write request sent, e.g. ('jobpools/status', 'patch'). */
export type OnWrite = (resource: string, verb: string) => void;

export class KubeApi {
  readonly watch: Watch;
  readonly #custom: CustomObjectsApi;
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #coordination: CoordinationV1Api;
  readonly #onWrite: OnWrite;

  constructor(config: KubeConfig, onWrite: OnWrite = () => undefined) {
    this.#onWrite = onWrite;
    const kc = SharedConnections.of(config);
    this.watch = new Watch(kc);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#coordination = kc.makeApiClient(CoordinationV1Api);
  }

  /** Watch paths, all namespaces when `namespace` is empty. */
  static paths(namespace: string): { jobPools: string; deployments: string; pods: string } {
    const ns = namespace === '' ? '' : `/namespaces/${namespace}`;
    return {
      jobPools: `/apis/${GROUP}/${VERSION}${ns}/${PLURAL}`,
      deployments: `/apis/apps/v1${ns}/deployments`,
      pods: `/api/v1${ns}/pods`,
    };
  }

  async listJobPools(namespace: string, limit: number, cont: string | undefined): Promise<ListPage<RawJobPool>> {
    const params = { group: GROUP, version: VERSION, plural: PLURAL, limit, _continue: cont };
    const list = (namespace === ''
      ? await this.#custom.listClusterCustomObject(params)
      : await this.#custom.listNamespacedCustomObject({ ...params, namespace })) as { items: RawJobPool[]; metadata?: { resourceVersion?: string; continue?: string } };
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '', continue: list.metadata?.continue };
  }

  async listDeployments(namespace: string, labelSelector: string, limit: number, cont: string | undefined): Promise<ListPage<V1Deployment>> {
    const params = { labelSelector, limit, _continue: cont };
    return page(namespace === '' ? await this.#apps.listDeploymentForAllNamespaces(params) : await this.#apps.listNamespacedDeployment({ ...params, namespace }));
  }

  async listPods(namespace: string, labelSelector: string, limit: number, cont: string | undefined): Promise<ListPage<V1Pod>> {
    const params = { labelSelector, limit, _continue: cont };
    return page(namespace === '' ? await this.#core.listPodForAllNamespaces(params) : await this.#core.listNamespacedPod({ ...params, namespace }));
  }

  /** Server-side apply of a Deployment as field manager `forkpool-operator`, taking over fields others changed. */
  applyDeployment(deployment: V1Deployment): Promise<V1Deployment> {
    const { name, namespace } = deployment.metadata as { name: string; namespace: string };
    this.#onWrite('deployments', 'apply');
    return this.#apps.patchNamespacedDeployment(
      { name, namespace, body: deployment, fieldManager: FIELD_MANAGER, force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  /** Replaces the pool's status fields (a merge patch of the status subresource). */
  async patchJobPoolStatus(namespace: string, name: string, status: JobPoolStatus): Promise<RawJobPool> {
    this.#onWrite(`${PLURAL}/status`, 'patch');
    return (await this.#custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status }, fieldManager: FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as RawJobPool;
  }

  /** Sets annotations of a pod (a merge patch; a null value removes one). */
  patchPodAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<V1Pod> {
    this.#onWrite('pods', 'patch');
    return this.#core.patchNamespacedPod(
      { namespace, name, body: { metadata: { annotations } }, fieldManager: FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  /** Reads one key of a Secret, decoded; undefined when the Secret or the key does not exist. */
  async readSecretKey(namespace: string, name: string, key: string): Promise<string | undefined> {
    try {
      const secret = await this.#core.readNamespacedSecret({ namespace, name });
      const value = secret.data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** Records a Kubernetes Event on a pool (`kubectl describe jobpool` shows it). */
  async createEvent(
    involved: { namespace: string; name: string; uid: string; apiVersion: string; kind: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    instance: string,
  ): Promise<void> {
    const now = new Date();
    this.#onWrite('events', 'create');
    await this.#core.createNamespacedEvent({
      namespace: involved.namespace,
      body: {
        metadata: { generateName: `${involved.name}.`, namespace: involved.namespace },
        involvedObject: { ...involved },
        type,
        reason,
        message,
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }

  /** Reads a Lease; `signal` bounds the call (leader election bounds each by the renew deadline). */
  readLease(namespace: string, name: string, signal?: AbortSignal): Promise<V1Lease> {
    return this.#coordination.readNamespacedLease({ namespace, name }, abortable(signal));
  }

  createLease(namespace: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    this.#onWrite('leases', 'create');
    return this.#coordination.createNamespacedLease({ namespace, body: lease }, abortable(signal));
  }

  /** Replaces a Lease; the resourceVersion in it makes this a compare-and-swap (409 when someone else wrote first). */
  replaceLease(namespace: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    this.#onWrite('leases', 'update');
    return this.#coordination.replaceNamespacedLease({ namespace, name: lease.metadata?.name ?? '', body: lease }, abortable(signal));
  }
}
