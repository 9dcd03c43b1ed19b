// Which fire times of a cron schedule to enqueue after the last one settled, as a CronJob catches up
// within startingDeadlineSeconds. Pure.
import type { Cron } from 'croner';

/** What one look at a schedule settles. Times are milliseconds since the epoch. */
export interface CatchUp {
  /** Fire times to enqueue, oldest first. */
  due: number[];
  /** Fire times after the last settled one that are older than the deadline: skipped, never enqueued. */
  skipped: number;
  /** More than `skipped` were skipped: counting stopped at the bound (each fire time costs a cron computation). */
  skippedMore: boolean;
  /** The fire time to record as settled: the newest enqueued or skipped one, or `last` when there is none. */
  settled: number;
  /** Fire times up to now remain beyond the per-look bound: look again at once. */
  more: boolean;
}

/** The first fire time strictly after `t`, or undefined when there is none. */
export function fireAfter(cron: Cron, t: number): number | undefined {
  return cron.nextRun(new Date(t))?.getTime();
}

/**
 * The fire times in (last, now]: those at least `now - deadlineMs` are due (at most `maxDue`), older ones
 * are skipped (counted up to `maxCounted`).
 */
export function catchUp(cron: Cron, last: number, now: number, deadlineMs: number, maxDue: number, maxCounted: number): CatchUp {
  const cutoff = now - deadlineMs;
  let skipped = 0;
  let skippedMore = false;
  let settled = last;
  let t = fireAfter(cron, last);
  while (t !== undefined && t < cutoff) {
    if (skipped === maxCounted) {
      // The rest of the skipped range is not counted: jump to the first fire time inside the deadline.
      skippedMore = true;
      settled = cutoff - 1;
      t = fireAfter(cron, cutoff - 1);
      break;
    }
    skipped += 1;
    settled = t;
    t = fireAfter(cron, t);
  }
  const due: number[] = [];
  while (t !== undefined && t <= now && due.length < maxDue) {
    due.push(t);
    settled = t;
    t = fireAfter(cron, t);
  }
  return { due, skipped, skippedMore, settled, more: t !== undefined && t <= now };
}
