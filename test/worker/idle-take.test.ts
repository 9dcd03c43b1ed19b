// How an idle worker waits for its next job. With one named queue each slot waits inside Redis (BLMOVE, the
// take script pipelined behind it); with several it waits for change notifications. Either way every job
// is taken once, a stop or pause ends the waits at once, and a job arriving as the worker stops is run or
// left in its queue, never lost.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

describe('worker: waiting for jobs when idle', () => {
  const t = workerSuite('spawn');

  /** The worker's connections that are waiting in BLMOVE, from CLIENT LIST. */
  const waiting = async (): Promise<string[]> => String(await t.redis.call('CLIENT', 'LIST', 'TYPE', 'normal'))
    .split('\n').filter((l) => / name=forkpool-wait:/.test(l) && / cmd=blmove /.test(l));

  it('one queue: each slot waits inside Redis, and every job is taken once, shown as running since it started', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file, QUEUES: 'q', CONCURRENCY: '2' });
    await until('both slots waiting in BLMOVE', async () => (await waiting()).length === 2);
    for (let i = 0; i < 20; i++) {
      await t.client.enqueue('q', 'Record', i);
      await until(`job ${i} ran`, () => records(file).length === i + 1);
    }
    assert.deepEqual(records(file).map((r) => (r.args as number[])[0]), Array.from({ length: 20 }, (_, i) => i));
    await until('all recorded as processed', async () => (await t.client.stats()).processed === 20);
    assert.equal(await t.redis.llen('resque:queue:q'), 0, 'the waits left nothing behind in the queue');
    assert.deepEqual(await t.redis.hgetall('resque:forkpool:running'), {});

    // run_at comes from Redis's clock when the job is taken, not from when the slot began to wait.
    await new Promise((r) => setTimeout(r, 2500));
    await t.client.enqueue('q', 'Sleep', 1, 'shown');
    const [worker] = await until('the job shown as running', async () => {
      const ws = await t.client.workers();
      return ws.some((w) => w.job) ? ws : undefined;
    });
    const runAt = Date.parse(worker?.job?.run_at ?? '');
    const now = Number((await t.redis.time())[0]) * 1000;
    assert.ok(now - runAt <= 1500, `run_at ${worker?.job?.run_at} is when the job was taken`);
  });

  it('several queues: slots wait for change notifications, and jobs still run in priority order', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file, QUEUES: 'high,low' });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await waiting(), []);
    await t.client.enqueue('low', 'Record', 'low');
    await until('job ran', () => records(file).length === 1);
  });

  it('a waiting connection that is killed is reopened, and the next job is still taken once', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file, QUEUES: 'q' });
    await until('slot waiting in BLMOVE', async () => (await waiting()).length === 1);
    const id = /(?:^|\s)id=(\d+)/.exec((await waiting())[0] ?? '')?.[1];
    await t.redis.call('CLIENT', 'KILL', 'ID', String(id));
    await t.client.enqueue('q', 'Record', 'after the kill');
    await until('job ran', () => records(file).length === 1);
    await until('waiting in BLMOVE again', async () => (await waiting()).length === 1, 15_000);
    await t.client.enqueue('q', 'Record', 'next');
    await until('next job ran', () => records(file).length === 2);
    await until('both recorded as processed', async () => (await t.client.stats()).processed === 2);
    assert.deepEqual((await t.client.workers()).map((w) => w.inFlight), [0]);
  });

  it('TERM ends the waits at once: an idle worker exits without sitting out a wait', async () => {
    const w = await t.start({ QUEUES: 'q', CONCURRENCY: '2' });
    await until('both slots waiting in BLMOVE', async () => (await waiting()).length === 2);
    await new Promise((r) => setTimeout(r, 1000)); // well into a 5 s wait
    const t0 = Date.now();
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 2500, `exited ${Date.now() - t0} ms after TERM`);
  });

  it('a job enqueued as the worker stops is either run or left at the head of its queue, never lost', async () => {
    for (let i = 0; i < 8; i++) {
      const file = tempRecordFile();
      const w = await t.start({ RECORD_FILE: file, QUEUES: 'q', CONCURRENCY: '2' });
      await until('both slots waiting in BLMOVE', async () => (await waiting()).length === 2);
      // The TERM lands before, during or after the take, by a few hundred microseconds either way.
      const enqueued = t.client.enqueue('q', 'Record', i);
      if (i % 2) await enqueued;
      w.kill('SIGTERM');
      await enqueued;
      assert.deepEqual(await w.exited, { code: 0, signal: null });
      const ran = records(file).length;
      const queued = await t.redis.lrange('resque:queue:q', 0, -1);
      assert.equal(ran + queued.length, 1, `round ${i}: ran ${ran}, queued ${JSON.stringify(queued)}`);
      await t.redis.flushdb();
    }
  });
});
