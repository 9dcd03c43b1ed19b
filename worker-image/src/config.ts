// forkpool-worker's configuration, read from the environment as Resque reads QUEUE, COUNT and friends.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../queue/src/payload.ts';
import { redisTargetFromEnv, withClusterNamespace, type RedisTarget } from '../../queue/src/redis-connection.ts';
import { DEFAULT_MAX_RECOVERIES } from '../../queue/src/scripts.ts';
import { newStartId } from '../../queue/src/worker-id.ts';

const int = (name: string, def: number, min: number): z.ZodType<number> =>
  z.string().optional().transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      ctx.addIssue({ code: 'custom', message: `${name} must be an integer >= ${min}, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  });

const Env = z.object({
  RESQUE_NAMESPACE: z.string().min(1).default('resque'),
  QUEUES: z.string().default('*').transform((v, ctx) => {
    const list = v.split(',').map((q) => q.trim()).filter(Boolean);
    if (list.length === 0 || list.some((q) => /\s/.test(q))) {
      ctx.addIssue({ code: 'custom', message: `QUEUES must be a comma list of queue names or *, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return list;
  }),
  JOBS_DIR: z.string().default('./jobs'),
  CONCURRENCY: int('CONCURRENCY', 1, 1),
  JOBS_PER_CHILD: int('JOBS_PER_CHILD', 1, 1),
  ISOLATION: z.enum(['spawn', 'fork'], { message: 'ISOLATION must be spawn or fork' }).default('spawn'),
  JOB_TIMEOUT_SECONDS: int('JOB_TIMEOUT_SECONDS', 300, 1),
  MAX_CHILD_MEMORY_MB: int('MAX_CHILD_MEMORY_MB', 0, 0),
  MAX_PAYLOAD_BYTES: int('MAX_PAYLOAD_BYTES', DEFAULT_MAX_PAYLOAD_BYTES, 1),
  RETRY_ATTEMPTS: int('RETRY_ATTEMPTS', 0, 0),
  RETRY_BACKOFF_SECONDS: int('RETRY_BACKOFF_SECONDS', 15, 0),
  SHUTDOWN_TIMEOUT_SECONDS: int('SHUTDOWN_TIMEOUT_SECONDS', 25, 0),
  CHILD_TERM_GRACE_SECONDS: int('CHILD_TERM_GRACE_SECONDS', 5, 0),
  HEARTBEAT_INTERVAL_SECONDS: int('HEARTBEAT_INTERVAL_SECONDS', 5, 1),
  HEARTBEAT_TIMEOUT_SECONDS: int('HEARTBEAT_TIMEOUT_SECONDS', 30, 2),
  MAX_RECOVERIES: int('MAX_RECOVERIES', DEFAULT_MAX_RECOVERIES, 0),
  DELAYED_POLL_SECONDS: int('DELAYED_POLL_SECONDS', 1, 0),
  PORT: int('PORT', 9100, 0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    message: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
  }).default('info'),
  POD_NAME: z.string().optional(),
  HOSTNAME: z.string().optional(),
  FORKPOOL_START_ID: z.string().regex(/^[0-9A-Za-z]{1,32}$/, { message: 'FORKPOOL_START_ID must be 1 to 32 letters and digits' }).optional(),
});

/** The worker's settings, validated. */
export interface WorkerConfig {
  /** REDIS_URL and the other REDIS_* variables (see redis-connection.ts) */
  readonly redis: RedisTarget;
  readonly namespace: string;
  /** queue names in priority order; `['*']` means every queue, alphabetically, as Resque does */
  readonly queues: readonly string[];
  readonly jobsDir: string;
  readonly concurrency: number;
  readonly jobsPerChild: number;
  readonly isolation: 'spawn' | 'fork';
  readonly jobTimeoutMs: number;
  /** 0: no cap */
  readonly maxChildMemoryMb: number;
  /** a job whose payload is larger (bytes of UTF-8) fails as Forkpool::PayloadTooLarge without being parsed */
  readonly maxPayloadBytes: number;
  readonly retryAttempts: number;
  readonly retryBackoffSeconds: number;
  readonly shutdownTimeoutMs: number;
  /** a child stopped at shutdown gets SIGTERM, then SIGKILL this long after (Resque's RESQUE_TERM_TIMEOUT);
   * 0: SIGKILL at once */
  readonly childTermGraceMs: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  /** how often a job may be recovered from a worker that died running it before it is recorded as a failure */
  readonly maxRecoveries: number;
  /** 0: this worker does not move due delayed jobs */
  readonly delayedPollMs: number;
  readonly port: number;
  readonly logLevel: string;
  readonly hostname: string;
  /** this start of the process, in its worker id (see formatWorkerId); random unless given */
  readonly startId: string;
}

/** Reads the configuration; a bad value throws an error whose message names the variable. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = Env.safeParse(env);
  const redis = redisTargetFromEnv(env);
  if (!parsed.success || redis.problems) {
    const lines = [
      ...(redis.problems ?? []),
      ...(parsed.error?.issues ?? []).map((i) => (i.path.length > 0 && !i.message.startsWith(String(i.path[0])) ? `${String(i.path[0])}: ${i.message}` : i.message)),
    ];
    throw new Error(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.HEARTBEAT_TIMEOUT_SECONDS <= e.HEARTBEAT_INTERVAL_SECONDS) {
    throw new Error(`invalid configuration:\n  HEARTBEAT_TIMEOUT_SECONDS (${e.HEARTBEAT_TIMEOUT_SECONDS}) must be greater than HEARTBEAT_INTERVAL_SECONDS (${e.HEARTBEAT_INTERVAL_SECONDS})`);
  }
  let target: RedisTarget;
  try {
    target = withClusterNamespace(redis.target, e.RESQUE_NAMESPACE);
  } catch (err) {
    throw new Error(`invalid configuration:\n  REDIS_CLUSTER_NODES: ${(err as Error).message}`, { cause: err });
  }
  return {
    redis: target,
    namespace: e.RESQUE_NAMESPACE,
    queues: e.QUEUES,
    jobsDir: resolve(e.JOBS_DIR),
    concurrency: e.CONCURRENCY,
    jobsPerChild: e.JOBS_PER_CHILD,
    isolation: e.ISOLATION,
    jobTimeoutMs: e.JOB_TIMEOUT_SECONDS * 1000,
    maxChildMemoryMb: e.MAX_CHILD_MEMORY_MB,
    maxPayloadBytes: e.MAX_PAYLOAD_BYTES,
    retryAttempts: e.RETRY_ATTEMPTS,
    retryBackoffSeconds: e.RETRY_BACKOFF_SECONDS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    childTermGraceMs: e.CHILD_TERM_GRACE_SECONDS * 1000,
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_SECONDS * 1000,
    heartbeatTimeoutMs: e.HEARTBEAT_TIMEOUT_SECONDS * 1000,
    maxRecoveries: e.MAX_RECOVERIES,
    delayedPollMs: e.DELAYED_POLL_SECONDS * 1000,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    // The pod's name (the downward API) first: a pod template can change HOSTNAME, not the pod's name.
    hostname: e.POD_NAME ?? e.HOSTNAME ?? hostname(),
    startId: e.FORKPOOL_START_ID ?? newStartId(),
  };
}
