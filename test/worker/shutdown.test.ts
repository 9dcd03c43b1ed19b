// Stopping and dying: TERM lets running jobs finish, past the grace period (or on a second TERM) hands them
// back; a master killed with SIGKILL loses nothing; as PID 1 of its own PID namespace it still stops and reaps.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { alive, records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

/** Direct children of a process and their states, from /proc. */
function children(pid: number): { pid: number; state: string }[] {
  const out = execFileSync('ps', ['-o', 'pid=,stat=', '--ppid', String(pid)], { encoding: 'utf8' }).trim();
  return out ? out.split('\n').map((l) => { const [p, s] = l.trim().split(/\s+/); return { pid: Number(p), state: s ?? '' }; }) : [];
}

// The same behaviour in both isolation modes.
for (const isolation of ['spawn', 'fork'] as const) describe(`worker: shutdown and recovery (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation, { QUEUES: 'q' });

  it('TERM with a job running: the job finishes, nothing new is taken, the worker exits 0', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file });
    await t.client.enqueue('q', 'Sleep', 1, 'running');
    await t.client.enqueue('q', 'Record', 'waiting');
    await until('job started', () => records(file).length === 1);
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.deepEqual(records(file).map((r) => r.event), ['start', 'end']);
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Record","args":["waiting"]}']);
    assert.equal((await t.client.stats()).processed, 1);
    assert.equal(await t.client.failed.count(), 0);
    assert.deepEqual(await t.client.workers(), []);
  });

  it('TERM past SHUTDOWN_TIMEOUT_SECONDS: the running job goes back to the head of its queue', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '1' });
    await t.client.enqueue('q', 'Sleep', 30, 'long');
    await t.client.enqueue('q', 'Record', 'next');
    const started = await until('job started', () => records(file).find((r) => r.event === 'start'));
    const t0 = Date.now();
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 5000, 'it stopped soon after the timeout');
    assert.equal(alive(started.pid), false, 'the child was killed');
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), [
      '{"class":"Sleep","args":[30,"long"]}', '{"class":"Record","args":["next"]}',
    ]);
    assert.equal(await t.client.failed.count(), 0, 'a handed-back job is not a failure');
    assert.deepEqual(await t.redis.hgetall('resque:forkpool:running'), {});
  });

  it('a second TERM hands running jobs back at once', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, SHUTDOWN_TIMEOUT_SECONDS: '120', CONCURRENCY: '2' });
    await t.client.enqueue('q', 'Sleep', 30, 'a');
    await t.client.enqueue('q', 'Busy', 30, 'b');
    await until('both started', () => records(file).length === 2);
    w.kill('SIGTERM');
    await w.waitForLog((l) => l.msg === 'stopping: no new jobs; waiting for running ones');
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.equal(await t.redis.llen('resque:queue:q'), 2);
    assert.equal(await t.client.failed.count(), 0);
  });

  it('a master killed with SIGKILL mid-job loses nothing: its job runs again once its heartbeat expires', async () => {
    const file = tempRecordFile();
    const a = await t.start({ RECORD_FILE: file });
    await t.client.enqueue('q', 'Sleep', 2, 'survivor');
    const first = await until('job started under A', () => records(file).find((r) => r.event === 'start'));
    a.kill('SIGKILL');
    await a.exited;
    await until('orphaned child exits with its master', () => !alive(first.pid), 5000);
    assert.equal(await t.redis.llen('resque:queue:q'), 0, 'the job is held in flight, not in the queue');
    const [dead] = await t.client.workers();
    assert.equal(dead?.inFlight, 1, `the job is in the dead worker's in-flight hash: ${JSON.stringify(await t.redis.keys('*'))}`);

    const b = await t.start({ RECORD_FILE: file });
    await until('job ran to the end under B', () => records(file).some((r) => r.event === 'end'), 15_000);
    const rec = records(file);
    assert.deepEqual(rec.map((r) => r.event), ['start', 'start', 'end']);
    assert.notEqual(rec[1]?.pid, first.pid);
    await until('the job is recorded as processed once', async () => (await t.client.stats()).processed === 1);
    assert.deepEqual((await t.client.workers()).map((w) => w.pid), [b.pid], 'the dead worker was unregistered');
  });

  it('TERM with Redis gone: exits after the timeout rather than hang (the heartbeat expiry recovers its jobs)', async () => {
    const w = await t.start({ SHUTDOWN_TIMEOUT_SECONDS: '1' });
    await t.server.kill();
    const t0 = Date.now();
    w.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms`);
    await w.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis unreachable at shutdown'));
    await t.server.start();
  });

  it('as PID 1 of its own PID namespace it reaps its children and stops on TERM', async () => {
    const file = tempRecordFile();
    const ns = process.getuid?.() === 0 ? ['unshare', '--pid', '--fork', '--mount-proc'] : ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount-proc'];
    const w = await t.start({ RECORD_FILE: file, QUEUES: 'pid1' }, { command: ns });
    const [info] = await until('registered', async () => { const l = await t.client.workers(); return l.length > 0 ? l : undefined; });
    assert.equal(info?.pid, 1, 'the master is PID 1 in its namespace');
    for (let i = 0; i < 5; i++) await t.client.enqueue('pid1', 'Pid', i);
    await until('5 jobs ran', () => records(file).length === 5);
    const master = children(w.pid)[0];
    assert.ok(master, 'unshare runs the master as its child');
    await until('no zombie children', () => children(master.pid).every((c) => !c.state.startsWith('Z')));
    assert.match(readFileSync(`/proc/${master.pid}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m, 'PID 1 inside, a normal pid outside');
    process.kill(master.pid, 'SIGTERM');
    assert.equal((await w.exited).code, 0);
    assert.deepEqual(await t.client.workers(), []);
  });
});
