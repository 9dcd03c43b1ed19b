// Timeouts, memory caps, crashes and signals to children: each becomes a failure record with Resque's fields,
// and the master carries on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { alive, records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

// The same behaviour in both isolation modes.
for (const isolation of ['spawn', 'fork'] as const) describe(`worker: limits and crashes (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation, { QUEUES: 'q' });

  it('kills a job that runs past JOB_TIMEOUT_SECONDS, records it, and goes on', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file, JOB_TIMEOUT_SECONDS: '1' });
    await t.client.enqueue('q', 'Busy', 30, 'stuck');
    await t.client.enqueue('q', 'Record', 'next');
    await until('next job ran', () => records(file).some((r) => r.pid && !r.event), 10_000);
    const [f] = await t.client.failed.list();
    assert.equal(f?.record?.exception, 'Forkpool::JobTimeout');
    assert.match(f?.record?.error ?? '', /ran longer than 1 s \(JOB_TIMEOUT_SECONDS\); child pid \d+ was killed/);
    const stuck = records(file).find((r) => r.id === 'stuck');
    assert.equal(alive(stuck?.pid), false, 'the timed-out child is gone');
  });

  it('kills a child over MAX_CHILD_MEMORY_MB and records it', async () => {
    await t.start({ MAX_CHILD_MEMORY_MB: '150' });
    await t.client.enqueue('q', 'Hog', 400);
    await until('failure recorded', async () => (await t.client.failed.count()) === 1);
    const [f] = await t.client.failed.list();
    assert.equal(f?.record?.exception, 'Forkpool::MemoryLimitExceeded');
    assert.match(f?.record?.error ?? '', /used \d+ MiB, over the 150 MiB cap \(MAX_CHILD_MEMORY_MB\)/);
  });

  it('records a child killed by a signal as Resque::DirtyExit', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file });
    await t.client.enqueue('q', 'Suicide', 'SIGKILL');
    await t.client.enqueue('q', 'Sleep', 30, 'killed-from-outside');
    await until('first failure', async () => (await t.client.failed.count()) === 1);
    const started = await until('sleep started', () => records(file).find((r) => r.id === 'killed-from-outside'));
    process.kill(Number(started.pid), 'SIGSEGV');
    await until('second failure', async () => (await t.client.failed.count()) === 2);
    const list = await t.client.failed.list();
    assert.equal(list[0]?.record?.exception, 'Resque::DirtyExit');
    assert.match(list[0]?.record?.error ?? '', /^Child process received unhandled signal pid \d+ SIGKILL \(signal 9\)$/);
    assert.match(list[1]?.record?.error ?? '', /^Child process received unhandled signal pid \d+ SIGSEGV \(signal 11\)$/);
    assert.deepEqual(list[1]?.record?.payload, { class: 'Sleep', args: [30, 'killed-from-outside'] });
  });

  it('USR1 kills the running child (a DirtyExit) and keeps taking jobs', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file });
    await t.client.enqueue('q', 'Sleep', 30, 'usr1');
    await t.client.enqueue('q', 'Record', 'after');
    await until('sleep started', () => records(file).find((r) => r.id === 'usr1'));
    w.kill('SIGUSR1');
    await until('next job ran', () => records(file).some((r) => Array.isArray(r.args)));
    const [f] = await t.client.failed.list();
    assert.equal(f?.record?.exception, 'Resque::DirtyExit');
    assert.match(f?.record?.error ?? '', /SIGKILL/);
  });

  it('USR2 pauses taking jobs and CONT resumes', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file });
    w.kill('SIGUSR2');
    await w.waitForLog((l) => l.msg === 'paused: not taking new jobs');
    await t.client.enqueue('q', 'Record', 'while paused');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(records(file).length, 0, 'nothing ran while paused');
    assert.equal(await t.redis.llen('resque:queue:q'), 1);
    w.kill('SIGCONT');
    await until('job ran after CONT', () => records(file).length === 1);
  });
});
