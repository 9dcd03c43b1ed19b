// Reuse mode (JOBS_PER_CHILD > 1) under a backlog: the master sends a child its next jobs while one runs, so
// the child goes straight from one to the next. What a user must still see: every job run once, in queue
// order, a crash or a timeout charged to the job that caused it, the jobs sent after it run on a new child.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, stopWorker, tempRecordFile, workerSuite } from '../helpers/worker.ts';

describe('worker: jobs sent ahead to a reused child (ISOLATION=spawn, JOBS_PER_CHILD=100)', () => {
  const t = workerSuite('spawn', {});

  it('a crash, a timeout and USR1 in the middle of a backlog lose none of the jobs sent ahead', async () => {
    const file = tempRecordFile();
    const ids: number[] = [];
    const enqueueRecords = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        ids.push(ids.length);
        await t.client.enqueue('p', 'Record', ids.length - 1);
      }
    };
    // The backlog is there before the worker starts, so it takes ahead from its first job on.
    await enqueueRecords(20);
    await t.client.enqueue('p', 'Suicide', 'SIGKILL');
    await enqueueRecords(20);
    await t.client.enqueue('p', 'Busy', 30, 'stuck');
    await enqueueRecords(20);
    await t.client.enqueue('p', 'Sleep', 30, 'usr1');
    await enqueueRecords(20);
    const w = await t.start({ QUEUES: 'p', RECORD_FILE: file, JOBS_PER_CHILD: '100', JOB_TIMEOUT_SECONDS: '2' });
    await until('the sleeping job started', () => records(file).some((r) => r.id === 'usr1'), 20_000);
    w.kill('SIGUSR1');
    await until('every Record job ran', () => records(file).filter((r) => Array.isArray(r.args)).length >= ids.length, 20_000);
    await until('three failures', async () => (await t.client.failed.count()) === 3);

    const ran = records(file).filter((r) => Array.isArray(r.args));
    assert.deepEqual(ran.map((r) => (r.args as number[])[0]), ids, 'each ran once, in queue order');
    const failed = await t.client.failed.list();
    assert.deepEqual(failed.map((f) => f.record?.exception), ['Resque::DirtyExit', 'Forkpool::JobTimeout', 'Resque::DirtyExit']);
    assert.deepEqual(failed.map((f) => f.record?.payload), [
      { class: 'Suicide', args: ['SIGKILL'] }, { class: 'Busy', args: [30, 'stuck'] }, { class: 'Sleep', args: [30, 'usr1'] },
    ]);
    // Four children: one per stretch between the jobs that took a child down.
    const pids = ran.map((r) => r.pid);
    assert.equal(new Set(pids).size, 4);
    for (const stretch of [pids.slice(0, 20), pids.slice(20, 40), pids.slice(40, 60), pids.slice(60)]) assert.equal(new Set(stretch).size, 1);
    assert.deepEqual(await t.client.queueSizes(['p']), { p: 0 });
    assert.equal((await t.client.stats()).inFlight, 0);
    await stopWorker(w);
  });

  it('TERM under a backlog: jobs already sent run, the rest stay queued, none run twice or go missing', async () => {
    const file = tempRecordFile();
    const total = 300;
    for (let i = 0; i < total; i++) await t.client.enqueue('p', 'Record', i);
    const w = await t.start({ QUEUES: 'p', RECORD_FILE: file, JOBS_PER_CHILD: '100' });
    await until('some jobs ran', () => records(file).length >= 20);
    await stopWorker(w);
    const ran = records(file).map((r) => (r.args as number[])[0]);
    const left = (await t.client.queueSizes(['p'])).p ?? -1;
    assert.ok(ran.length < total, 'the worker stopped before the backlog was done');
    assert.equal(ran.length + left, total, `${ran.length} ran + ${left} still queued`);
    assert.deepEqual(ran, ran.map((_, i) => i), 'the first jobs in queue order, each once');
    const [next] = await t.client.peek('p', 0, 1);
    assert.deepEqual(next?.payload?.args, [ran.length], 'the first job not run is back at the head of the queue');
  });

  it('jobs that take long are not sent ahead: a worker holds at most one job beyond the one running', async () => {
    const file = tempRecordFile();
    for (let i = 0; i < 30; i++) await t.client.enqueue('p', 'Sleep', 0.2, `s${i}`);
    const w = await t.start({ QUEUES: 'p', RECORD_FILE: file, JOBS_PER_CHILD: '100' });
    let most = 0;
    const stopAt = Date.now() + 2000;
    while (Date.now() < stopAt) {
      most = Math.max(most, (await t.client.stats()).inFlight);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(records(file).filter((r) => r.event === 'end').length >= 5, 'jobs ran meanwhile');
    assert.ok(most <= 2, `held at most ${most} jobs`);
    await stopWorker(w);
  });
});
