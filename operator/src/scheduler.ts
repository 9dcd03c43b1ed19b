// The leader's scheduler: cron schedules of every pool (each fire time enqueued exactly once, even
// across a leader change) and resque-scheduler's due delayed jobs moved to their queues.
import { Cron } from 'croner';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keys } from '../../queue/src/keys.ts';
import { encodePayload, formatFailedAt } from '../../queue/src/payload.ts';
import { scripts } from '../../queue/src/scripts.ts';
import type { Schedule } from './jobpool.ts';

/**
 * Enqueues one fire of a schedule unless it, or a later one, was already enqueued: a compare-and-set
 * on the schedule's last fire time and the push, in one atomic step, so that two leaders (an old one
 * that has not noticed yet and a new one) cannot both enqueue it. A schedule never seen before starts
 * from `first` (now), so creating one does not enqueue a fire time from before it existed.
 * KEYS: fired hash, queues set, queue list. ARGV: field, fire ms, payload, queue name, first ms.
 * Kept inline: the build copies only queue/lua, and this script is the operator's alone.
 */
export const FIRE_SCHEDULE_LUA = `
local last = redis.call('HGET', KEYS[1], ARGV[1])
if not last then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
  last = ARGV[5]
end
if tonumber(ARGV[2]) <= tonumber(last) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
`;

/** A parsed cron schedule, or why it cannot be used. */
export function compileSchedule(s: Schedule): { ok: true; cron: Cron } | { ok: false; error: string } {
  try {
    const cron = new Cron(s.cron, { timezone: s.timeZone, paused: true, mode: '5-or-6-parts' });
    // An unknown time zone only fails when a date is computed.
    cron.nextRun();
    return { ok: true, cron };
  } catch (err) {
    return { ok: false, error: `schedule ${s.name}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The latest fire time at or before `now`, or undefined when there is none. */
export function latestFireTime(cron: Cron, now: number): number | undefined {
  // previousRuns looks strictly before its reference: ask from just after now.
  const [prev] = cron.previousRuns(1, new Date(now + 1));
  return prev?.getTime();
}

interface PoolSchedules {
  redis: Redis;
  namespace: string;
  /** `next`: the next fire time to act on; undefined until the first tick, which also catches up the latest one. */
  schedules: { field: string; schedule: Schedule; cron: Cron; next: number | undefined }[];
}

export interface SchedulerOptions {
  log: Logger;
  /** Who moves delayed jobs, recorded on failure records of unreadable ones. */
  identity: string;
  onFired?: (poolKey: string, schedule: string) => void;
  onMoved?: (count: number) => void;
}

export class Scheduler {
  readonly #pools = new Map<string, PoolSchedules>();
  readonly #o: SchedulerOptions;

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  /** Sets the schedules of a pool (only those that compiled) and the Redis its delayed jobs are in. */
  setPool(poolKey: string, redis: Redis, namespace: string, schedules: { schedule: Schedule; cron: Cron }[]): void {
    const before = new Map((this.#pools.get(poolKey)?.schedules ?? []).map((s) => [JSON.stringify(s.schedule), s]));
    this.#pools.set(poolKey, {
      redis,
      namespace,
      // An unchanged schedule keeps its next fire time, so calling this on every reconcile costs nothing.
      schedules: schedules.map(
        ({ schedule, cron }) => before.get(JSON.stringify(schedule)) ?? { field: `${poolKey}/${schedule.name}`, schedule, cron, next: undefined },
      ),
    });
  }

  removePool(poolKey: string): void {
    this.#pools.delete(poolKey);
  }

  /** One pass: every due fire time enqueued once, due delayed jobs moved. Errors are logged per pool and Redis. */
  async tick(now: number = Date.now()): Promise<void> {
    const work: Promise<void>[] = [];
    for (const [poolKey, pool] of this.#pools) {
      for (const s of pool.schedules) {
        // Cron arithmetic is not free; between fire times a tick only compares numbers.
        if (s.next !== undefined && now < s.next) continue;
        const fire = latestFireTime(s.cron, now);
        if (fire === undefined) continue;
        work.push(
          this.#fire(poolKey, pool, s, fire, now).then((done) => {
            if (done) s.next = s.cron.nextRun(new Date(now))?.getTime() ?? Number.POSITIVE_INFINITY;
          }),
        );
      }
    }
    // Delayed jobs are per Redis namespace, whatever the number of pools reading it.
    const seen = new Map<Redis, Set<string>>();
    for (const { redis, namespace } of this.#pools.values()) {
      const set = seen.get(redis) ?? new Set<string>();
      seen.set(redis, set);
      if (set.has(namespace)) continue;
      set.add(namespace);
      work.push(this.#moveDue(redis, namespace));
    }
    await Promise.all(work);
  }

  /** Resolves true when the fire time is settled (enqueued now or before), false when it must be retried. */
  async #fire(poolKey: string, pool: PoolSchedules, s: PoolSchedules['schedules'][number], fire: number, now: number): Promise<boolean> {
    const k = keys(pool.namespace);
    const { schedule } = s;
    try {
      const fired = await pool.redis.eval(
        FIRE_SCHEDULE_LUA,
        3,
        k.scheduleFired,
        k.queues,
        k.queue(schedule.queue),
        s.field,
        fire,
        encodePayload(schedule.class, schedule.args),
        schedule.queue,
        now,
      );
      if (fired === 1) {
        this.#o.log.info({ pool: poolKey, schedule: schedule.name, fireTime: new Date(fire).toISOString(), queue: schedule.queue }, 'enqueued a scheduled job');
        this.#o.onFired?.(poolKey, schedule.name);
      }
      return true;
    } catch (err) {
      this.#o.log.warn({ pool: poolKey, schedule: schedule.name, err: String(err) }, 'could not enqueue a scheduled job; retrying next tick');
      return false;
    }
  }

  async #moveDue(redis: Redis, namespace: string): Promise<void> {
    // The poller's client connects on its own; until it has, there is nothing to report.
    if (redis.status !== 'ready') return;
    try {
      const moved = Number(await scripts.moveDue.run(redis, [namespace, 1000, formatFailedAt(new Date()), this.#o.identity]));
      if (moved > 0) this.#o.onMoved?.(moved);
    } catch (err) {
      this.#o.log.warn({ namespace, err: String(err) }, 'could not move due delayed jobs; retrying next tick');
    }
  }
}
