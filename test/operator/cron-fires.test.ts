// Which fire times a schedule enqueues after the last settled one, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cron } from 'croner';
import { catchUp, type CatchUp } from '../../operator/src/cron-fires.ts';

const at = (hms: string): number => Date.parse(`2030-01-01T${hms}Z`);
const every10s = new Cron('*/10 * * * * *', { timezone: 'UTC', paused: true, mode: '5-or-6-parts' });
const nightlyBerlin = new Cron('0 3 * * *', { timezone: 'Europe/Berlin', paused: true, mode: '5-or-6-parts' });

const cases: Record<string, { cron?: Cron; last: number; now: number; deadline: number; maxDue?: number; maxCounted?: number; want: CatchUp }> = {
  'nothing new since the last fire': {
    last: at('00:00:10'),
    now: at('00:00:15'),
    deadline: 300,
    want: { due: [], skipped: 0, skippedMore: false, settled: at('00:00:10'), more: false },
  },
  'the fire time just passed': {
    last: at('00:00:10'),
    now: at('00:00:20.4'),
    deadline: 300,
    want: { due: [at('00:00:20')], skipped: 0, skippedMore: false, settled: at('00:00:20'), more: false },
  },
  'a fire time exactly now is due': {
    last: at('00:00:10'),
    now: at('00:00:20'),
    deadline: 0,
    want: { due: [at('00:00:20')], skipped: 0, skippedMore: false, settled: at('00:00:20'), more: false },
  },
  'three missed fire times within the deadline, oldest first': {
    last: at('00:00:10'),
    now: at('00:00:45'),
    deadline: 300,
    want: { due: [at('00:00:20'), at('00:00:30'), at('00:00:40')], skipped: 0, skippedMore: false, settled: at('00:00:40'), more: false },
  },
  'fire times older than the deadline are skipped and counted': {
    last: at('00:00:10'),
    now: at('00:01:05'),
    deadline: 25,
    want: { due: [at('00:00:40'), at('00:00:50'), at('00:01:00')], skipped: 2, skippedMore: false, settled: at('00:01:00'), more: false },
  },
  'a zero deadline skips a fire time seen late': {
    last: at('00:00:10'),
    now: at('00:00:20.5'),
    deadline: 0,
    want: { due: [], skipped: 1, skippedMore: false, settled: at('00:00:20'), more: false },
  },
  'counting stops at its bound and jumps to the deadline': {
    last: at('00:00:00'),
    now: at('01:00:00'),
    deadline: 15,
    maxCounted: 5,
    want: { due: [at('00:59:50'), at('01:00:00')], skipped: 5, skippedMore: true, settled: at('01:00:00'), more: false },
  },
  'at most maxDue per look; the rest next time': {
    last: at('00:00:00'),
    now: at('00:01:00'),
    deadline: 300,
    maxDue: 2,
    want: { due: [at('00:00:10'), at('00:00:20')], skipped: 0, skippedMore: false, settled: at('00:00:20'), more: true },
  },
  'a nightly in its time zone, 40 s late': {
    cron: nightlyBerlin,
    last: at('00:00:00'),
    now: at('02:00:40'),
    deadline: 300,
    want: { due: [at('02:00:00')], skipped: 0, skippedMore: false, settled: at('02:00:00'), more: false },
  },
  'a nightly missed by an hour is skipped': {
    cron: nightlyBerlin,
    last: at('00:00:00'),
    now: at('03:00:00'),
    deadline: 300,
    want: { due: [], skipped: 1, skippedMore: false, settled: at('02:00:00'), more: false },
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(name, () => {
    assert.deepEqual(catchUp(c.cron ?? every10s, c.last, c.now, c.deadline * 1000, c.maxDue ?? 100, c.maxCounted ?? 100), c.want);
  });
}
