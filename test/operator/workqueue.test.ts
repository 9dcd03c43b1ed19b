// The work queue: per-key deduplication, one handler per key at a time, retries with backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../operator/src/workqueue.ts';
import { until } from '../helpers/wait.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A queue handling one key at a time that records each key it handles and holds the first run of `held` until release(). */
function gatedQueue(held: string): { q: WorkQueue; seen: string[]; release: () => void } {
  const seen: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new WorkQueue(
    async (key) => {
      seen.push(key);
      if (key === held && seen.indexOf(key) === seen.length - 1) await gate;
      return undefined;
    },
    { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100 },
  );
  return { q, seen, release };
}

test('a key added many times while waiting is handled once', async () => {
  const { q, seen, release } = gatedQueue('block');
  q.add('block');
  for (let i = 0; i < 10; i++) q.add('a');
  q.add('b');
  release();
  await q.idle();
  assert.deepEqual(seen, ['block', 'a', 'b']);
});

test('a key added while it is handled runs once more afterwards, never twice at once', async () => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  const q = new WorkQueue(
    async () => {
      running += 1;
      calls += 1;
      maxRunning = Math.max(maxRunning, running);
      await sleep(20);
      running -= 1;
      return undefined;
    },
    { concurrency: 4, baseDelayMs: 10, maxDelayMs: 100 },
  );
  q.add('k');
  await sleep(5);
  q.add('k');
  q.add('k');
  await until('two runs', () => calls === 2 && running === 0);
  assert.equal(maxRunning, 1);
});

test('errors are retried with growing delays, success forgets them', async () => {
  const times: number[] = [];
  const q = new WorkQueue(
    () => {
      times.push(Date.now());
      if (times.length < 4) return Promise.reject(new Error('boom'));
      return Promise.resolve(undefined);
    },
    { concurrency: 1, baseDelayMs: 20, maxDelayMs: 1000 },
  );
  q.add('k');
  await until('4 attempts', () => times.length === 4, 5000);
  const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
  assert.ok(gaps[0]! >= 14 && gaps[1]! >= 30 && gaps[2]! >= 60, `gaps ${gaps.join(',')}`);
  q.stop();
});

test('requeueAfter brings a key back', async () => {
  let calls = 0;
  const q = new WorkQueue(
    () => {
      calls += 1;
      return Promise.resolve(calls === 1 ? { requeueAfterMs: 30 } : undefined);
    },
    { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100 },
  );
  q.add('k');
  await until('second call', () => calls === 2);
  q.stop();
});

test('a retry after an error is not held back by a later requeue of the key', async () => {
  let calls = 0;
  const q = new WorkQueue(
    () => {
      calls += 1;
      if (calls === 1) return Promise.resolve({ requeueAfterMs: 60_000 });
      if (calls === 2) return Promise.reject(new Error('conflict'));
      return Promise.resolve(undefined);
    },
    { concurrency: 1, baseDelayMs: 20, maxDelayMs: 100 },
  );
  q.add('k');
  await until('the requeued call', () => calls === 1);
  q.add('k');
  await until('the retry of the failed call', () => calls === 3, 5000);
  q.stop();
});

test('retries of all keys together keep to the overall rate after the burst', async () => {
  const retried: number[] = [];
  const failed = new Set<string>();
  const q = new WorkQueue(
    (key) => {
      if (failed.has(key)) {
        retried.push(performance.now());
        return Promise.resolve(undefined);
      }
      failed.add(key);
      return Promise.reject(new Error('boom'));
    },
    { concurrency: 8, baseDelayMs: 1, maxDelayMs: 1, retriesPerSecond: 100, retryBurst: 10 },
  );
  for (let i = 0; i < 40; i++) q.add(`k${i}`);
  await until('40 retries', () => retried.length === 40, 5000);
  // The first 10 go at once; the 30 others come at most 100 a second.
  const span = Math.max(...retried) - Math.min(...retried);
  assert.ok(span >= 270, `40 retries within ${span.toFixed(0)} ms`);
  q.stop();
});

test('urgent keys are handled before every waiting key that is not, and a waiting key can be made urgent', async () => {
  const { q, seen, release } = gatedQueue('block');
  q.add('block');
  for (const key of ['s1', 's2', 's3']) q.add(key);
  q.add('resize1', true);
  q.add('s3', true); // waiting already: moves ahead of s1 and s2
  q.add('resize1', true); // urgent already: stays where it is
  q.add('s1'); // a plain add of a waiting key changes nothing
  release();
  await q.idle();
  assert.deepEqual(seen, ['block', 'resize1', 's3', 's1', 's2']);
});

test('a key made urgent while it is handled runs again ahead of the waiting keys', async () => {
  const { q, seen, release } = gatedQueue('busy');
  q.add('busy');
  await until('busy is handled', () => seen.length === 1);
  q.add('status1');
  q.add('status2');
  q.add('busy', true);
  release();
  await q.idle();
  assert.deepEqual(seen, ['busy', 'busy', 'status1', 'status2']);
});
