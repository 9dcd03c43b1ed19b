// The worker Deployment a JobPool asks for, as a server-side-apply manifest. Pure.
import { createHash } from 'node:crypto';
import type {
  V1Container, V1Deployment, V1EnvVar, V1PodSecurityContext, V1PodSpec, V1PodTemplateSpec, V1SecurityContext, V1Volume, V1VolumeMount,
} from '@kubernetes/client-node';
import type { JobPool } from './jobpool.ts';
import { GROUP, KIND, VERSION } from './jobpool.ts';

export const FIELD_MANAGER = 'forkpool-operator';
/** The label that ties a Deployment and its pods to their pool; the Deployment's whole selector. */
export const POOL_LABEL = 'forkpool.io/pool';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Hash of everything in the manifest but replicas, to notice that the desired Deployment changed. */
export const SPEC_HASH_ANNOTATION = 'forkpool.io/spec-hash';
/**
 * Hash of the Redis URL the pods read from the pool's Secret (spec.redis.urlFrom): a rotated Secret
 * changes the pod template, so the Deployment rolls its pods onto the new value (env from a Secret is
 * read only when a container starts).
 */
export const REDIS_SECRET_HASH_ANNOTATION = 'forkpool.io/redis-secret-hash';
/** Extra seconds of grace beyond the job timeout, for the master to hand back jobs and exit. */
export const GRACE_MARGIN_SECONDS = 30;
/** The worker image's user and group (worker-image/Dockerfile: `USER 1000:1000`). */
export const WORKER_UID = 1000;
/** The emptyDir mounted at /tmp in a worker container whose root filesystem is read-only. */
export const TMP_VOLUME = 'forkpool-tmp';
/** The env vars the operator sets on the worker container; they win over the template's. */
export const WORKER_ENV_NAMES = [
  'REDIS_URL',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_TLS_CA_FILE',
  'REDIS_TLS_CERT_FILE',
  'REDIS_TLS_KEY_FILE',
  'REDIS_TLS_SERVERNAME',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_MASTER',
  'REDIS_SENTINEL_PASSWORD',
  'RESQUE_NAMESPACE',
  'QUEUES',
  'CONCURRENCY',
  'JOBS_PER_CHILD',
  'ISOLATION',
  'JOB_TIMEOUT_SECONDS',
  'MAX_CHILD_MEMORY_MB',
  'RETRY_ATTEMPTS',
  'RETRY_BACKOFF_SECONDS',
  'SHUTDOWN_TIMEOUT_SECONDS',
  'POD_NAME',
] as const;

/** The volume of spec.redis.tls.caSecretRef in worker pods, and where it is mounted. */
export const REDIS_CA_VOLUME = 'forkpool-redis-ca';
export const REDIS_CA_DIR = '/etc/forkpool/redis-ca';
/** The volume of spec.redis.tls.certSecretRef (a kubernetes.io/tls Secret), and where it is mounted. */
export const REDIS_CERT_VOLUME = 'forkpool-redis-client-cert';
export const REDIS_CERT_DIR = '/etc/forkpool/redis-client-cert';

type Obj = Record<string, unknown>;

/** Labels on the Deployment and its pods. */
export function poolLabels(pool: JobPool): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'forkpool-worker',
    'app.kubernetes.io/instance': pool.metadata.name,
    [MANAGED_BY_LABEL]: FIELD_MANAGER,
    [POOL_LABEL]: pool.metadata.name,
  };
}

/** The label selector string of a pool's pods (status.selector, for the scale subresource). */
export function poolSelector(pool: JobPool): string {
  return `${POOL_LABEL}=${pool.metadata.name}`;
}

/**
 * The worker environment from the JobPool spec; the Redis URL comes from the Secret when urlFrom is used,
 * the credentials (the sentinels' too) from theirs, and the TLS files from the Secrets mountRedisTls mounts.
 */
export function workerEnv(pool: JobPool): V1EnvVar[] {
  const { spec } = pool;
  const redisUrl: V1EnvVar =
    spec.redis.urlFrom !== undefined
      ? { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: spec.redis.urlFrom.secretKeyRef.name, key: spec.redis.urlFrom.secretKeyRef.key } } }
      : { name: 'REDIS_URL', value: spec.redis.url ?? '' };
  const { tls, auth, sentinel, cluster } = spec.redis;
  const fromSecret = (name: string, ref: { name: string; key: string }): V1EnvVar => ({ name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } });
  return [
    redisUrl,
    ...(auth?.usernameFrom ? [fromSecret('REDIS_USERNAME', auth.usernameFrom.secretKeyRef)] : []),
    ...(auth?.passwordFrom ? [fromSecret('REDIS_PASSWORD', auth.passwordFrom.secretKeyRef)] : []),
    // Mounted as volumes, not env: a Secret updated in place reaches the files, which the worker reads at each connect.
    ...(tls?.caSecretRef ? [{ name: 'REDIS_TLS_CA_FILE', value: `${REDIS_CA_DIR}/ca.crt` }] : []),
    ...(tls?.certSecretRef ? [{ name: 'REDIS_TLS_CERT_FILE', value: `${REDIS_CERT_DIR}/tls.crt` }, { name: 'REDIS_TLS_KEY_FILE', value: `${REDIS_CERT_DIR}/tls.key` }] : []),
    ...(tls?.serverName !== undefined ? [{ name: 'REDIS_TLS_SERVERNAME', value: tls.serverName }] : []),
    ...(sentinel ? [{ name: 'REDIS_SENTINELS', value: sentinel.sentinels.join(',') }, { name: 'REDIS_SENTINEL_MASTER', value: sentinel.masterName }] : []),
    ...(sentinel?.passwordFrom ? [fromSecret('REDIS_SENTINEL_PASSWORD', sentinel.passwordFrom.secretKeyRef)] : []),
    ...(cluster ? [{ name: 'REDIS_CLUSTER_NODES', value: cluster.nodes.join(',') }] : []),
    { name: 'RESQUE_NAMESPACE', value: spec.redis.namespace },
    { name: 'QUEUES', value: spec.queues.join(',') },
    { name: 'CONCURRENCY', value: String(spec.worker.concurrency) },
    { name: 'JOBS_PER_CHILD', value: String(spec.worker.jobsPerChild) },
    { name: 'ISOLATION', value: spec.worker.isolation },
    { name: 'JOB_TIMEOUT_SECONDS', value: String(spec.worker.jobTimeoutSeconds) },
    { name: 'MAX_CHILD_MEMORY_MB', value: String(spec.worker.maxChildMemoryMiB) },
    { name: 'RETRY_ATTEMPTS', value: String(spec.retry.attempts) },
    { name: 'RETRY_BACKOFF_SECONDS', value: String(spec.retry.backoffSeconds) },
    // After TERM (a scale-down, a rollout) a running job may use its whole timeout before it is handed back;
    // terminationGracePeriodSeconds leaves GRACE_MARGIN_SECONDS more for that.
    { name: 'SHUTDOWN_TIMEOUT_SECONDS', value: String(spec.worker.jobTimeoutSeconds) },
    // The host part of the worker's id, by which scale-down finds a pod's jobs: the pod's name, which a
    // template cannot change (its hostname and HOSTNAME it can).
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
}

/**
 * The worker container's security context: each field the template sets (on the container, or on the
 * pod for the fields a pod can set too) as it is, and the restricted Pod Security Standard's value for
 * the others. Defaults the API server would refuse next to the template's fields are left out: a
 * privileged container, or one that adds CAP_SYS_ADMIN, may escalate privileges; a user 0 gets no runAsNonRoot.
 */
export function workerSecurityContext(container: V1SecurityContext | undefined, pod: V1PodSecurityContext | undefined): V1SecurityContext {
  const sc: V1SecurityContext = { ...container };
  const user = sc.runAsUser ?? pod?.runAsUser;
  if (user === undefined) sc.runAsUser = WORKER_UID;
  if ((sc.runAsGroup ?? pod?.runAsGroup) === undefined) sc.runAsGroup = WORKER_UID;
  if ((sc.runAsNonRoot ?? pod?.runAsNonRoot) === undefined && user !== 0) sc.runAsNonRoot = true;
  if ((sc.seccompProfile ?? pod?.seccompProfile) === undefined) sc.seccompProfile = { type: 'RuntimeDefault' };
  sc.readOnlyRootFilesystem ??= true;
  if (sc.privileged !== true) {
    const sysAdmin = (sc.capabilities?.add ?? []).some((c) => c === 'CAP_SYS_ADMIN' || c === 'SYS_ADMIN');
    if (!sysAdmin) sc.allowPrivilegeEscalation ??= false;
    if (sc.capabilities?.drop === undefined) sc.capabilities = { ...sc.capabilities, drop: ['ALL'] };
  }
  return sc;
}

/** Mounts the Secrets of spec.redis.tls read-only at REDIS_CA_DIR and REDIS_CERT_DIR (what workerEnv points to). */
function mountRedisTls(pool: JobPool, podSpec: V1PodSpec, container: V1Container): void {
  const tls = pool.spec.redis.tls;
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (tls?.caSecretRef) {
    volumes.push({ name: REDIS_CA_VOLUME, secret: { secretName: tls.caSecretRef.name, items: [{ key: tls.caSecretRef.key, path: 'ca.crt' }] } });
    mounts.push({ name: REDIS_CA_VOLUME, mountPath: REDIS_CA_DIR, readOnly: true });
  }
  if (tls?.certSecretRef) {
    volumes.push({ name: REDIS_CERT_VOLUME, secret: { secretName: tls.certSecretRef.name, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } });
    mounts.push({ name: REDIS_CERT_VOLUME, mountPath: REDIS_CERT_DIR, readOnly: true });
  }
  if (volumes.length === 0) return;
  const ours = new Set(volumes.map((v) => v.name));
  podSpec.volumes = [...(podSpec.volumes ?? []).filter((v) => !ours.has(v.name)), ...volumes];
  container.volumeMounts = [...(container.volumeMounts ?? []).filter((m) => !ours.has(m.name)), ...mounts];
}

/** Gives a container a writable /tmp (an emptyDir), unless the template mounts /tmp itself or names a volume as ours. */
function mountTmp(podSpec: V1PodSpec, container: V1Container): void {
  const mountsTmp = (container.volumeMounts ?? []).some((m) => m.mountPath.replace(/\/+$/, '') === '/tmp');
  const nameTaken = (podSpec.volumes ?? []).some((v) => v.name === TMP_VOLUME);
  if (mountsTmp || nameTaken) return;
  podSpec.volumes = [...(podSpec.volumes ?? []), { name: TMP_VOLUME, emptyDir: {} }];
  container.volumeMounts = [...(container.volumeMounts ?? []), { name: TMP_VOLUME, mountPath: '/tmp' }];
}

const asObj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});

/** Stable JSON (sorted keys) so that the hash does not depend on key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Obj)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The Deployment for a pool, for server-side apply with field manager `forkpool-operator`: it holds
 * only the fields the operator owns, so fields other managers set survive and drift in ours is undone.
 * `redisSecretHash` (of the URL read from the pool's Secret) goes on the pod template.
 */
/** What goes in REDIS_SECRET_HASH_ANNOTATION: a digest of the value, salted with the pool's uid, never the value. */
export function redisSecretHash(pool: JobPool, url: string): string {
  return createHash('sha256').update(`${pool.metadata.uid}\n${url}`).digest('hex').slice(0, 16);
}

export function desiredDeployment(pool: JobPool, replicas: number, redisSecretHash?: string): V1Deployment {
  const { spec, metadata } = pool;
  const labels = poolLabels(pool);
  const tmplMeta = asObj(spec.template.metadata);
  // The template is a PodSpec the API server validated when the Deployment is applied; the schema only checks its outline.
  const podSpec = structuredClone(spec.template.spec) as V1PodSpec;
  const containers: V1Container[] = podSpec.containers;
  const target = containers.find((c) => c.name === 'worker') ?? containers[0];
  if (target !== undefined) {
    const userEnv = (target.env ?? []).filter((e) => !(WORKER_ENV_NAMES as readonly string[]).includes(e.name));
    target.env = [...userEnv, ...workerEnv(pool)];
    // Hardened unless the template says otherwise, so that the pods pass the restricted Pod Security Standard.
    target.securityContext = workerSecurityContext(target.securityContext, podSpec.securityContext);
    if (target.securityContext.readOnlyRootFilesystem === true) mountTmp(podSpec, target);
    mountRedisTls(pool, podSpec, target);
  }
  const grace = spec.worker.jobTimeoutSeconds + GRACE_MARGIN_SECONDS;
  podSpec.terminationGracePeriodSeconds = Math.max(spec.template.spec.terminationGracePeriodSeconds ?? 0, grace);

  const podTemplate: V1PodTemplateSpec = {
    metadata: {
      ...tmplMeta,
      labels: { ...(asObj(tmplMeta['labels']) as Record<string, string>), ...labels },
      ...(redisSecretHash === undefined ? {} : { annotations: { ...(asObj(tmplMeta['annotations']) as Record<string, string>), [REDIS_SECRET_HASH_ANNOTATION]: redisSecretHash } }),
    },
    spec: podSpec,
  };
  const deploymentSpec = {
    selector: { matchLabels: { [POOL_LABEL]: metadata.name } },
    template: podTemplate,
  };
  const hash = createHash('sha256').update(canonical({ labels, deploymentSpec })).digest('hex').slice(0, 16);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      labels,
      annotations: { [SPEC_HASH_ANNOTATION]: hash },
      ownerReferences: [
        { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name: metadata.name, uid: metadata.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: { replicas, ...deploymentSpec },
  };
}

const BINARY_SUFFIXES: Record<string, bigint> = { Ki: 2n ** 10n, Mi: 2n ** 20n, Gi: 2n ** 30n, Ti: 2n ** 40n, Pi: 2n ** 50n, Ei: 2n ** 60n };
const DECIMAL_EXPONENTS: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** A Kubernetes quantity (`1000m`, `1Gi`, `0.5`, `1e3`) as an exact fraction, or undefined when it is not one. */
export function parseQuantity(text: string | number): { num: bigint; den: bigint } | undefined {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(String(text));
  if (m === null) return undefined;
  const [, sign = '', whole = '', fraction = '', exponent, suffix = ''] = m;
  let num = BigInt(`${sign}${whole}${fraction}`);
  let den = 10n ** BigInt(fraction.length);
  const binary = BINARY_SUFFIXES[suffix];
  const power = exponent !== undefined ? Number(exponent.slice(1)) : (DECIMAL_EXPONENTS[suffix] ?? 0);
  if (binary !== undefined) num *= binary;
  else if (power >= 0) num *= 10n ** BigInt(power);
  else den *= 10n ** BigInt(-power);
  return { num, den };
}

/** Whether two quantities are the same amount however written (`1000m` and `1`, `1024Mi` and `1Gi`). */
function sameQuantity(a: unknown, b: unknown): boolean {
  if ((typeof a !== 'string' && typeof a !== 'number') || (typeof b !== 'string' && typeof b !== 'number')) return false;
  const [x, y] = [parseQuantity(a), parseQuantity(b)];
  return x !== undefined && y !== undefined && x.num * y.den === y.num * x.den;
}

/** Fields whose values are quantities, by the key of their parent (resources.limits, resources.requests) or their own key. */
const QUANTITY_PARENTS: ReadonlySet<string> = new Set(['limits', 'requests', 'overhead']);
const QUANTITY_KEYS: ReadonlySet<string> = new Set(['sizeLimit']);

/** Values the API server leaves out of what it returns (Go's omitempty): absent in the live object means the same. */
function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === false || v === 0) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}

/**
 * True when every field of `desired` is present with the same value in `live` (arrays element by
 * element): live objects carry server defaults and other managers' fields, which are not drift. A
 * quantity matches the same amount however the server canonicalized it, and a zero value ('', 0,
 * false, [], {}) matches a field the server left out.
 */
export function isSubset(desired: unknown, live: unknown, key = '', parentKey = ''): boolean {
  if (live === undefined && isZero(desired)) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => isSubset(d, live[i], key, parentKey));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return Object.entries(desired).every(([k, v]) => isSubset(v, (live as Obj)[k], k, key));
  }
  if ((QUANTITY_PARENTS.has(parentKey) || QUANTITY_KEYS.has(key)) && sameQuantity(desired, live)) return true;
  // Kubernetes may render numbers as strings in int-or-string fields; compare their text.
  return desired === live || (typeof desired !== typeof live && String(desired) === String(live));
}

/**
 * Whether the live Deployment must be re-applied: missing, changed spec, drift in owned fields, or other
 * replicas. apiVersion and kind are not compared: objects of a list come without them.
 */
export function needsApply(desired: V1Deployment, live: V1Deployment | undefined): boolean {
  if (live === undefined) return true;
  return !isSubset({ metadata: desired.metadata, spec: desired.spec }, live);
}
