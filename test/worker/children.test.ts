// A job's processes: a child is killed with the processes its job started (its process group), and dies with
// its master even while its job keeps the CPU busy.
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
});
