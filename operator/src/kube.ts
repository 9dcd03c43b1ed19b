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
import type { V1Deployment, V1Lease, V1Pod } from '@kubernetes/client-node';
import { KubeClient, accessFromKubeConfig, type ClusterAccess, type KubeConfigLike, type Watcher } from './kube-client.ts';
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

interface List<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

const page = <T>(list: List<T>): ListPage<T> => ({
  items: list.items,
  resourceVersion: list.metadata?.resourceVersion ?? '',
  continue: list.metadata?.continue === '' ? undefined : list.metadata?.continue,
});

const APPLY_PATCH = 'application/apply-patch+yaml';
const MERGE_PATCH = 'application/merge-patch+json';

/** An Event's time as the API expects it (RFC 3339, whole seconds). */
const eventTime = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

/** Called for every write request sent, e.g. ('jobpools/status', 'patch'). */
export type OnWrite = (resource: string, verb: string) => void;

export class KubeApi {
  readonly watch: Watcher;
  readonly #client: KubeClient;
  readonly #onWrite: OnWrite;

  /** `config`: where the API server is; a client-node KubeConfig (as the tests have) is read for its current context. */
  constructor(config: ClusterAccess | KubeConfigLike, onWrite: OnWrite = () => undefined) {
    this.#onWrite = onWrite;
    this.#client = new KubeClient('server' in config ? config : accessFromKubeConfig(config));
    this.watch = this.#client;
  }

  /** Closes the pooled connections to the API server. */
  close(): void {
    this.#client.close();
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
    return page(await this.#client.request<List<RawJobPool>>('GET', KubeApi.paths(namespace).jobPools, { query: { limit, continue: cont } }));
  }

  async listDeployments(namespace: string, labelSelector: string, limit: number, cont: string | undefined): Promise<ListPage<V1Deployment>> {
    return page(await this.#client.request<List<V1Deployment>>('GET', KubeApi.paths(namespace).deployments, { query: { labelSelector, limit, continue: cont } }));
  }

  async listPods(namespace: string, labelSelector: string, limit: number, cont: string | undefined): Promise<ListPage<V1Pod>> {
    return page(await this.#client.request<List<V1Pod>>('GET', KubeApi.paths(namespace).pods, { query: { labelSelector, limit, continue: cont } }));
  }

  /** Server-side apply of a Deployment as field manager `forkpool-operator`, taking over fields others changed. */
  applyDeployment(deployment: V1Deployment): Promise<V1Deployment> {
    const { name, namespace } = deployment.metadata as { name: string; namespace: string };
    this.#onWrite('deployments', 'apply');
    return this.#client.request<V1Deployment>('PATCH', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`, {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: deployment,
      contentType: APPLY_PATCH,
    });
  }

  /** Replaces the pool's status fields (a merge patch of the status subresource). */
  async patchJobPoolStatus(namespace: string, name: string, status: JobPoolStatus): Promise<RawJobPool> {
    this.#onWrite(`${PLURAL}/status`, 'patch');
    return await this.#client.request<RawJobPool>('PATCH', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}/status`, {
      query: { fieldManager: FIELD_MANAGER },
      body: { status },
      contentType: MERGE_PATCH,
    });
  }

  /** Sets annotations of a pod (a merge patch; a null value removes one). */
  patchPodAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<V1Pod> {
    this.#onWrite('pods', 'patch');
    return this.#client.request<V1Pod>('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}`, {
      query: { fieldManager: FIELD_MANAGER },
      body: { metadata: { annotations } },
      contentType: MERGE_PATCH,
    });
  }

  /** Reads one key of a Secret, decoded; undefined when the Secret or the key does not exist. */
  async readSecretKey(namespace: string, name: string, key: string): Promise<string | undefined> {
    try {
      const secret = await this.#client.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`);
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
    const now = eventTime(new Date());
    this.#onWrite('events', 'create');
    await this.#client.request('POST', `/api/v1/namespaces/${involved.namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
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
    return this.#client.request<V1Lease>('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`, { signal });
  }

  createLease(namespace: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    this.#onWrite('leases', 'create');
    return this.#client.request<V1Lease>('POST', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
      signal,
    });
  }

  /** Replaces a Lease; the resourceVersion in it makes this a compare-and-swap (409 when someone else wrote first). */
  replaceLease(namespace: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    this.#onWrite('leases', 'update');
    return this.#client.request<V1Lease>('PUT', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${lease.metadata?.name ?? ''}`, {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
      signal,
    });
  }
}
