// The JobPool resource: one zod schema that validates objects at the API boundary and generates the CRD.
import { z } from 'zod';
import { DEFAULT_NAMESPACE } from '../../queue/src/keys.ts';

export const GROUP = 'forkpool.io';
export const VERSION = 'v1alpha1';
export const KIND = 'JobPool';
export const PLURAL = 'jobpools';
export const SINGULAR = 'jobpool';
export const SHORT_NAMES = ['jp'];

/** A Kubernetes object name (RFC 1123 label), as used for schedule names. */
const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);

const secretKeyRef = z
  .object({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
      .meta({ description: 'Name of a Secret in the JobPool\'s namespace.' }),
    key: z.string().min(1).meta({ description: 'Key in the Secret whose value is the Redis URL.' }),
  })
  .meta({ description: 'Reads the Redis URL from a key of a Secret in the same namespace.' });

const secretName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
  .meta({ description: 'Name of a Secret in the JobPool\'s namespace.' });

const valueFrom = (what: string): z.ZodType<{ secretKeyRef: { name: string; key: string } }> =>
  z
    .object({
      secretKeyRef: z
        .object({ name: secretName, key: z.string().min(1).meta({ description: `Key in the Secret whose value is ${what}.` }) })
        .meta({ description: `Reads ${what} from a key of a Secret in the same namespace.` }),
    })
    .meta({ description: `Where to read ${what} from.` });

/** The key of a CA Secret read when none is named, as cert-manager names it. */
export const DEFAULT_CA_KEY = 'ca.crt';

const redisTls = z
  .object({
    caSecretRef: z
      .object({
        name: secretName,
        key: z.string().min(1).default(DEFAULT_CA_KEY).meta({ description: 'Key in the Secret whose value is the CA bundle (PEM); "ca.crt" by default, as cert-manager writes it.' }),
      })
      .optional()
      .meta({ description: 'A Secret holding the CA bundle (PEM) the server\'s certificate must chain to, instead of the system\'s CAs. Mounted in worker pods as REDIS_TLS_CA_FILE.' }),
    certSecretRef: z
      .object({ name: secretName })
      .optional()
      .meta({ description: 'A kubernetes.io/tls Secret (tls.crt, tls.key) with the client certificate and key, for a Redis that asks for one (mutual TLS). Mounted in worker pods as REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE.' }),
    serverName: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .meta({ description: 'The name the server\'s certificate must carry (and SNI), when it is not the URL\'s host. REDIS_TLS_SERVERNAME in worker pods.' }),
  })
  .meta({ description: 'TLS beyond the rediss:// URL: whom to trust and who the client is. Needs a rediss:// URL. The server\'s certificate is always verified.' });

const redisAuth = z
  .object({
    usernameFrom: valueFrom('the ACL user name').optional(),
    passwordFrom: valueFrom('the password').optional(),
  })
  .meta({ description: 'Credentials apart from the URL (then the URL holds none): an ACL user (Redis 6+) and its password, or the password alone. REDIS_USERNAME and REDIS_PASSWORD in worker pods; docs/redis.md lists the ACL a worker and the operator need.' });

const redisSentinel = z
  .object({
    masterName: z
      .string()
      .min(1)
      .max(253)
      .meta({ description: 'The master name the sentinels know (the name in "sentinel monitor <name> ..."). REDIS_SENTINEL_MASTER in worker pods.' }),
    sentinels: z
      .array(
        z
          .string()
          .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/)
          .meta({ description: 'A sentinel\'s address, host:port (an IPv6 address in brackets).' }),
      )
      .min(1)
      .max(32)
      .meta({ description: 'The sentinels to ask for the primary, host:port each; any one that answers will do. REDIS_SENTINELS in worker pods.' }),
    passwordFrom: valueFrom('the sentinels\' own password (requirepass of the sentinels)')
      .optional()
      .meta({ description: 'The sentinels\' own password, when they have one (the primary\'s is in the URL or spec.redis.auth). REDIS_SENTINEL_PASSWORD in worker pods.' }),
  })
  .meta({
    description: 'Redis Sentinel: the workers and the operator ask these sentinels for the primary of masterName, and follow a failover to the replica they promote. The URL then gives only the scheme (rediss:// for TLS, to the sentinels too), the database and credentials; its host and port are not used.',
  });

/**
 * A namespace with a Redis Cluster hash tag (text between its first `{` and the next `}`), as hashTag() reads it.
 * Checked here, not in a CEL rule: the API server's cost estimate refuses any string function on the namespace.
 */
const CLUSTER_NAMESPACE = /^[^{]*[{][^}]+[}]/;

const redisCluster = z
  .object({
    nodes: z
      .array(
        z
          .string()
          .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/)
          .meta({ description: 'A cluster node\'s address, host:port (an IPv6 address in brackets).' }),
      )
      .min(1)
      .max(64)
      .meta({ description: 'Cluster nodes to ask which primary owns the namespace\'s slot (CLUSTER SLOTS); any one that answers will do. REDIS_CLUSTER_NODES in worker pods.' }),
  })
  .meta({
    description: 'Redis Cluster: spec.redis.namespace must carry a hash tag (e.g. "{resque}") so that all its keys live in one slot; the workers and the operator connect to the primary that owns that slot and follow a resharding or a failover to its new owner. The URL then gives only the scheme (rediss:// for TLS) and credentials; its host and port are not used, and its database must be 0.',
  });

const redis = z
  .object({
    url: z
      .string()
      .regex(/^rediss?:\/\/\S+$/)
      .optional()
      .meta({ description: 'Redis URL (redis:// or rediss://), e.g. redis://redis:6379/0. Exactly one of url and urlFrom is set.' }),
    urlFrom: z
      .object({ secretKeyRef })
      .optional()
      .meta({ description: 'Where to read the Redis URL from when it holds a password. Exactly one of url and urlFrom is set.' }),
    namespace: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^\s]+$/)
      .default(DEFAULT_NAMESPACE)
      .meta({ description: 'Key prefix of every Resque key (Resque.redis.namespace); Resque\'s default is "resque".' }),
    tls: redisTls.optional(),
    auth: redisAuth.optional(),
    sentinel: redisSentinel.optional(),
    cluster: redisCluster.optional(),
  })
  .refine((r) => (r.url === undefined) !== (r.urlFrom === undefined), {
    message: 'exactly one of spec.redis.url and spec.redis.urlFrom must be set',
  })
  .refine((r) => r.tls === undefined || r.url === undefined || r.url.startsWith('rediss://'), {
    message: 'spec.redis.tls needs a rediss:// URL',
  })
  .refine((r) => r.sentinel === undefined || r.cluster === undefined, {
    message: 'spec.redis.sentinel and spec.redis.cluster exclude each other: give one',
  })
  .refine((r) => r.cluster === undefined || CLUSTER_NAMESPACE.test(r.namespace), {
    message: 'spec.redis.cluster needs a hash-tagged spec.redis.namespace (e.g. "{resque}") so that all its keys share one slot',
  })
  .meta({
    description: 'The Redis server holding the queues.',
    'x-kubernetes-validations': [
      { rule: 'has(self.url) != has(self.urlFrom)', message: 'exactly one of spec.redis.url and spec.redis.urlFrom must be set' },
      { rule: '!has(self.tls) || !has(self.url) || self.url.startsWith(\'rediss://\')', message: 'spec.redis.tls needs a rediss:// URL' },
      { rule: '!has(self.sentinel) || !has(self.cluster)', message: 'spec.redis.sentinel and spec.redis.cluster exclude each other: give one' },
    ],
  });

const queueName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_.:-]+$/)
  .meta({ description: 'A Resque queue name (letters, digits, _ . : -).' });

const container = z
  .looseObject({
    name: z.string().min(1).meta({ description: 'Container name; the container named "worker", or else the first, gets the worker environment.' }),
    image: z.string().min(1).meta({ description: 'Image of the container; the worker\'s image is built FROM forkpool\'s worker image.' }),
    securityContext: z
      .looseObject({})
      .optional()
      .meta({
        description:
          'The container\'s security context (core/v1 SecurityContext). In the worker container, the operator sets each field left unset here ' +
          '(and, for runAsUser, runAsGroup, runAsNonRoot and seccompProfile, in the pod\'s securityContext) to the restricted Pod Security Standard\'s value: ' +
          'runAsNonRoot true, runAsUser and runAsGroup 1000 (the worker image\'s user), allowPrivilegeEscalation false, capabilities.drop [ALL], ' +
          'seccompProfile RuntimeDefault, readOnlyRootFilesystem true (then with an emptyDir volume forkpool-tmp at /tmp, unless the template mounts /tmp ' +
          'or has a volume of that name). ' +
          'A field set here always wins; a privileged container or one adding CAP_SYS_ADMIN keeps privilege escalation and its capabilities.',
      }),
  })
  .meta({ description: 'A container of the worker pod (core/v1 Container).' });

const template = z
  .looseObject({
    metadata: z
      .looseObject({
        labels: z.record(z.string(), z.string()).optional().meta({ description: 'Labels added to every worker pod.' }),
        annotations: z.record(z.string(), z.string()).optional().meta({ description: 'Annotations added to every worker pod.' }),
      })
      .optional()
      .meta({ description: 'Labels and annotations of the worker pods.' }),
    spec: z
      .looseObject({
        containers: z.array(container).min(1).meta({ description: 'The pod\'s containers; one of them runs forkpool-worker.' }),
        terminationGracePeriodSeconds: z
          .int()
          .min(0)
          .optional()
          .meta({ description: 'Raised by the operator to at least jobTimeoutSeconds + 30 so that a scale-down lets running jobs finish.' }),
      })
      .meta({ description: 'The worker pod\'s spec (core/v1 PodSpec).' }),
  })
  .meta({
    description:
      'The pod template of the worker pods (core/v1 PodTemplateSpec), as in a Deployment. The worker container gets a hardened security context ' +
      'where the template leaves it unset (see containers[].securityContext), so that the pods pass the restricted Pod Security Standard.',
  });

const worker = z
  .object({
    concurrency: z.int().min(1).max(256).default(1).meta({ description: 'Jobs one pod runs at once, each in a child process of its own.' }),
    jobsPerChild: z.int().min(1).max(1_000_000).default(1).meta({ description: 'Jobs a child process runs before it exits; 1 gives every job a fresh process.' }),
    isolation: z.enum(['spawn', 'fork']).default('spawn').meta({ description: 'How children start: spawn (portable) or fork (a zygote forks a copy-on-write child per job).' }),
    jobTimeoutSeconds: z.int().min(1).max(86_400).default(300).meta({ description: 'A job running longer is killed and recorded as failed; the pods\' termination grace period covers it.' }),
    maxChildMemoryMiB: z.int().min(16).max(1_048_576).default(512).meta({ description: 'A child using more memory (MiB) is killed and its job recorded as failed.' }),
  })
  .prefault({})
  .meta({ description: 'How each worker pod runs jobs.' });

const fallback = z
  .object({
    failureThreshold: z.int().min(1).max(10_000).meta({ description: 'Polls in a row that fail to read Redis before the fallback applies.' }),
    replicas: z.int().min(0).max(10_000).meta({ description: 'Worker pods while Redis cannot be read (within minReplicas..maxReplicas). It raises the pool, never lowers it: without Redis busy pods cannot be told from idle ones.' }),
  })
  .meta({ description: 'What to do when Redis cannot be read, as KEDA\'s fallback: after failureThreshold failed polls in a row, scale to replicas. Without it the pool holds its size.' });

const scalingPolicy = z
  .object({
    type: z.enum(['Pods', 'Percent']).meta({ description: 'Pods: value is a number of pods; Percent: value is a percentage of the size at the start of the period.' }),
    value: z.int().min(1).max(10_000).meta({ description: 'How much the size may change within periodSeconds.' }),
    periodSeconds: z.int().min(1).max(1800).meta({ description: 'The period the policy counts changes over, in seconds.' }),
  })
  .meta({ description: 'A limit on the rate of change, as the HorizontalPodAutoscaler\'s HPAScalingPolicy.' });

const selectPolicy = (direction: 'up' | 'down'): z.ZodDefault<z.ZodEnum<{ Max: 'Max'; Min: 'Min'; Disabled: 'Disabled' }>> =>
  z
    .enum(['Max', 'Min', 'Disabled'])
    .default('Max')
    .meta({ description: `Which policy applies when several do: Max the one allowing the largest change (the default), Min the smallest, Disabled no scale-${direction} at all.` });

const policies = (direction: 'up' | 'down'): z.ZodDefault<z.ZodArray<typeof scalingPolicy>> =>
  z.array(scalingPolicy).max(10).default([]).meta({ description: `Limits on the rate of scale-${direction}; none (the default) lets the pool go to the recommendation in one step.` });

const behavior = z
  .object({
    scaleUp: z
      .object({
        stabilizationWindowSeconds: z
          .int()
          .min(0)
          .max(3600)
          .default(0)
          .meta({ description: 'Seconds of past recommendations whose lowest one caps a scale-up; 0 (the default) scales up at once.' }),
        selectPolicy: selectPolicy('up'),
        policies: policies('up'),
      })
      .prefault({})
      .meta({ description: 'How the pool scales up, as the HorizontalPodAutoscaler\'s HPAScalingRules.' }),
    scaleDown: z
      .object({
        stabilizationWindowSeconds: z
          .int()
          .min(0)
          .max(86_400)
          .optional()
          .meta({ description: 'Seconds of past recommendations whose highest one floors a scale-down; scaleDownDelaySeconds when not set.' }),
        selectPolicy: selectPolicy('down'),
        policies: policies('down'),
      })
      .prefault({})
      .meta({ description: 'How the pool scales down, as the HorizontalPodAutoscaler\'s HPAScalingRules.' }),
  })
  .prefault({})
  .meta({ description: 'How fast the pool changes size, as the HorizontalPodAutoscaler\'s behavior. The defaults scale up at once and down after scaleDownDelaySeconds, in one step each.' });

const scaling = z
  .object({
    minReplicas: z.int().min(0).max(10_000).default(0).meta({ description: 'Fewest worker pods; 0 scales to zero when nothing waits and nothing runs.' }),
    maxReplicas: z.int().min(1).max(10_000).default(10).meta({ description: 'Most worker pods.' }),
    jobsPerReplica: z.int().min(1).max(1_000_000).default(10).meta({ description: 'Jobs (waiting plus in flight) one pod is expected to absorb: desired = ceil(jobs / jobsPerReplica). With targetWaitSeconds, used only until job durations have been reported.' }),
    targetWaitSeconds: z
      .number()
      .min(0.1)
      .max(86_400)
      .optional()
      .meta({
        description:
          'Size the pool so that a new job is expected to wait at most this long before it starts: the operator estimates the arrival rate and the job duration ' +
          'from the counters the workers keep in Redis and keeps the replicas a queueing model needs (M/M/c, and the backlog that can build before the next poll takes effect). Unset: jobsPerReplica sizes the pool.',
      }),
    pollIntervalSeconds: z.int().min(1).max(300).default(2).meta({ description: 'How often the operator reads the queue depths.' }),
    scaleDownDelaySeconds: z
      .int()
      .min(0)
      .max(86_400)
      .default(60)
      .meta({ description: 'How long demand must stay lower before the pool scales down: the scale-down stabilization window unless behavior.scaleDown.stabilizationWindowSeconds is set.' }),
    fallback: fallback.optional(),
    behavior,
  })
  .refine((s) => s.minReplicas <= s.maxReplicas, { message: 'spec.scaling.minReplicas must not exceed spec.scaling.maxReplicas' })
  .prefault({})
  .meta({
    description: 'How the operator sizes the pool from the depth of its queues.',
    'x-kubernetes-validations': [
      { rule: 'self.minReplicas <= self.maxReplicas', message: 'spec.scaling.minReplicas must not exceed spec.scaling.maxReplicas' },
    ],
  });

const retry = z
  .object({
    attempts: z.int().min(0).max(100).default(3).meta({ description: 'Times a failed job is retried before it goes to the failed list; 0 disables retries.' }),
    backoffSeconds: z.int().min(0).max(86_400).default(15).meta({ description: 'First retry delay; each further retry doubles it (through the delayed set).' }),
  })
  .prefault({})
  .meta({ description: 'Retries of failed jobs.' });

const schedule = z
  .object({
    name: dnsLabel.meta({ description: 'Name of the schedule, unique in the pool.' }),
    cron: z
      .string()
      .regex(/^\s*\S+(\s+\S+){4,5}\s*$/)
      .meta({ description: 'Cron expression, 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first.' }),
    timeZone: z.string().min(1).default('UTC').meta({ description: 'IANA time zone the cron expression is read in, e.g. Europe/Berlin.' }),
    queue: queueName.meta({ description: 'Queue the job is enqueued into.' }),
    class: z.string().min(1).meta({ description: 'Job class name, e.g. DigestJob or Reports::Daily.' }),
    args: z.array(z.unknown()).default([]).meta({ description: 'Arguments passed to the job\'s perform, any JSON values.' }),
    startingDeadlineSeconds: z
      .int()
      .min(0)
      .max(31_536_000)
      .default(300)
      .meta({
        description:
          'How late a fire time may still be enqueued, as a CronJob\'s: fire times missed while no operator led (an outage, a restart) are enqueued once each, oldest first, ' +
          'if they are at most this old; older ones are skipped and counted in a MissedSchedule Warning Event. The scheduler looks every second: below a few seconds, fires may be skipped.',
      }),
    suspend: z
      .boolean()
      .default(false)
      .meta({ description: 'While true nothing is enqueued; on resume, fire times missed while suspended are enqueued only within startingDeadlineSeconds, as a CronJob\'s.' }),
  })
  .meta({
    description:
      'A cron schedule: at each fire time the operator\'s leader enqueues one job. A fire time is enqueued at most once, even across a leader change; one missed ' +
      'while no operator led is enqueued late within startingDeadlineSeconds, else skipped and reported.',
  });

export const jobPoolSpecSchema = z
  .object({
    redis,
    queues: z
      .array(queueName)
      .min(1)
      .max(100)
      .meta({ description: 'Queues the workers take jobs from, in priority order (Resque\'s QUEUE=critical,mailers).' }),
    template,
    worker,
    scaling,
    retry,
    replicas: z
      .int()
      .min(0)
      .max(10_000)
      .optional()
      .meta({ description: 'Fixed number of worker pods, set by `kubectl scale`, an HPA or KEDA through the scale subresource; while set, queue-depth autoscaling is off. Remove it to autoscale again.' }),
    schedules: z
      .array(schedule)
      .max(100)
      .default([])
      .meta({ description: 'Cron schedules run by the operator\'s leader (resque-scheduler\'s schedule).', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
  })
  .meta({ description: 'The desired state of the worker pool.' });

const condition = z
  .object({
    type: z.string().meta({ description: 'Condition type: Ready, RedisReachable or Scaling.' }),
    status: z.enum(['True', 'False', 'Unknown']).meta({ description: 'True, False or Unknown.' }),
    observedGeneration: z.int().optional().meta({ description: 'The .metadata.generation the condition was computed from.' }),
    lastTransitionTime: z.string().meta({ description: 'When the status last changed (RFC 3339).', format: 'date-time' }),
    reason: z.string().meta({ description: 'Why, in CamelCase, for programs.' }),
    message: z.string().meta({ description: 'Why, for people.' }),
  })
  .meta({ description: 'An observation of the pool\'s state (metav1.Condition).' });

const autoscaling = z
  .object({
    targetWaitSeconds: z.number().meta({ description: 'spec.scaling.targetWaitSeconds the estimates are used for.' }),
    arrivalPerSecond: z.number().nullable().optional().meta({ description: 'Jobs arriving per second, smoothed (jobs finished + change of depth and in-flight over each poll).' }),
    servicePerSecondPerReplica: z.number().nullable().optional().meta({ description: 'Jobs one replica finishes per second when busy (concurrency / mean job duration).' }),
    expectedWaitSeconds: z.number().nullable().optional().meta({ description: 'Expected wait of a new job with the desired replicas, as the queueing model gives it; absent while there are none for the jobs arriving or nothing is estimated yet.' }),
  })
  .meta({ description: 'The estimates behind spec.scaling.targetWaitSeconds.' });

const queueStatus = z
  .object({
    name: z.string().meta({ description: 'Queue name.' }),
    waiting: z.int().meta({ description: 'Jobs waiting in the queue.' }),
    inFlight: z.int().meta({ description: 'Jobs of this queue held by workers.' }),
  })
  .meta({ description: 'Depth of one queue.' });

export const jobPoolStatusSchema = z
  .object({
    observedGeneration: z.int().optional().meta({ description: 'The .metadata.generation this status was computed from.' }),
    replicas: z.int().optional().meta({ description: 'Worker pods that exist (the Deployment\'s status.replicas).' }),
    readyReplicas: z.int().optional().meta({ description: 'Worker pods that are ready.' }),
    desiredReplicas: z.int().optional().meta({ description: 'Worker pods the operator asks for.' }),
    queueDepth: z.int().optional().meta({ description: 'Jobs waiting in all the pool\'s queues.' }),
    inFlight: z.int().optional().meta({ description: 'Jobs of the pool\'s queues held by workers.' }),
    queues: z.array(queueStatus).optional().meta({ description: 'Depth per queue.' }),
    // null only in a status patch: it removes what no longer applies (a merge patch keeps what it leaves out).
    autoscaling: autoscaling.nullable().optional(),
    lastScaleTime: z.string().optional().meta({ description: 'When the operator last changed the number of replicas (RFC 3339).', format: 'date-time' }),
    selector: z.string().optional().meta({ description: 'Label selector of the worker pods, for the scale subresource.' }),
    conditions: z
      .array(condition)
      .optional()
      .meta({ description: 'Ready, RedisReachable and Scaling.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  })
  .meta({ description: 'The observed state of the worker pool, written by the operator.' });

export type JobPoolSpec = z.output<typeof jobPoolSpecSchema>;
export type JobPoolSpecInput = z.input<typeof jobPoolSpecSchema>;
export type JobPoolStatus = z.output<typeof jobPoolStatusSchema>;
export type Condition = z.output<typeof condition>;
export type QueueStatus = z.output<typeof queueStatus>;
export type AutoscalingStatus = z.output<typeof autoscaling>;
export type Schedule = z.output<typeof schedule>;

/** The object metadata the operator relies on. */
export const objectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string(),
  uid: z.string(),
  generation: z.int().default(1),
  resourceVersion: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** Stops autoscaling while it is "true", as KEDA's autoscaling.keda.sh/paused. */
export const PAUSED_ANNOTATION = 'forkpool.io/paused';
/** The size a paused pool is set to (and, set alone, pauses it too), as KEDA's paused-replicas. */
export const PAUSED_REPLICAS_ANNOTATION = 'forkpool.io/paused-replicas';

/**
 * Whether a pool is paused and at which size: undefined when not paused; `replicas` undefined holds the
 * size (also when paused-replicas is not a whole number: a typo must not scale the pool).
 */
export function pauseOf(annotations: Record<string, string> | undefined): { replicas: number | undefined } | undefined {
  const paused = annotations?.[PAUSED_ANNOTATION];
  const replicas = annotations?.[PAUSED_REPLICAS_ANNOTATION];
  if (paused !== 'true' && replicas === undefined) return undefined;
  return { replicas: replicas !== undefined && /^\d{1,5}$/.test(replicas.trim()) ? Number(replicas.trim()) : undefined };
}

/** A JobPool as read from the API server (custom objects come back untyped). */
export const jobPoolSchema = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: objectMetaSchema,
  spec: jobPoolSpecSchema,
  status: jobPoolStatusSchema.optional(),
});
export type JobPool = z.output<typeof jobPoolSchema>;

/** A parse failure as one line naming the fields, e.g. `spec.scaling.maxReplicas: Too small: expected number to be >=1`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Parses an untyped JobPool; a value that does not fit is an error naming the field. */
export function parseJobPool(obj: unknown): { ok: true; pool: JobPool } | { ok: false; error: string } {
  const result = jobPoolSchema.safeParse(obj);
  return result.success ? { ok: true, pool: result.data } : { ok: false, error: describeIssues(result.error) };
}

/** `namespace/name`, the work-queue key of a pool. */
export function poolKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
