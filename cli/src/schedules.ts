// What a pool's cron schedules will do and have done: next fire time from the operator's cron code,
// last fire time from the scheduler's fired hash.
import type { Redis } from 'ioredis';
import type { Keys } from '../../queue/src/keys.ts';
import type { JobPool } from '../../operator/src/jobpool.ts';
import { compileSchedule } from '../../operator/src/scheduler.ts';
import { poolKeyOf } from './jobpool-file.ts';

export interface ScheduleView {
  name: string;
  cron: string;
  timeZone: string;
  queue: string;
  class: string;
  args: unknown[];
  /** ISO time of the next fire, or undefined when there is none */
  next: string | undefined;
  /** ISO time of the last fire enqueued by forkpool (operator or `forkpool up`), when known */
  lastFired: string | undefined;
  /** why the schedule cannot run, when it cannot */
  error: string | undefined;
}

export async function describeSchedules(pool: JobPool, redis: Redis, keys: Keys, now = new Date()): Promise<ScheduleView[]> {
  const schedules = pool.spec.schedules;
  const fired = schedules.length > 0 ? await redis.hmget(keys.scheduleFired, ...schedules.map((s) => `${poolKeyOf(pool)}/${s.name}`)) : [];
  return schedules.map((s, i) => {
    const compiled = compileSchedule(s);
    const last = Number(fired[i] ?? Number.NaN);
    return {
      name: s.name,
      cron: s.cron,
      timeZone: s.timeZone,
      queue: s.queue,
      class: s.class,
      args: s.args,
      next: compiled.ok ? compiled.cron.nextRun(now)?.toISOString() : undefined,
      lastFired: Number.isFinite(last) && last > 0 ? new Date(last).toISOString() : undefined,
      error: compiled.ok ? undefined : compiled.error,
    };
  });
}
