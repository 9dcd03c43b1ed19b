// A job's processes: a child is killed with the processes its job started (its process group), dies with its
// master even while its job keeps the CPU busy, and at shutdown gets SIGTERM and a grace to clean up before
// SIGKILL.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

/** Whether a process runs: a zombie (exited, not yet reaped by whoever adopted it) does not. */
function running(pid: unknown): boolean {
  try {
    const stat = readFileSync(`/proc/${Number(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Processes Spawner jobs started, killed at the end should a test fail and leave them behind. */
const strays = new Set<number>();
after(() => {
  for (const pid of strays) {
    if (running(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep')) process.kill(pid, 'SIGKILL');
  }
});

/** The pids a Spawner job recorded: its child's and the two processes it started. */
async function spawnerStarted(file: string, id: string): Promise<{ child: number; grandchildren: number[] }> {
  const r = await until(`${id} started its processes`, () => records(file).find((l) => l.id === id && l.event === 'start'), 15_000);
  const grandchildren = r.grandchildren as number[];
  assert.equal(grandchildren.length, 2);
  for (const pid of grandchildren) strays.add(pid);
  for (const pid of grandchildren) assert.ok(running(pid), `grandchild ${pid} runs`);
  return { child: Number(r.pid), grandchildren };
}

const allGone = (pids: readonly number[], what: string): Promise<true> =>
  until(what, () => {
    assert.deepEqual(pids.filter(running), []);
    return true;
  }, 5000);

// The same behaviour in both isolation modes.
for (const isolation of ['spawn', 'fork'] as const) describe(`worker: a job's processes (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation, { QUEUES: 'q' });

  it('a job past JOB_TIMEOUT_SECONDS is killed with the processes it started', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file, JOB_TIMEOUT_SECONDS: '2' });
    await t.client.enqueue('q', 'Spawner', 'stuck');
    const { child, grandchildren } = await spawnerStarted(file, 'stuck');
    await until('failure recorded', async () => (await t.client.failed.count()) === 1, 10_000);
    assert.equal((await t.client.failed.list())[0]?.record?.exception, 'Forkpool::JobTimeout');
    await allGone([child, ...grandchildren], 'the child and the processes its job started to be killed');
  });

  it('a job over MAX_CHILD_MEMORY_MB is killed with the processes it started', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file, MAX_CHILD_MEMORY_MB: '150' });
    await t.client.enqueue('q', 'Spawner', 'hog', 400);
    const { child, grandchildren } = await spawnerStarted(file, 'hog');
    await until('failure recorded', async () => (await t.client.failed.count()) === 1, 10_000);
    assert.equal((await t.client.failed.list())[0]?.record?.exception, 'Forkpool::MemoryLimitExceeded');
    await allGone([child, ...grandchildren], 'the child and the processes its job started to be killed');
  });

  it('USR1 kills the processes a running job started too', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file });
    await t.client.enqueue('q', 'Spawner', 'usr1');
    const { child, grandchildren } = await spawnerStarted(file, 'usr1');
    w.kill('SIGUSR1');
    await until('failure recorded', async () => (await t.client.failed.count()) === 1, 10_000);
    await allGone([child, ...grandchildren], 'the child and the processes its job started to be killed');
  });

  it('a job handed back at shutdown is stopped with the processes it started', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '1' });
    await t.client.enqueue('q', 'Spawner', 'handed back');
    const { child, grandchildren } = await spawnerStarted(file, 'handed back');
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Spawner","args":["handed back"]}']);
    await allGone([child, ...grandchildren], 'the child and the processes its job started to be stopped');
  });

  it('a child dies with its master, even while its job keeps the CPU busy', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file });
    await t.client.enqueue('q', 'Busy', 60, 'hog');
    const started = await until('job started', () => records(file).find((r) => r.id === 'hog'));
    w.kill('SIGKILL');
    await w.exited;
    await until('the child to die with its master', () => !running(started.pid), 5000);
  });

  it('TERM past SHUTDOWN_TIMEOUT_SECONDS: the job gets SIGTERM and time to clean up, then is handed back', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '1', CHILD_TERM_GRACE_SECONDS: '10' });
    await t.client.enqueue('q', 'Graceful', 'g', 500);
    await until('job started', () => records(file).find((r) => r.event === 'start'));
    const t0 = Date.now();
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 5000, `stopped ${Date.now() - t0} ms after TERM: once the job had cleaned up, not after the grace`);
    assert.deepEqual(records(file).map((r) => r.event), ['start', 'term', 'cleaned up']);
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Graceful","args":["g",500]}']);
    assert.equal(await t.client.failed.count(), 0, 'a handed-back job is not a failure');
  });

  it('a second TERM: the job gets SIGTERM and time to clean up, then is handed back', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '120' });
    await t.client.enqueue('q', 'Graceful', 'g', 300);
    await until('job started', () => records(file).find((r) => r.event === 'start'));
    w.kill('SIGTERM');
    await w.waitForLog((l) => l.msg === 'stopping: no new jobs; waiting for running ones');
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.deepEqual(records(file).map((r) => r.event), ['start', 'term', 'cleaned up']);
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Graceful","args":["g",300]}']);
    assert.equal(await t.client.failed.count(), 0);
  });

  it('a job that fails once it got SIGTERM is handed back, not recorded as failed', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '1', CHILD_TERM_GRACE_SECONDS: '10' });
    await t.client.enqueue('q', 'Graceful', 'g', 100, 'throw');
    await until('job started', () => records(file).find((r) => r.event === 'start'));
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.deepEqual(records(file).map((r) => r.event), ['start', 'term', 'cleaned up']);
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Graceful","args":["g",100,"throw"]}']);
    assert.equal(await t.client.failed.count(), 0);
  });

  it('a job that ignores SIGTERM is killed after CHILD_TERM_GRACE_SECONDS and handed back', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '1', CHILD_TERM_GRACE_SECONDS: '2' });
    await t.client.enqueue('q', 'Graceful', 'stubborn', null);
    const started = await until('job started', () => records(file).find((r) => r.event === 'start'));
    const t0 = Date.now();
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    const took = Date.now() - t0;
    assert.ok(took >= 2900 && took < 8000, `stopped ${took} ms after TERM: the shutdown timeout, then the grace`);
    assert.deepEqual(records(file).map((r) => r.event), ['start', 'term']);
    assert.equal(running(started.pid), false, 'the child was killed');
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Graceful","args":["stubborn",null]}']);
  });

  it('CHILD_TERM_GRACE_SECONDS=0: the job is killed at once, without SIGTERM', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '1', CHILD_TERM_GRACE_SECONDS: '0' });
    await t.client.enqueue('q', 'Graceful', 'g', 200);
    await until('job started', () => records(file).find((r) => r.event === 'start'));
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.deepEqual(records(file).map((r) => r.event), ['start']);
    assert.equal(await t.redis.llen('resque:queue:q'), 1);
  });
});
