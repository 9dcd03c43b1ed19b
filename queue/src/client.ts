// The queue client: what an application (or the CLI, the operator, the dashboard) does with a Resque Redis.
import type { Redis } from 'ioredis';
import { ForkpoolError, PayloadTooLargeError } from './errors.ts';
import { keys as keyNames, DEFAULT_NAMESPACE, type Keys } from './keys.ts';
import { createRedis, DEFAULT_REDIS_URL, RedisTarget } from './redis-connection.ts';
import { redisOptions } from './redis-options.ts';
import {
  DEFAULT_MAX_PAYLOAD_BYTES, encodeDelayed, encodePayload, FailureRecord, formatFailedAt, JobPayload, RunningJob,
} from './payload.ts';
import { memberText, withMembers } from './json-text.ts';
import { parseWorkerId } from './worker-id.ts';

export interface ClientOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379/0` (default) */
  readonly url?: string;
  /**
   * which Redis and how to get in when a URL is not enough (a CA bundle, an ACL user apart from the URL,
   * Sentinel): instead of `url`, as the worker reads it from REDIS_* (see redisTargetFromEnv)
   */
  readonly target?: RedisTarget;
  /** key prefix, Resque's `resque` by default */
  readonly namespace?: string;
  /** an existing connection to use instead of opening one (it is not closed by `close()`) */
  readonly redis?: Redis;
  /**
   * the largest payload to enqueue, in bytes of UTF-8 (default 16 MiB, as the worker's MAX_PAYLOAD_BYTES):
   * a larger one is refused with a PayloadTooLargeError
   */
  readonly maxPayloadBytes?: number;
}

/** One item of the failed list, with its index; `record` is absent when the item is unreadable. */
export interface FailedItem {
  readonly index: number;
  readonly raw: string;
  readonly record: FailureRecord | undefined;
  /** why the item could not be read, when it could not */
  readonly problem: string | undefined;
}

/** One item of a queue or of the delayed set. */
export interface QueuedItem {
  readonly raw: string;
  readonly payload: JobPayload | undefined;
  readonly problem: string | undefined;
}

export interface DelayedItem extends QueuedItem {
  /** when it is due, seconds since the epoch */
  readonly timestamp: number;
}

/** A registered worker, as Resque registers them (`host:pid:queues`; forkpool's `host:pid-start:queues`). */
export interface WorkerInfo {
  readonly id: string;
  readonly host: string;
  /** the process id (of its PID namespace) */
  readonly pid: number;
  /** which start of the process (forkpool workers; undefined for Ruby workers) */
  readonly start: string | undefined;
  readonly queues: readonly string[];
  readonly started: string | undefined;
  readonly heartbeat: string | undefined;
  /** the job it runs now, or undefined when idle */
  readonly job: RunningJob | undefined;
  /** jobs it holds in flight (forkpool workers; 0 for Ruby workers) */
  readonly inFlight: number;
}

export interface Stats {
  readonly processed: number;
  readonly failed: number;
  readonly queues: number;
  readonly workers: number;
  readonly working: number;
  /** jobs waiting in all queues */
  readonly pending: number;
  /** jobs held in flight by forkpool workers */
  readonly inFlight: number;
  readonly delayed: number;
}

/** The forkpool client for one Redis and namespace. */
export interface ForkpoolClient {
  readonly keys: Keys;
  readonly redis: Redis;
  /** Appends a job to a queue exactly as `Resque.enqueue` does. A payload over `maxPayloadBytes` throws a PayloadTooLargeError. */
  enqueue(queue: string, className: string, ...args: unknown[]): Promise<void>;
  /** Schedules a job for a time, in resque-scheduler's delayed format (and limit, as `enqueue`). */
  enqueueAt(at: Date, queue: string, className: string, ...args: unknown[]): Promise<void>;
  /** Schedules a job in `seconds` from now. */
  enqueueIn(seconds: number, queue: string, className: string, ...args: unknown[]): Promise<void>;
  /** Queue names, sorted. */
  queues(): Promise<string[]>;
  /** Waiting jobs per queue (every queue in the set, plus any named). */
  queueSizes(names?: readonly string[]): Promise<Record<string, number>>;
  /** Jobs waiting in a queue, from `start`. */
  peek(queue: string, start?: number, count?: number): Promise<QueuedItem[]>;
  /** Removes a queue and its jobs. */
  removeQueue(queue: string): Promise<void>;
  readonly failed: {
    count(): Promise<number>;
    list(start?: number, count?: number): Promise<FailedItem[]>;
    /** Re-enqueues a failure as Resque::Failure.requeue does: marks it `retried_at`, pushes the payload back. */
    retry(index: number): Promise<void>;
    /** Removes one failure by index, as Resque::Failure.remove does. */
    remove(index: number): Promise<void>;
    /** Removes every failure. */
    clear(): Promise<number>;
  };
  readonly delayed: {
    count(): Promise<number>;
    list(start?: number, count?: number): Promise<DelayedItem[]>;
  };
  workers(): Promise<WorkerInfo[]>;
  stats(): Promise<Stats>;
  /** Closes the connection this client opened. */
  close(): Promise<void>;
}

const QUEUE_NAME = /^[^\s]+$/;

function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !QUEUE_NAME.test(value)) {
    throw new ForkpoolError('invalid-argument', `${what} must be a non-empty string without spaces, got ${JSON.stringify(value)}`);
  }
  return value;
}

function checkIndex(index: unknown): number {
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) {
    throw new ForkpoolError('invalid-argument', `index must be a non-negative integer, got ${JSON.stringify(index)}`);
  }
  return index;
}

function readItem(raw: string): QueuedItem {
  try {
    const parsed = JobPayload.safeParse(JSON.parse(raw));
    if (parsed.success) return { raw, payload: parsed.data, problem: undefined };
    return { raw, payload: undefined, problem: parsed.error.issues.map((i) => i.message).join('; ') };
  } catch (err) {
    return { raw, payload: undefined, problem: `not valid JSON: ${(err as Error).message}` };
  }
}

function readFailure(raw: string, index: number): FailedItem {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return { index, raw, record: undefined, problem: `not valid JSON: ${(err as Error).message}` };
  }
  const parsed = FailureRecord.safeParse(data);
  return parsed.success
    ? { index, raw, record: parsed.data, problem: undefined }
    : { index, raw, record: undefined, problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}

/**
 * What Resque::Failure.requeue enqueues for a failure: its payload's `{"class","args"}`, their text as recorded
 * (numbers keep their digits). A payload recorded as a string (one too large to run) is the payload's text.
 * Undefined when the failure holds no job payload.
 */
function requeuedPayload(failureRaw: string, payload: unknown): string | undefined {
  const recordedAsText = typeof payload === 'string';
  const text = recordedAsText ? payload : memberText(failureRaw, 'payload');
  if (text === undefined || !JobPayload.safeParse(recordedAsText ? jsonOrUndefined(text) : payload).success) return undefined;
  // JobPayload found an object with a class in it, so its text has one.
  return `{"class":${memberText(text, 'class') ?? ''},"args":${memberText(text, 'args') ?? '[]'}}`;
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseRunning(raw: string | null): RunningJob | undefined {
  if (!raw) return undefined;
  try {
    const parsed = RunningJob.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const toInt = (v: string | null | undefined): number => (v ? Number.parseInt(v, 10) || 0 : 0);

/** The target of a client's own connection: `target`, or `url` alone, checked. */
function parseTarget(options: ClientOptions): RedisTarget {
  if (options.target !== undefined && options.url !== undefined) throw new ForkpoolError('invalid-argument', 'give createClient a url or a target, not both');
  const parsed = RedisTarget.safeParse(options.target ?? { url: options.url ?? DEFAULT_REDIS_URL });
  if (parsed.success) return parsed.data;
  throw new ForkpoolError('invalid-argument', `createClient: ${parsed.error.issues.map((i) => `${['target', ...i.path].join('.')}: ${i.message}`).join('; ')}`);
}

/** Creates a client. It connects lazily on first use. */
export function createClient(options: ClientOptions = {}): ForkpoolClient {
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1) {
    throw new ForkpoolError('invalid-argument', `maxPayloadBytes must be a positive integer, got ${JSON.stringify(maxPayloadBytes)}`);
  }
  const ownConnection = !options.redis;
  const redis = options.redis ?? createRedis(parseTarget(options), redisOptions({ lazyConnect: true, maxRetriesPerRequest: 3 }));
  // Commands reject with the connection error; the event would only repeat it on stderr.
  if (ownConnection) redis.on('error', () => undefined);
  const k = keyNames(options.namespace ?? DEFAULT_NAMESPACE);
  /** The item, unless it is over the limit: then nothing is written. */
  const sized = (what: string, item: string): string => {
    const bytes = Buffer.byteLength(item);
    if (bytes > maxPayloadBytes) throw new PayloadTooLargeError(what, bytes, maxPayloadBytes);
    return item;
  };

  const enqueueAt = async (at: Date, queue: string, className: string, ...args: unknown[]): Promise<void> => {
    checkName('queue', queue);
    checkName('class name', className);
    if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new ForkpoolError('invalid-argument', 'enqueueAt needs a valid Date');
    const ts = Math.floor(at.getTime() / 1000);
    const item = sized(`enqueueAt ${className} on ${queue}`, encodeDelayed(className, args, queue));
    await redis.multi()
      .rpush(k.delayed(ts), item)
      .sadd(k.timestamps(item), `delayed:${ts}`)
      .zadd(k.delayedSchedule, ts, String(ts))
      .exec();
  };

  const client: ForkpoolClient = {
    keys: k,
    redis,
    async enqueue(queue, className, ...args) {
      checkName('queue', queue);
      checkName('class name', className);
      const item = sized(`enqueue ${className} on ${queue}`, encodePayload(className, args));
      await redis.multi().sadd(k.queues, queue).rpush(k.queue(queue), item).exec();
    },
    enqueueAt,
    async enqueueIn(seconds, queue, className, ...args) {
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
        throw new ForkpoolError('invalid-argument', `enqueueIn needs a non-negative number of seconds, got ${JSON.stringify(seconds)}`);
      }
      await enqueueAt(new Date(Date.now() + seconds * 1000), queue, className, ...args);
    },
    async queues() {
      return (await redis.smembers(k.queues)).sort();
    },
    async queueSizes(names = []) {
      const all = [...new Set([...(await redis.smembers(k.queues)), ...names])].sort();
      const pipe = redis.pipeline();
      for (const q of all) pipe.llen(k.queue(q));
      const res = (await pipe.exec()) ?? [];
      return Object.fromEntries(all.map((q, i) => [q, Number(res[i]?.[1] ?? 0)]));
    },
    async peek(queue, start = 0, count = 20) {
      checkName('queue', queue);
      return (await redis.lrange(k.queue(queue), start, start + count - 1)).map(readItem);
    },
    async removeQueue(queue) {
      checkName('queue', queue);
      await redis.multi().srem(k.queues, queue).del(k.queue(queue)).exec();
    },
    failed: {
      count: () => redis.llen(k.failed),
      async list(start = 0, count = 50) {
        const items = await redis.lrange(k.failed, start, start + count - 1);
        return items.map((raw, i) => readFailure(raw, start + i));
      },
      async retry(index) {
        checkIndex(index);
        const raw = await redis.lindex(k.failed, index);
        if (raw === null) throw new ForkpoolError('not-found', `no failure at index ${index}`);
        const item = readFailure(raw, index);
        const payload = item.record && requeuedPayload(raw, item.record.payload);
        if (!item.record || payload === undefined || !item.record.queue) {
          throw new ForkpoolError('malformed', `failure ${index} cannot be retried: ${item.problem ?? 'its payload or queue is unreadable'}`);
        }
        const again = sized(`failed.retry ${index}`, payload);
        const updated = withMembers(raw, { retried_at: formatFailedAt(new Date()) });
        await redis.multi()
          .lset(k.failed, index, updated)
          .sadd(k.queues, item.record.queue)
          .rpush(k.queue(item.record.queue), again)
          .exec();
      },
      async remove(index) {
        checkIndex(index);
        // Resque's way: overwrite the slot with a unique marker, then remove that marker.
        const marker = `forkpool-remove-${process.pid}-${Date.now()}-${Math.random()}`;
        try {
          await redis.lset(k.failed, index, marker);
        } catch (err) {
          throw new ForkpoolError('not-found', `no failure at index ${index}`, { cause: err });
        }
        await redis.lrem(k.failed, 1, marker);
      },
      async clear() {
        const n = await redis.llen(k.failed);
        await redis.del(k.failed);
        return n;
      },
    },
    delayed: {
      async count() {
        const stamps = await redis.zrange(k.delayedSchedule, 0, -1);
        if (stamps.length === 0) return 0;
        const pipe = redis.pipeline();
        for (const ts of stamps) pipe.llen(k.delayed(ts));
        return ((await pipe.exec()) ?? []).reduce((n, [, v]) => n + Number(v ?? 0), 0);
      },
      async list(start = 0, count = 50) {
        const stamps = await redis.zrange(k.delayedSchedule, 0, -1);
        const out: DelayedItem[] = [];
        for (const ts of stamps) {
          for (const raw of await redis.lrange(k.delayed(ts), 0, -1)) out.push({ ...readItem(raw), timestamp: Number(ts) });
          if (out.length >= start + count) break;
        }
        return out.slice(start, start + count);
      },
    },
    async workers() {
      const ids = (await redis.smembers(k.workers)).sort();
      if (ids.length === 0) return [];
      const pipe = redis.pipeline();
      for (const id of ids) pipe.get(k.worker(id)).get(k.workerStarted(id)).hget(k.heartbeats, id).hlen(k.inflight(id));
      const res = (await pipe.exec()) ?? [];
      return ids.map((id, i) => {
        const { host, pid, start, queues } = parseWorkerId(id);
        const at = (j: number): unknown => res[i * 4 + j]?.[1];
        return {
          id,
          host,
          pid,
          start,
          queues,
          started: (at(1) as string | null) ?? undefined,
          heartbeat: (at(2) as string | null) ?? undefined,
          job: parseRunning(at(0) as string | null),
          inFlight: Number(at(3) ?? 0),
        };
      });
    },
    async stats() {
      const queues = await redis.smembers(k.queues);
      const workers = await redis.smembers(k.workers);
      const pipe = redis.pipeline().get(k.stat('processed')).get(k.stat('failed')).hvals(k.running);
      for (const q of queues) pipe.llen(k.queue(q));
      for (const w of workers) pipe.exists(k.worker(w));
      const res = (await pipe.exec()) ?? [];
      const v = (i: number): unknown => res[i]?.[1];
      const running = (v(2) as string[] | null) ?? [];
      let pending = 0;
      for (let i = 0; i < queues.length; i++) pending += Number(v(3 + i) ?? 0);
      let working = 0;
      for (let i = 0; i < workers.length; i++) working += Number(v(3 + queues.length + i) ?? 0);
      return {
        processed: toInt(v(0) as string | null),
        failed: toInt(v(1) as string | null),
        queues: queues.length,
        workers: workers.length,
        working,
        pending,
        inFlight: running.reduce((n, x) => n + Math.max(0, toInt(x)), 0),
        delayed: await client.delayed.count(),
      };
    },
    async close() {
      if (ownConnection) await redis.quit().catch(() => redis.disconnect());
    },
  };
  return client;
}

