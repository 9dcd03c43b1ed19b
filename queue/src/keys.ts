// Redis key names: Resque's and resque-scheduler's exactly, plus forkpool's own under `<ns>:forkpool:`.

/** Resque's default key prefix (redis-namespace `resque`). */
export const DEFAULT_NAMESPACE = 'resque';

/** Every key forkpool reads or writes, for one namespace. */
export interface Keys {
  readonly namespace: string;
  /** set of queue names */
  readonly queues: string;
  /** list of job payloads, RPUSH to enqueue, taken from the left */
  queue(name: string): string;
  /** set of registered worker ids (`host:pid:q1,q2`) */
  readonly workers: string;
  /** the job a worker is running, `{"queue","run_at","payload"}` */
  worker(id: string): string;
  /** when a worker started, Resque's `%Y-%m-%d %H:%M:%S %z` */
  workerStarted(id: string): string;
  /** hash worker id -> last heartbeat, ISO 8601 */
  readonly heartbeats: string;
  /** global counter (`processed`, `failed`) */
  stat(name: 'processed' | 'failed'): string;
  /** per-worker counter */
  workerStat(name: 'processed' | 'failed', id: string): string;
  /** list of failure records */
  readonly failed: string;
  /** resque-scheduler: zset of timestamps (seconds) that have delayed jobs */
  readonly delayedSchedule: string;
  /** resque-scheduler: list of jobs due at one timestamp */
  delayed(timestamp: number | string): string;
  /** resque-scheduler: set of `delayed:<ts>` entries holding one payload (given as a Buffer, its exact bytes) */
  timestamps(payload: string): string;
  timestamps(payload: Buffer): Buffer;
  /** forkpool: hash field -> `<taken_at ms>:<queue length>:<queue>:<payload>`, the jobs a worker holds */
  inflight(id: string): string;
  /** the prefix of every in-flight hash, for scans */
  readonly inflightPrefix: string;
  /** forkpool: zset worker id -> last heartbeat in ms since the epoch (Redis server time) */
  readonly alive: string;
  /** forkpool: hash queue -> number of its jobs held in flight by workers (kept by the Lua scripts) */
  readonly running: string;
  /** forkpool: hash payload SHA-1 -> times the job was recovered from a worker that did not finish it */
  readonly recoveries: string;
  /** forkpool: fire times already enqueued by the cron scheduler (`name` -> last fire ms) */
  readonly scheduleFired: string;
  /**
   * forkpool: hash of counters per queue, kept by finish.lua: `processed:<queue>` (jobs finished) and
   * `busy_ms:<queue>` (their run time summed, ms). The operator estimates arrival and service rates from them.
   */
  readonly queueStats: string;
}

/** The fields of `queueStats` for one queue. */
export function queueStatFields(queue: string): { processed: string; busyMs: string } {
  return { processed: `processed:${queue}`, busyMs: `busy_ms:${queue}` };
}

/** The key names for a namespace (Resque's `Resque.redis.namespace`). */
export function keys(namespace: string = DEFAULT_NAMESPACE): Keys {
  const ns = namespace;
  const own = `${ns}:forkpool`;
  const timestampsPrefix = `${ns}:timestamps:`;
  function timestamps(payload: string): string;
  function timestamps(payload: Buffer): Buffer;
  function timestamps(payload: string | Buffer): string | Buffer {
    return typeof payload === 'string' ? `${timestampsPrefix}${payload}` : Buffer.concat([Buffer.from(timestampsPrefix), payload]);
  }
  return {
    namespace: ns,
    queues: `${ns}:queues`,
    queue: (name) => `${ns}:queue:${name}`,
    workers: `${ns}:workers`,
    worker: (id) => `${ns}:worker:${id}`,
    workerStarted: (id) => `${ns}:worker:${id}:started`,
    heartbeats: `${ns}:workers:heartbeat`,
    stat: (name) => `${ns}:stat:${name}`,
    workerStat: (name, id) => `${ns}:stat:${name}:${id}`,
    failed: `${ns}:failed`,
    delayedSchedule: `${ns}:delayed_queue_schedule`,
    delayed: (timestamp) => `${ns}:delayed:${timestamp}`,
    timestamps,
    inflight: (id) => `${own}:inflight:${id}`,
    inflightPrefix: `${own}:inflight:`,
    alive: `${own}:alive`,
    running: `${own}:running`,
    recoveries: `${own}:recoveries`,
    scheduleFired: `${own}:schedule:fired`,
    queueStats: `${own}:qstats`,
  };
}
