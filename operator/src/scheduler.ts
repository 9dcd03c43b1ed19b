// The leader's scheduler: cron schedules of every pool (each fire time enqueued at most once, even
// across a leader change; those missed while no operator led caught up within the schedule's
// startingDeadlineSeconds) and resque-scheduler's due delayed jobs moved to their queues.
import { Cron } from 'croner';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keys } from '../../queue/src/keys.ts';
import { encodePayload, formatFailedAt } from '../../queue/src/payload.ts';
import { scripts } from '../../queue/src/scripts.ts';
import { catchUp, fireAfter, type CatchUp } from './cron-fires.ts';
import type { Schedule } from './jobpool.ts';

/** Fire times one look at a schedule enqueues at most; more are enqueued on the next ticks (a long outage of a per-second cron). */
export const MAX_FIRES_PER_TICK = 100;
/** Skipped fire times counted one by one at most; beyond, the Event says "more than". */
const MAX_SKIPPED_COUNTED = 100;

/**
 * Settles fire times of a schedule: a compare-and-set on its last settled fire time, and the push of one
 * job per due fire time, in one atomic step. The caller read the last settled time and computed what
 * follows it; when another leader (an old one that has not noticed yet, or a new one) settled something
 * in between, nothing happens and -1 is returned, so no fire time is ever enqueued twice.
 * KEYS: fired hash, queues set, queue list. ARGV: field, the last settled time read ("" when none),
 * the new one, payload, queue name, the number of due fire times. Returns that number, or -1.
 * Kept inline: the build copies only queue/lua, and this script is the operator's alone.
 */
export const FIRE_SCHEDULE_LUA = `
local last = redis.call('HGET', KEYS[1], ARGV[1])
if (last or '') ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local n = tonumber(ARGV[6])
if n > 0 then
  redis.call('SADD', KEYS[2], ARGV[5])
  local jobs = {}
  for i = 1, n do jobs[i] = ARGV[4] end
  redis.call('RPUSH', KEYS[3], unpack(jobs))
end
return n
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

interface PoolSchedules {
  redis: Redis;
  namespace: string;
  /** `next`: the next fire time to act on; undefined until the first look, which also catches up what was missed. */
  schedules: { field: string; schedule: Schedule; cron: Cron; next: number | undefined }[];
}

export interface SchedulerOptions {
  log: Logger;
  /** Who moves delayed jobs, recorded on failure records of unreadable ones. */
  identity: string;
  onFired?: (poolKey: string, schedule: string) => void;
  /** Fire times of a schedule skipped as older than its startingDeadlineSeconds: `count`, or more when `more`. */
  onMissed?: (poolKey: string, schedule: string, count: number, more: boolean) => void;
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

  /** One pass: the fire times of every schedule settled up to now, due delayed jobs moved. Errors are logged per pool and Redis. */
  async tick(now: number = Date.now()): Promise<void> {
    const work: Promise<void>[] = [];
    for (const [poolKey, pool] of this.#pools) {
      for (const s of pool.schedules) {
        // A suspended schedule records nothing: on resume its missed fire times meet the deadline as any others.
        if (s.schedule.suspend) continue;
        // Cron arithmetic is not free; between fire times a tick only compares numbers.
        if (s.next !== undefined && now < s.next) continue;
        work.push(this.#settle(poolKey, pool, s, now));
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

  /**
   * Settles a schedule's fire times up to now: enqueues those within its deadline, skips older ones. A
   * schedule never seen before starts from now, so creating one does not enqueue a fire time from before
   * it existed. When it cannot be settled (Redis, or another leader first), `next` is left for the next tick.
   */
  async #settle(poolKey: string, pool: PoolSchedules, s: PoolSchedules['schedules'][number], now: number): Promise<void> {
    const k = keys(pool.namespace);
    const { schedule } = s;
    try {
      const stored = await pool.redis.hget(k.scheduleFired, s.field);
      const last = stored === null ? Number.NaN : Number(stored);
      const plan: CatchUp = Number.isFinite(last)
        ? catchUp(s.cron, last, now, schedule.startingDeadlineSeconds * 1000, MAX_FIRES_PER_TICK, MAX_SKIPPED_COUNTED)
        : { due: [], skipped: 0, skippedMore: false, settled: now, more: false };
      if (plan.settled !== last) {
        const args = [s.field, stored ?? '', plan.settled, encodePayload(schedule.class, schedule.args), schedule.queue, plan.due.length];
        const fired = Number(await pool.redis.eval(FIRE_SCHEDULE_LUA, 3, k.scheduleFired, k.queues, k.queue(schedule.queue), ...args));
        if (fired < 0) return;
        this.#report(poolKey, schedule, plan, now);
      }
      s.next = plan.more ? now : (fireAfter(s.cron, now) ?? Number.POSITIVE_INFINITY);
    } catch (err) {
      this.#o.log.warn({ pool: poolKey, schedule: schedule.name, err: String(err) }, 'could not enqueue a scheduled job; retrying next tick');
    }
  }

  #report(poolKey: string, schedule: Schedule, plan: CatchUp, now: number): void {
    const log = this.#o.log.child({ pool: poolKey, schedule: schedule.name, queue: schedule.queue });
    for (const fire of plan.due) {
      log.info({ fireTime: new Date(fire).toISOString(), lateMs: now - fire }, 'enqueued a scheduled job');
      this.#o.onFired?.(poolKey, schedule.name);
    }
    if (plan.skipped > 0 || plan.skippedMore) {
      log.warn({ skipped: plan.skipped, more: plan.skippedMore, startingDeadlineSeconds: schedule.startingDeadlineSeconds }, 'skipped fire times older than the starting deadline');
      this.#o.onMissed?.(poolKey, schedule.name, plan.skipped, plan.skippedMore);
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
