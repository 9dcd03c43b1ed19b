// The worker runs what is enqueued, in priority order, with the right arguments, and records every bad input
// as a failure without stopping.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, stopWorker, tempRecordFile, workerSuite } from '../helpers/worker.ts';

/**
 * A jobs folder with one job inside (`Inside`, reached through a symlink as a ConfigMap volume's files are) and
 * modules that must never load: a `_` helper, one under node_modules, and ones outside JOBS_DIR reached by
 * symlinks or by `..` in a class name. Each of those writes `marker` when it loads.
 */
function trickyJobsFolder(): { jobsDir: string; marker: string } {
  const top = mkdtempSync(join(tmpdir(), 'forkpool-tricky-'));
  const marker = join(top, 'marker');
  const jobsDir = join(top, 'jobs');
  const outside = join(top, 'outside');
  const evil = `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(marker)}, import.meta.url + '\\n');\nexport function perform() {}\n`;
  mkdirSync(join(jobsDir, 'node_modules', 'pkg'), { recursive: true });
  mkdirSync(join(jobsDir, '..2026_01_01'));
  mkdirSync(outside);
  writeFileSync(join(jobsDir, '..2026_01_01', 'Inside.mjs'), 'export function perform() {}\n');
  symlinkSync('..2026_01_01', join(jobsDir, '..data'));
  symlinkSync(join('..data', 'Inside.mjs'), join(jobsDir, 'Inside.mjs'));
  writeFileSync(join(jobsDir, '_helper.mjs'), evil);
  writeFileSync(join(jobsDir, 'node_modules', 'pkg', 'Job.mjs'), evil);
  writeFileSync(join(outside, 'Job.mjs'), evil);
  writeFileSync(join(top, 'Top.mjs'), evil);
  symlinkSync(join(outside, 'Job.mjs'), join(jobsDir, 'Link.mjs'));
  symlinkSync(outside, join(jobsDir, 'Out'));
  return { jobsDir, marker };
}

// The same behaviour in both isolation modes.
for (const isolation of ['spawn', 'fork'] as const) describe(`worker: running jobs (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation, {});

  it('runs a job with its arguments, by class name, in a child process', async () => {
    const file = tempRecordFile();
    const w = await t.start({ QUEUES: 'default', RECORD_FILE: file });
    await t.client.enqueue('default', 'Record', 42, 'hello', { nested: [1, 2] });
    await t.client.enqueue('default', 'Reports::Daily', 'monday');
    await t.client.enqueue('default', 'Noop');
    await until('3 processed', async () => (await t.client.stats()).processed === 3);
    const rec = records(file);
    assert.deepEqual(rec[0]?.args, [42, 'hello', { nested: [1, 2] }]);
    assert.notEqual(rec[0]?.pid, w.pid, 'job code never runs in the master');
    assert.deepEqual(rec[1], { event: 'report', day: 'monday' });
    // One log line per job: the master's pid (every line has it) and the child's, which ran the job.
    const done = await w.waitForLog((l) => l.msg === 'job done' && l.class === 'Record');
    assert.deepEqual([done.pid, done.childPid, done.queue, typeof done.ms], [w.pid, rec[0]?.pid, 'default', 'number']);
    assert.equal((await t.client.stats()).failed, 0);
    assert.equal(await t.client.failed.count(), 0);
  });

  it('unwraps ActiveJob payloads written by Rails and runs job_class with its arguments', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'mailers', RECORD_FILE: file });
    const fixture = JSON.parse(readFileSync(new URL('../fixtures/resque-3.0.0-redis.json', import.meta.url), 'utf8')) as { activejob_6_1: Record<string, { items: string[] }> };
    await t.redis.sadd('resque:queues', 'mailers');
    await t.redis.rpush('resque:queue:mailers', ...(fixture.activejob_6_1['resque:queue:mailers']?.items ?? []));
    await until('hello job ran', () => records(file).length === 1);
    assert.deepEqual(records(file)[0], { event: 'hello', args: ['world', { count: 2, _aj_ruby2_keywords: ['count'] }] });
  });

  it('takes jobs in queue-priority order', async () => {
    const file = tempRecordFile();
    for (let i = 0; i < 3; i++) await t.client.enqueue('low', 'Record', `low-${i}`);
    for (let i = 0; i < 3; i++) await t.client.enqueue('high', 'Record', `high-${i}`);
    await t.start({ QUEUES: 'high,low', RECORD_FILE: file, JOBS_PER_CHILD: '100' });
    await until('6 done', () => records(file).length === 6);
    assert.deepEqual(records(file).map((r) => (r.args as string[])[0]), ['high-0', 'high-1', 'high-2', 'low-0', 'low-1', 'low-2']);
  });

  it('counts each queue\'s finished jobs and their run time for the operator, failed ones included', async () => {
    const file = tempRecordFile();
    await t.client.enqueue('high', 'Sleep', 0.3, 'a');
    await t.client.enqueue('high', 'Sleep', 0.3, 'b');
    await t.client.enqueue('low', 'Fail');
    await t.start({ QUEUES: 'high,low', RECORD_FILE: file });
    await until('3 processed', async () => (await t.client.stats()).processed === 3);
    const stats = await t.redis.hgetall('resque:forkpool:qstats');
    assert.equal(stats['processed:high'], '2');
    assert.equal(stats['processed:low'], '1');
    // The run time the master measured: each Sleep job at least its 300 ms.
    assert.ok(Number(stats['busy_ms:high']) >= 600, `busy_ms:high ${stats['busy_ms:high']}`);
    assert.ok(Number(stats['busy_ms:low']) >= 0, `busy_ms:low ${stats['busy_ms:low']}`);
  });

  it('QUEUES=* takes from every queue, including ones created after start', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: '*', RECORD_FILE: file });
    await t.client.enqueue('brand-new', 'Record', 'x');
    await until('job from a new queue ran', () => records(file).length === 1);
  });

  it('records every bad input as a failure with a clear message and keeps working', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.redis.sadd('resque:queues', 'q');
    await t.redis.rpush('resque:queue:q', '{not json', '{"args":[1]}', '[1,2]', '{"class":"","args":[]}');
    await t.client.enqueue('q', 'NoSuchJob', 1);
    await t.client.enqueue('q', 'Broken');
    await t.client.enqueue('q', 'NoPerform');
    await t.client.enqueue('q', 'Fail', 7, 'x');
    await t.client.enqueue('q', 'Record', 'still alive');
    await until('all 9 processed', async () => (await t.client.stats()).processed === 9);
    const failures = (await t.client.failed.list()).map((f) => f.record);
    assert.deepEqual(failures.map((f) => f?.exception), [
      'Forkpool::MalformedPayload', 'Forkpool::MalformedPayload', 'Forkpool::MalformedPayload', 'Forkpool::MalformedPayload',
      'Forkpool::UnknownJobClass', 'Forkpool::JobLoadError', 'Forkpool::JobLoadError', 'PaymentDeclined',
    ]);
    assert.match(failures[0]?.error ?? '', /not valid JSON/);
    assert.equal(failures[0]?.payload, '{not json', 'the unparseable item is kept as it was');
    assert.match(failures[1]?.error ?? '', /no "class"/);
    assert.match(failures[2]?.error ?? '', /not a JSON object/);
    assert.match(failures[3]?.error ?? '', /empty "class"/);
    assert.match(failures[4]?.error ?? '', /no job module for class NoSuchJob/);
    assert.match(failures[5]?.error ?? '', /Broken\.js failed to load: Error: cannot connect to the payments API/);
    assert.match(failures[6]?.error ?? '', /does not export a perform/);
    assert.equal(failures[7]?.error, 'declined with [7,"x"]');
    assert.deepEqual(failures[7]?.payload, { class: 'Fail', args: [7, 'x'] });
    assert.equal(failures[7]?.queue, 'q');
    assert.match(failures[7]?.worker ?? '', /^[^:]+:\d+-[0-9a-f]{8}:q$/);
    assert.ok((failures[7]?.backtrace.length ?? 0) > 0, 'the backtrace is recorded');
    assert.match(failures[7]?.failed_at ?? '', /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d UTC$/);
    assert.equal((await t.client.stats()).failed, 8);
    assert.equal(records(file).length, 1, 'the good job after them ran');
  });

  it('runs only modules the listing of JOBS_DIR finds: no helper, no node_modules, nothing outside it', async () => {
    const { jobsDir, marker } = trickyJobsFolder();
    await t.start({ QUEUES: 'q', JOBS_DIR: jobsDir });
    const tricks = ['_helper', 'node_modules::pkg::Job', 'Link', 'Out::Job', '..::Top', '../Top', 'Out::..::Top', '../../etc/passwd'];
    await t.redis.sadd('resque:queues', 'q');
    await t.redis.rpush('resque:queue:q', ...[...tricks, 'Inside'].map((c) => JSON.stringify({ class: c, args: [] })));
    await until('all processed', async () => (await t.client.stats()).processed === tricks.length + 1);
    const failures = (await t.client.failed.list()).map((f) => f.record);
    assert.deepEqual(failures.map((f) => (f?.payload as { class: string }).class), tricks, 'the job inside, through a symlink that stays inside, ran');
    for (const f of failures) {
      assert.equal(f?.exception, 'Forkpool::UnknownJobClass');
      assert.match(f?.error ?? '', /^no job module for class /);
    }
    assert.equal(existsSync(marker) ? readFileSync(marker, 'utf8') : '', '', 'no module outside the listing was loaded');
  });

  it('CONCURRENCY=2 runs two jobs at once', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file, CONCURRENCY: '2' });
    await t.client.enqueue('q', 'Sleep', 0.5, 'a');
    await t.client.enqueue('q', 'Sleep', 0.5, 'b');
    await until('both ended', () => records(file).filter((r) => r.event === 'end').length === 2);
    assert.deepEqual(records(file).map((r) => r.event), ['start', 'start', 'end', 'end']);
  });

  it('JOBS_PER_CHILD=1 gives every job a fresh process; larger values reuse a child, then recycle it (fork mode: always a fresh fork)', async () => {
    const fresh = tempRecordFile();
    const w1 = await t.start({ QUEUES: 'fresh', RECORD_FILE: fresh });
    for (let i = 0; i < 4; i++) await t.client.enqueue('fresh', 'Pid', i);
    await until('4 fresh jobs', () => records(fresh).length === 4);
    assert.equal(new Set(records(fresh).map((r) => r.pid)).size, 4);
    assert.deepEqual(records(fresh).map((r) => r.runs), [1, 1, 1, 1]);
    await stopWorker(w1);

    const reuse = tempRecordFile();
    await t.start({ QUEUES: 'reuse', RECORD_FILE: reuse, JOBS_PER_CHILD: '3' });
    for (let i = 0; i < 7; i++) await t.client.enqueue('reuse', 'Pid', i);
    await until('7 reused jobs', () => records(reuse).length === 7);
    if (isolation === 'fork') {
      assert.deepEqual(records(reuse).map((r) => r.runs), [1, 1, 1, 1, 1, 1, 1], 'fork mode forks a fresh child for every job');
      return;
    }
    assert.deepEqual(records(reuse).map((r) => r.runs), [1, 2, 3, 1, 2, 3, 1]);
    const pids = records(reuse).map((r) => r.pid);
    assert.equal(new Set(pids).size, 3);
    assert.equal(pids[0], pids[2]);
    assert.notEqual(pids[2], pids[3]);
  });

  it('what a job writes to stdout all comes out, more than a pipe holds, though its child ends at once', async () => {
    const w = await t.start({ QUEUES: 'loud' });
    await t.client.enqueue('loud', 'Loud', 16, 32 * 1024);
    await until('1 processed', async () => (await t.client.stats()).processed === 1);
    // The master's log lines share the stream: one may land inside a long line of the job's (a write that big
    // is not atomic), so what is counted is the job's markers and bytes, wherever they fall.
    const out = (): string => w.logs.filter((l) => l.level === undefined).map((l) => String(l.msg)).join('\n');
    await until('all 16 lines', () => (out().match(/x/g) ?? []).length === 16 * 32 * 1024);
    assert.deepEqual([...out().matchAll(/loud (\d+) /g)].map((m) => Number(m[1])), Array.from({ length: 16 }, (_, i) => i));
  });

  // A spawn-mode child ends without Node's teardown after its last job (spawn-child.ts), unless a job asked to be
  // told: its 'exit' listeners run. Fork-mode children leave with _exit, as Resque's do with exit!.
  if (isolation === 'spawn') it('runs a job\'s process \'exit\' listeners when its child ends, and ends other children as cleanly', async () => {
    for (const jobsPerChild of ['1', '2']) {
      const file = tempRecordFile();
      const w = await t.start({ QUEUES: 'hooks', RECORD_FILE: file, JOBS_PER_CHILD: jobsPerChild });
      await t.client.enqueue('hooks', 'ExitHook', 1);
      await t.client.enqueue('hooks', 'Pid', 2);
      await t.client.enqueue('hooks', 'ExitHook', 3);
      await t.client.enqueue('hooks', 'Pid', 4);
      await until('4 jobs ran, 2 exit hooks', () => records(file).length === 6);
      const rec = records(file);
      const ran = (id: number) => rec.find((r) => r.id === id && r.event !== 'exit-hook');
      const hooks = rec.filter((r) => r.event === 'exit-hook');
      assert.deepEqual(hooks.map((h) => h.id).sort(), [1, 3], `JOBS_PER_CHILD=${jobsPerChild}`);
      // Each hook ran in the process of the job that registered it, as that process ended.
      for (const h of hooks) assert.equal(h.pid, ran(Number(h.id))?.pid);
      if (jobsPerChild === '2') assert.equal(ran(1)?.pid, ran(2)?.pid, 'the hook waits for the child\'s last job');
      const stats = await t.client.stats();
      assert.deepEqual([stats.processed, stats.failed, await t.client.failed.count()], [4, 0, 0]);
      await stopWorker(w);
      await t.redis.flushdb();
    }
  });

  it('retries failed jobs with backoff through the delayed set, then records the last failure', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file, RETRY_ATTEMPTS: '2', RETRY_BACKOFF_SECONDS: '1' });
    await t.client.enqueue('q', 'Flaky', 'ok-third-time', 3);
    await t.client.enqueue('q', 'Flaky', 'never', 10);
    await until('3 attempts each', () => records(file).length === 6, 20_000);
    await until('final failure recorded', async () => (await t.client.failed.count()) === 1);
    const attempts = (id: string): unknown[] => records(file).filter((r) => r.event === `flaky-${id}`).map((r) => r.attempt);
    assert.deepEqual(attempts('ok-third-time'), [1, 2, 3]);
    assert.deepEqual(attempts('never'), [1, 2, 3]);
    const [failure] = await t.client.failed.list();
    assert.equal(failure?.record?.error, 'attempt 3 of never fails');
    assert.equal((failure?.record?.payload as { forkpool_attempt: number }).forkpool_attempt, 2);
    assert.equal(await t.client.delayed.count(), 0);
  });

  it('runs delayed jobs when they are due (enqueueAt / enqueueIn) without any operator', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'later', RECORD_FILE: file });
    const before = Date.now();
    await t.client.enqueueIn(2, 'later', 'Record', 'delayed');
    await t.client.enqueueIn(3600, 'later', 'Record', 'not yet');
    await until('delayed job ran', () => records(file).length === 1, 10_000);
    assert.ok(Date.now() - before >= 1000, 'not before it was due');
    assert.deepEqual(records(file)[0]?.args, ['delayed']);
    assert.equal(await t.client.delayed.count(), 1);
  });

  it('registers in Resque\'s keys, shows the running job, and unregisters on exit', async () => {
    const file = tempRecordFile();
    const w = await t.start({ QUEUES: 'slow', RECORD_FILE: file });
    await t.client.enqueue('slow', 'Sleep', 1, 'visible');
    await until('job started', () => records(file).length === 1);
    const [info] = await t.client.workers();
    assert.equal(info?.pid, w.pid);
    assert.deepEqual(info?.queues, ['slow']);
    assert.match(info?.started ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$/);
    assert.match(info?.heartbeat ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    assert.deepEqual(info?.job?.payload, { class: 'Sleep', args: [1, 'visible'] });
    assert.equal(info?.job?.queue, 'slow');
    assert.equal(info?.inFlight, 1);
    await stopWorker(w);
    assert.deepEqual(await t.client.workers(), []);
    assert.equal((await t.client.stats()).processed, 1);
  });
});
