// Reads the queue depths of every pool, one pipelined round trip per Redis server per tick whatever
// the number of pools on it, and hands each pool its sample.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keys, queueStatFields } from '../../queue/src/keys.ts';
import { createRedis, describeTarget, explainRedisError, targetKey, type RedisTarget } from '../../queue/src/redis-connection.ts';
import { redactUrl } from '../../queue/src/redis-url.ts';
import { evictionProblem, readServerFacts, versionProblem } from '../../queue/src/redis-checks.ts';
import { redisOptions } from '../../queue/src/redis-options.ts';
import type { QueueStatus } from './jobpool.ts';

export interface PollTarget {
  /** the pool's Redis, credentials and TLS material included (pools on the same target share a connection) */
  redis: RedisTarget;
  namespace: string;
  queues: string[];
  intervalMs: number;
}

/** One reading of a pool's queues; `queues` undefined with `error` when Redis could not be read. */
export interface Sample {
  at: number;
  queues: QueueStatus[] | undefined;
  error: string | undefined;
  /**
   * The workers' counters summed over the pool's queues (see keys.queueStats): jobs finished and their run
   * time in ms. Undefined when no worker has reported for any of them (or with `error`).
   */
  counters?: { processed: number; busyMs: number } | undefined;
}

interface Group {
  target: RedisTarget;
  redis: Redis;
  /** the last connection error, explained (see explainRedisError), until the next connect */
  lastError: string | undefined;
  pools: Map<string, PollTarget & { lastPolled: number }>;
  timer: NodeJS.Timeout | undefined;
  periodMs: number;
  busy: boolean;
}

export interface PollerOptions {
  log: Logger;
  onSample: (poolKey: string, sample: Sample) => void;
  /** Called once per round trip, with its duration and the number of commands sent. */
  onRoundTrip?: (ms: number, commands: number, error: unknown) => void;
  /**
   * Called after each connect to a Redis server with its `maxmemory-policy` (undefined when it cannot be
   * read), and with undefined when no pool uses the server any more. `redis` is its URL without credentials.
   */
  onEvictionPolicy?: (redis: string, policy: string | undefined) => void;
  /** Redis client options override (tests). */
  commandTimeoutMs?: number;
}

export class RedisPoller {
  readonly #groups = new Map<string, Group>();
  /** pool → the targetKey of its group */
  readonly #poolGroup = new Map<string, string>();
  readonly #o: PollerOptions;
  #running = false;

  constructor(options: PollerOptions) {
    this.#o = options;
  }

  /** Starts or stops ticking (only the leader polls); pools stay registered either way. */
  setRunning(running: boolean): void {
    this.#running = running;
    for (const g of this.#groups.values()) this.#schedule(g);
  }

  /** The shared client of a Redis server (created on first use), for the scheduler and scale-down reads. */
  client(target: RedisTarget): Redis {
    return this.#group(target).redis;
  }

  /** The shared client once it is connected (commands fail at once while it is not, by design). */
  async connectedClient(target: RedisTarget, timeoutMs = 5000): Promise<Redis> {
    const group = this.#group(target);
    const redis = group.redis;
    if (redis.status === 'ready') return redis;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        redis.off('ready', onReady);
        reject(new Error(`Redis ${describeTarget(target)} is not connected${group.lastError === undefined ? '' : `: ${group.lastError}`}`));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      redis.once('ready', onReady);
    });
    return redis;
  }

  /** Adds or updates a pool; a pool that moved to another Redis leaves its old group. */
  upsert(poolKey: string, target: PollTarget): void {
    const key = targetKey(target.redis);
    const oldKey = this.#poolGroup.get(poolKey);
    if (oldKey !== undefined && oldKey !== key) this.remove(poolKey);
    const group = this.#group(target.redis);
    const existing = group.pools.get(poolKey);
    if (existing !== undefined && existing.intervalMs === target.intervalMs) {
      // Every poll reconciles every pool, which upserts it: this path must stay O(1).
      existing.namespace = target.namespace;
      existing.queues = target.queues;
      return;
    }
    group.pools.set(poolKey, { ...target, lastPolled: existing?.lastPolled ?? 0 });
    this.#poolGroup.set(poolKey, key);
    this.#schedule(group);
  }

  remove(poolKey: string): void {
    const key = this.#poolGroup.get(poolKey);
    if (key === undefined) return;
    this.#poolGroup.delete(poolKey);
    const group = this.#groups.get(key);
    if (group === undefined) return;
    group.pools.delete(poolKey);
    if (group.pools.size === 0) {
      clearInterval(group.timer);
      this.#groups.delete(key);
      group.redis.disconnect();
      this.#o.onEvictionPolicy?.(redactUrl(group.target.url), undefined);
    } else {
      this.#schedule(group);
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const g of this.#groups.values()) {
      clearInterval(g.timer);
      g.redis.disconnect();
    }
    this.#groups.clear();
    this.#poolGroup.clear();
    await Promise.resolve();
  }

  #group(target: RedisTarget): Group {
    const key = targetKey(target);
    const group = this.#groups.get(key);
    if (group !== undefined) return group;
    const shown = describeTarget(target);
    // A replica answers the reads; the scheduler's writes (cron fires, due delayed jobs) find a primary
    // that failed over behind the same address, and the connection then reconnects to the new one.
    const redis = createRedis(target, redisOptions({
      // Fail fast instead of queueing while disconnected: a reading that cannot be had is an error now.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: this.#o.commandTimeoutMs ?? 2000,
      retryStrategy: (times) => Math.min(100 * 2 ** times, 5000),
      connectionName: 'forkpool-operator',
    }, (err) => this.#o.log.warn({ redis: shown, err: err.message }, 'Redis answered as a replica or not ready: reconnecting')));
    const g: Group = { target, redis, lastError: undefined, pools: new Map(), timer: undefined, periodMs: 0, busy: false };
    let lastLogged = 0;
    redis.on('error', (err: Error) => {
      const explained = explainRedisError(err, target);
      // ioredis repeats connection errors on every retry; one line a minute is enough, unless the error changes.
      if (Date.now() - lastLogged > 60_000 || explained !== g.lastError) {
        lastLogged = Date.now();
        this.#o.log.warn({ redis: shown, err: explained }, 'Redis connection error');
      }
      g.lastError = explained;
    });
    // A reconnect may reach another server (a failover): each connect is checked.
    redis.on('ready', () => {
      g.lastError = undefined;
      void this.#checkServer(target, redis);
    });
    this.#groups.set(key, g);
    return g;
  }

  /**
   * Checks a server (see redis-checks.ts): a version too old is an error in the log (its workers refuse to
   * start), a memory policy that may evict keys a warning; what cannot be read is said at debug level.
   */
  async #checkServer(target: RedisTarget, redis: Redis): Promise<void> {
    const facts = await readServerFacts(redis);
    const at = { redis: redactUrl(target.url) };
    if (facts.unread.length > 0) this.#o.log.debug({ ...at, unread: facts.unread }, 'could not read all of the Redis server\'s settings; those are not checked');
    const tooOld = versionProblem(facts.version);
    if (tooOld) this.#o.log.error(at, tooOld);
    const eviction = evictionProblem(facts.evictionPolicy);
    if (eviction) this.#o.log.warn({ ...at, policy: facts.evictionPolicy }, eviction);
    this.#o.onEvictionPolicy?.(at.redis, facts.evictionPolicy);
  }

  #schedule(group: Group): void {
    const period = Math.min(...[...group.pools.values()].map((p) => p.intervalMs));
    if (!this.#running || !Number.isFinite(period)) {
      clearInterval(group.timer);
      group.timer = undefined;
      group.periodMs = 0;
      return;
    }
    if (group.timer !== undefined && group.periodMs === period) return;
    clearInterval(group.timer);
    group.periodMs = period;
    group.timer = setInterval(() => void this.#tick(group), period);
    group.timer.unref();
    // A new pool (or a new leader) reads at once rather than one period later.
    void this.#tick(group);
  }

  /** Polls the due pools of one Redis server in one pipeline. */
  async #tick(group: Group): Promise<void> {
    if (group.busy) return;
    group.busy = true;
    try {
      const now = Date.now();
      // A pool is due a little early rather than a whole period late.
      const due = [...group.pools.entries()].filter(([, p]) => now - p.lastPolled >= p.intervalMs - group.periodMs / 2);
      if (due.length === 0) return;
      const pipeline = group.redis.pipeline();
      // Identical keys of pools sharing queues are read once.
      const index = new Map<string, number>();
      let n = 0;
      const slot = (id: string, add: () => void): number => {
        let i = index.get(id);
        if (i === undefined) {
          i = n++;
          index.set(id, i);
          add();
        }
        return i;
      };
      const plan = due.map(([poolKey, p]) => {
        const k = keys(p.namespace);
        const lens = p.queues.map((q) => slot(`LLEN ${k.queue(q)}`, () => pipeline.llen(k.queue(q))));
        const running = slot(`HMGET ${k.running} ${p.queues.join(' ')}`, () => pipeline.hmget(k.running, ...p.queues));
        const fields = p.queues.flatMap((q) => {
          const f = queueStatFields(q);
          return [f.processed, f.busyMs];
        });
        const stats = slot(`HMGET ${k.queueStats} ${fields.join(' ')}`, () => pipeline.hmget(k.queueStats, ...fields));
        p.lastPolled = now;
        return { poolKey, p, lens, running, stats };
      });
      const started = performance.now();
      let results: [Error | null, unknown][] | null = null;
      let failure: unknown;
      try {
        results = await pipeline.exec();
      } catch (err) {
        failure = err;
      }
      if (group.redis.status !== 'ready' && group.lastError !== undefined) {
        // Not connected: why the connection fails (a certificate, a password) says more than the refused commands.
        results = null;
        failure = new Error(group.lastError);
      }
      this.#o.onRoundTrip?.(performance.now() - started, n, failure);
      const at = Date.now();
      for (const { poolKey, p, lens, running, stats } of plan) {
        this.#o.onSample(poolKey, readSample(p.queues, lens, running, stats, results, failure, at));
      }
    } finally {
      group.busy = false;
    }
  }
}

function readSample(
  queues: string[],
  lens: number[],
  running: number,
  stats: number,
  results: [Error | null, unknown][] | null,
  failure: unknown,
  at: number,
): Sample {
  const fail = (err: unknown): Sample => ({ at, queues: undefined, error: err instanceof Error ? err.message : String(err) });
  if (results === null) return fail(failure ?? new Error('the pipeline was not executed'));
  const runningResult = results[running];
  if (runningResult === undefined) return fail(new Error('missing reply'));
  if (runningResult[0] !== null) return fail(runningResult[0]);
  const inFlight = runningResult[1] as (string | null)[];
  const out: QueueStatus[] = [];
  for (const [i, name] of queues.entries()) {
    const r = results[lens[i] ?? -1];
    if (r === undefined) return fail(new Error('missing reply'));
    if (r[0] !== null) return fail(r[0]);
    // A negative count can only be a bookkeeping slip; it is not demand.
    out.push({ name, waiting: Number(r[1]), inFlight: Math.max(0, Number(inFlight[i] ?? 0)) });
  }
  const statsResult = results[stats];
  if (statsResult === undefined) return fail(new Error('missing reply'));
  if (statsResult[0] !== null) return fail(statsResult[0]);
  return { at, queues: out, error: undefined, counters: sumCounters(statsResult[1] as (string | null)[]) };
}

/** HMGET's reply of `processed:<q>, busy_ms:<q>` pairs, summed; undefined when no queue has a count. */
function sumCounters(values: (string | null)[]): Sample['counters'] {
  let processed = 0;
  let busyMs = 0;
  let reported = false;
  for (let i = 0; i < values.length; i += 2) {
    const p = values[i];
    if (p === null || p === undefined) continue;
    reported = true;
    processed += Number(p);
    busyMs += Number(values[i + 1] ?? 0);
  }
  return reported ? { processed, busyMs } : undefined;
}
