// The queue client: what an application (or the CLI, the operator, the dashboard) does with a Resque Redis.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ForkpoolError, PayloadTooLargeError } from './errors.ts';
import { keys as keyNames, DEFAULT_NAMESPACE, type Keys } from './keys.ts';
import { createRedis, DEFAULT_REDIS_URL, RedisTarget, withClusterNamespace } from './redis-connection.ts';
import { redisOptions } from './redis-options.ts';
import {
  ACTIVE_JOB_WRAPPER, DEFAULT_MAX_PAYLOAD_BYTES, encodeDelayed, encodePayload, FailureRecord, formatFailedAt, JobPayload, RunningJob,
} from './payload.ts';
import { memberText, withMembers } from './json-text.ts';
import { scripts } from './scripts.ts';
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

/**
 * A list item as a caller names it to act on it: where it was seen, and the SHA-1 of its exact text, so that an
 * action on a list that shifted since still finds that item, or finds it gone, and never acts on another.
 */
export interface ItemRef {
  readonly index: number;
  readonly id: string;
}

/** The SHA-1 of an item's text, lower-case hex: its `id`. */
export const itemId = (raw: string): string => createHash('sha1').update(raw).digest('hex');

/** One item of the failed list, with its index; `record` is absent when the item is unreadable. */
export interface FailedItem {
  readonly index: number;
  /** the SHA-1 of `raw` */
  readonly id: string;
  readonly raw: string;
  /** whether `retry` can put it back: it names a queue and holds a job payload */
  readonly retryable: boolean;
  readonly record: FailureRecord | undefined;
  /** why the item could not be read, when it could not */
  readonly problem: string | undefined;
}

/** A filter of the failed list; an absent field matches everything. */
export interface FailedFilter {
  readonly queue?: string | undefined;
  /** the payload's class, or the job class ActiveJob wraps */
  readonly className?: string | undefined;
}

/** One page of the failed list, newest first; `total` counts the failures that match the filter. */
export interface FailedPage {
  readonly total: number;
  readonly items: readonly FailedItem[];
}

/** What a bulk action on the failed list did. */
export interface FailedBulkResult {
  /** failures acted on */
  readonly done: number;
  /** failures that matched but could not be retried (no queue or no readable job) */
  readonly skipped: number;
  /** failures that were removed or changed by someone else while the action ran */
  readonly gone: number;
}

/** One item of a queue or of the delayed set. */
export interface QueuedItem {
  /** the SHA-1 of `raw` */
  readonly id: string;
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
  /** Removes a queue and its jobs; resolves to how many jobs it held. */
  removeQueue(queue: string): Promise<number>;
  readonly failed: {
    count(): Promise<number>;
    list(start?: number, count?: number): Promise<FailedItem[]>;
    /** One page of the failures matching `filter`, newest first (`start` 0 is the newest). */
    newest(start: number, count: number, filter?: FailedFilter): Promise<FailedPage>;
    /** Re-enqueues a failure as Resque::Failure.requeue does: marks it `retried_at`, pushes the payload back. */
    retry(target: number | ItemRef): Promise<void>;
    /** Removes one failure, as Resque::Failure.remove does. */
    remove(target: number | ItemRef): Promise<void>;
    /** Retries every failure that matches and can be retried. */
    retryAll(filter?: FailedFilter): Promise<FailedBulkResult>;
    /** Removes every failure that matches and has been retried. */
    clearRetried(filter?: FailedFilter): Promise<FailedBulkResult>;
    /** Removes every failure that matches (all of them without a filter); resolves to how many. */
    clear(filter?: FailedFilter): Promise<number>;
  };
  /** Removes one waiting job from its queue; a job that is gone (taken, removed) throws a not-found error. */
  removeJob(queue: string, ref: ItemRef): Promise<void>;
  readonly delayed: {
    count(): Promise<number>;
    list(start?: number, count?: number): Promise<DelayedItem[]>;
    /**
     * Takes one delayed job (named by its timestamp and id) out of the delayed set and enqueues it on its queue
     * now (`now`), or drops it; a job no longer due then throws a not-found error.
     */
    take(timestamp: number, id: string, now: boolean): Promise<void>;
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
  const id = itemId(raw);
  try {
    const parsed = JobPayload.safeParse(JSON.parse(raw));
    if (parsed.success) return { id, raw, payload: parsed.data, problem: undefined };
    return { id, raw, payload: undefined, problem: parsed.error.issues.map((i) => i.message).join('; ') };
  } catch (err) {
    return { id, raw, payload: undefined, problem: `not valid JSON: ${(err as Error).message}` };
  }
}

function readFailure(raw: string, index: number): FailedItem {
  const id = itemId(raw);
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return { index, id, raw, retryable: false, record: undefined, problem: `not valid JSON: ${(err as Error).message}` };
  }
  const parsed = FailureRecord.safeParse(data);
  if (!parsed.success) {
    return { index, id, raw, retryable: false, record: undefined, problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  }
  const retryable = Boolean(parsed.data.queue) && requeuedPayload(raw, parsed.data.payload) !== undefined;
  return { index, id, raw, retryable, record: parsed.data, problem: undefined };
}

/** The classes a failure's job answers to in a filter: its payload's class, and the job class ActiveJob wraps. */
function classesOf(payload: unknown): string[] {
  const p = JobPayload.safeParse(typeof payload === 'string' ? jsonOrUndefined(payload) : payload);
  if (!p.success) return [];
  const wrapped = p.data.class === ACTIVE_JOB_WRAPPER ? (p.data.args[0] as { job_class?: unknown } | undefined)?.job_class : undefined;
  return typeof wrapped === 'string' ? [p.data.class, wrapped] : [p.data.class];
}

function matches(item: FailedItem, filter: FailedFilter): boolean {
  if (filter.queue === undefined && filter.className === undefined) return true;
  const r = item.record;
  if (!r) return false;
  if (filter.queue !== undefined && r.queue !== filter.queue) return false;
  return filter.className === undefined || classesOf(r.payload).includes(filter.className);
}

const filtered = (filter: FailedFilter): boolean => filter.queue !== undefined || filter.className !== undefined;

/** Failures read per round trip when the whole list is walked. */
const SCAN_PAGE = 500;

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

/** A Redis Cluster target bound to the namespace (see withClusterNamespace), as an invalid-argument error. */
function clusterTarget(target: RedisTarget, namespace: string): RedisTarget {
  try {
    return withClusterNamespace(target, namespace);
  } catch (err) {
    throw new ForkpoolError('invalid-argument', `createClient: ${(err as Error).message}`);
  }
}

/** Creates a client. It connects lazily on first use. */
export function createClient(options: ClientOptions = {}): ForkpoolClient {
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1) {
    throw new ForkpoolError('invalid-argument', `maxPayloadBytes must be a positive integer, got ${JSON.stringify(maxPayloadBytes)}`);
  }
  const ownConnection = !options.redis;
  const redis = options.redis ?? createRedis(clusterTarget(parseTarget(options), options.namespace ?? DEFAULT_NAMESPACE), redisOptions({ lazyConnect: true, maxRetriesPerRequest: 3 }));
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

  /** Reads the whole failed list a page at a time, from the newest (`newestFirst`) or from the oldest. */
  const eachFailure = async (newestFirst: boolean, visit: (item: FailedItem) => void): Promise<void> => {
    const total = await redis.llen(k.failed);
    for (let done = 0; done < total; done += SCAN_PAGE) {
      const from = newestFirst ? Math.max(0, total - done - SCAN_PAGE) : done;
      const to = newestFirst ? total - done - 1 : Math.min(total, done + SCAN_PAGE) - 1;
      const page = (await redis.lrange(k.failed, from, to)).map((raw, i) => readFailure(raw, from + i));
      for (const item of newestFirst ? page.reverse() : page) visit(item);
    }
  };

  /** A failure named by its index alone: the one there now. */
  const refOf = async (target: number | ItemRef): Promise<ItemRef> => {
    if (typeof target !== 'number') return { index: checkIndex(target.index), id: target.id };
    const raw = await redis.lindex(k.failed, checkIndex(target));
    if (raw === null) throw new ForkpoolError('not-found', `no failure at index ${target}`);
    return { index: target, id: itemId(raw) };
  };

  const gone = (ref: ItemRef): ForkpoolError =>
    new ForkpoolError('not-found', `failure ${ref.index} is no longer in the failed list as it was shown: it was retried, removed or cleared since`);

  /** The text of the failure `ref` names: at its index, or wherever the list holds it now. */
  const failureText = async (ref: ItemRef): Promise<string> => {
    const at = await redis.lindex(k.failed, ref.index);
    if (at !== null && itemId(at) === ref.id) return at;
    let found: string | undefined;
    await eachFailure(false, (item) => {
      if (found === undefined && item.id === ref.id) found = item.raw;
    });
    if (found === undefined) throw gone(ref);
    return found;
  };

  const retryFailure = async (ref: ItemRef): Promise<void> => {
    const raw = await failureText(ref);
    const item = readFailure(raw, ref.index);
    const payload = item.record && requeuedPayload(raw, item.record.payload);
    if (!item.record || payload === undefined || !item.record.queue) {
      throw new ForkpoolError('malformed', `failure ${ref.index} cannot be retried: ${item.problem ?? 'its payload or queue is unreadable'}`);
    }
    const again = sized(`failed.retry ${ref.index}`, payload);
    const updated = withMembers(raw, { retried_at: formatFailedAt(new Date()) });
    const res = await scripts.failedRetry.run(redis, [k.namespace, ref.index, ref.id, updated, item.record.queue, again]);
    if (res === null) throw gone(ref);
  };

  const removeFailure = async (ref: ItemRef): Promise<void> => {
    if ((await scripts.listRemove.run(redis, [k.namespace, '', ref.index, ref.id])) === null) throw gone(ref);
  };

  /** Acts on each failure named; one that is gone by then is counted, not thrown. */
  const actOnEach = async (refs: readonly ItemRef[], act: (ref: ItemRef) => Promise<void>, skipped: number): Promise<FailedBulkResult> => {
    let done = 0;
    let missing = 0;
    for (const ref of refs) {
      try {
        await act(ref);
        done++;
      } catch (err) {
        if (!(err instanceof ForkpoolError && err.kind === 'not-found')) throw err;
        missing++;
      }
    }
    return { done, skipped, gone: missing };
  };

  /** Removes failures, the last first so that the indexes of those before stay where they were read. */
  const removeAll = (refs: readonly ItemRef[]): Promise<FailedBulkResult> =>
    actOnEach([...refs].sort((a, b) => b.index - a.index), removeFailure, 0);

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
      const [[, n]] = (await redis.multi().llen(k.queue(queue)).srem(k.queues, queue).del(k.queue(queue)).exec()) as [[null, number]];
      return n;
    },
    failed: {
      count: () => redis.llen(k.failed),
      async list(start = 0, count = 50) {
        const items = await redis.lrange(k.failed, start, start + count - 1);
        return items.map((raw, i) => readFailure(raw, start + i));
      },
      async newest(start, count, filter = {}) {
        if (!filtered(filter)) {
          // One transaction, so that the indexes are those of the items read.
          const [[, total], [, raw]] = (await redis.multi().llen(k.failed).lrange(k.failed, -(start + count), -(start + 1)).exec()) as [[null, number], [null, string[]]];
          const first = Math.max(0, total - start - count);
          return { total, items: raw.map((r, i) => readFailure(r, first + i)).reverse() };
        }
        const items: FailedItem[] = [];
        let total = 0;
        await eachFailure(true, (item) => {
          if (!matches(item, filter)) return;
          if (total >= start && items.length < count) items.push(item);
          total++;
        });
        return { total, items };
      },
      retry: async (target) => retryFailure(await refOf(target)),
      remove: async (target) => removeFailure(await refOf(target)),
      async retryAll(filter = {}) {
        const refs: FailedItem[] = [];
        let skipped = 0;
        await eachFailure(false, (item) => {
          if (!matches(item, filter)) return;
          if (item.retryable) refs.push(item);
          else skipped++;
        });
        return actOnEach(refs, retryFailure, skipped);
      },
      async clearRetried(filter = {}) {
        const refs: FailedItem[] = [];
        await eachFailure(true, (item) => {
          if (item.record?.retried_at !== undefined && matches(item, filter)) refs.push(item);
        });
        return removeAll(refs);
      },
      async clear(filter = {}) {
        if (!filtered(filter)) {
          const [[, n]] = (await redis.multi().llen(k.failed).del(k.failed).exec()) as [[null, number]];
          return n;
        }
        const refs: FailedItem[] = [];
        await eachFailure(true, (item) => {
          if (matches(item, filter)) refs.push(item);
        });
        return (await removeAll(refs)).done;
      },
    },
    async removeJob(queue, ref) {
      checkName('queue', queue);
      checkIndex(ref.index);
      if ((await scripts.listRemove.run(redis, [k.namespace, queue, ref.index, ref.id])) === null) {
        throw new ForkpoolError('not-found', `that job is no longer in queue ${queue}: a worker took it or someone removed it`);
      }
    },
    delayed: {
      async count() {
        const stamps = await redis.zrange(k.delayedSchedule, 0, -1);
        if (stamps.length === 0) return 0;
        const pipe = redis.pipeline();
        for (const ts of stamps) pipe.llen(k.delayed(ts));
        return ((await pipe.exec()) ?? []).reduce((n, [, v]) => n + Number(v ?? 0), 0);
      },
      async take(timestamp, id, now) {
        const raw = (await redis.lrange(k.delayed(timestamp), 0, -1)).find((r) => itemId(r) === id);
        const queue = raw === undefined ? undefined : readItem(raw).payload?.['queue'];
        if (now && raw !== undefined && typeof queue !== 'string') {
          throw new ForkpoolError('malformed', 'that delayed job names no queue to enqueue it on; delete it instead');
        }
        const took = raw !== undefined && Number(await scripts.delayedTake.run(redis, [k.namespace, timestamp, raw, now ? String(queue) : ''])) === 1;
        if (!took) throw new ForkpoolError('not-found', 'that delayed job is no longer waiting: the scheduler enqueued it or someone removed it');
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

