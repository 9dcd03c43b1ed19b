// Job lifecycle hooks, per job and global (JOBS_DIR/forkpool.hooks.js), with Resque's semantics, the same in both
// isolation modes. The fixture folder test/fixtures/hooks/jobs records every hook and perform that ran.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

const HOOKS_JOBS_DIR = fileURLToPath(new URL('../fixtures/hooks/jobs/', import.meta.url));

/** The hooks and performs recorded for one class, in the order they ran, without fork mode's afterFork. */
function ran(file: string, className?: string): string[] {
  return records(file).filter((r) => r.hook !== 'beforeFork' && r.hook !== 'afterFork' && (className === undefined || r.className === undefined || r.className === className)).map((r) => String(r.hook));
}

for (const isolation of ['spawn', 'fork'] as const) describe(`worker: job hooks (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation, { JOBS_DIR: HOOKS_JOBS_DIR });

  it('runs beforeJob, the job\'s hooks by name within each kind, around hooks nested around perform, then afterJob', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'Ordered', 7, 'x');
    await until('processed', async () => (await t.client.stats()).processed === 1);
    assert.deepEqual(ran(file), [
      'beforeJob',
      'beforePerform', 'beforePerformA', 'beforePerformB',
      'aroundPerform:before', 'aroundPerformInner:before', 'perform', 'aroundPerformInner:after', 'aroundPerform:after',
      'afterPerform', 'afterPerformZ',
      'afterJob',
    ]);
    const rec = records(file);
    for (const r of rec.filter((r) => r.args !== undefined && r.hook !== 'beforeJob')) assert.deepEqual(r.args, [7, 'x'], `${String(r.hook)} gets the job's arguments`);
    assert.deepEqual(rec.find((r) => r.hook === 'beforeJob')?.args, [7, 'x']);
    assert.equal(rec.find((r) => r.hook === 'aroundPerformInner:after')?.result, 'performed', 'the continuation resolves to what perform returned');
    assert.equal(new Set(rec.filter((r) => r.hook !== 'beforeFork').map((r) => r.pid)).size, 1, 'every hook runs in the job\'s child');
    assert.equal(await t.client.failed.count(), 0);
  });

  it('an around hook that does not call its continuation: not performed, not failed, afterPerform still runs (as Resque)', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'Declined');
    await until('processed', async () => (await t.client.stats()).processed === 1);
    assert.deepEqual(ran(file), ['beforeJob', 'aroundPerform', 'afterPerform', 'afterJob']);
    assert.deepEqual([(await t.client.stats()).failed, await t.client.failed.count()], [0, 0]);
  });

  it('DontPerform from a before hook skips the job: nothing after it runs, it counts as processed, not failed', async () => {
    const file = tempRecordFile();
    const w = await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'Skipped', 1);
    await until('processed', async () => (await t.client.stats()).processed === 1);
    assert.deepEqual(ran(file), ['beforeJob', 'beforePerformA']);
    assert.deepEqual([(await t.client.stats()).failed, await t.client.failed.count()], [0, 0]);
    const line = await w.waitForLog((l) => l.msg === 'job skipped: a before hook threw DontPerform');
    assert.deepEqual([line.class, line.hook, line.reason], ['Skipped', 'beforePerformA', 'already sent']);
  });

  it('any other error from a before hook fails the job without performing it; onFailure gets the error and the arguments', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'BeforeFails', 'invoice-9');
    await until('failure recorded', async () => (await t.client.failed.count()) === 1);
    assert.deepEqual(ran(file), ['beforeJob', 'beforePerform', 'onFailure', 'onFailure (global)']);
    const rec = records(file);
    assert.deepEqual(rec.find((r) => r.hook === 'onFailure'), { hook: 'onFailure', error: 'LockTaken: lock for invoice-9 is taken', args: ['invoice-9'], pid: rec.find((r) => r.hook === 'onFailure')?.pid });
    const global = rec.find((r) => r.hook === 'onFailure (global)');
    assert.deepEqual([global?.className, global?.error, global?.args], ['BeforeFails', 'LockTaken: lock for invoice-9 is taken', ['invoice-9']]);
    const [failure] = await t.client.failed.list();
    assert.deepEqual([failure?.record?.exception, failure?.record?.error], ['LockTaken', 'lock for invoice-9 is taken']);
  });

  it('a failed job runs its onFailure hooks then the global one; a failure hook that throws is logged and hides nothing', async () => {
    const file = tempRecordFile();
    const w = await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'PerformFails', 4242);
    await until('failure recorded', async () => (await t.client.failed.count()) === 1);
    assert.deepEqual(ran(file), ['beforeJob', 'perform', 'onFailure', 'onFailureAlert', 'onFailure (global)'], 'no afterPerform, no afterJob');
    assert.deepEqual(records(file).find((r) => r.hook === 'onFailure')?.args, [4242]);
    const [failure] = await t.client.failed.list();
    assert.deepEqual([failure?.record?.exception, failure?.record?.error], ['PaymentDeclined', 'card 4242 declined']);
    const line = await w.waitForLog((l) => l.msg === 'a failure hook threw; the job keeps its own error');
    assert.deepEqual([line.class, line.hook, (line.err as { message?: string } | undefined)?.message], ['PerformFails', 'onFailureAlert', 'the alerting service is down']);
  });

  it('the global onFailure hears of a job whose class has no module', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'NoSuchJob', 1);
    await until('failure recorded', async () => (await t.client.failed.count()) === 1);
    const global = records(file).find((r) => r.hook === 'onFailure (global)');
    assert.equal(global?.className, 'NoSuchJob');
    assert.match(String(global?.error), /^Forkpool::UnknownJobClass: no job module for class NoSuchJob/);
  });

  if (isolation === 'fork') it('beforeFork runs once in the zygote, afterFork in each job\'s child before beforeJob', async () => {
    const file = tempRecordFile();
    const w = await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'Ordered', 1);
    await t.client.enqueue('q', 'Declined');
    await until('processed', async () => (await t.client.stats()).processed === 2);
    const rec = records(file);
    const beforeFork = rec.filter((r) => r.hook === 'beforeFork');
    assert.equal(beforeFork.length, 1);
    assert.notEqual(beforeFork[0]?.pid, w.pid, 'not in the master');
    const afterFork = rec.filter((r) => r.hook === 'afterFork');
    assert.deepEqual(afterFork.map((r) => r.className), ['Ordered', 'Declined']);
    for (const a of afterFork) {
      const ofJob = rec.filter((r) => r.pid === a.pid);
      assert.equal(ofJob[0], a, 'afterFork is the first hook in its child');
      assert.equal(ofJob[1]?.hook, 'beforeJob');
      assert.notEqual(a.pid, beforeFork[0]?.pid);
    }
  });

  if (isolation === 'spawn') it('beforeFork and afterFork do not run without a fork', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file });
    await t.client.enqueue('q', 'Declined');
    await until('processed', async () => (await t.client.stats()).processed === 1);
    assert.deepEqual(records(file).filter((r) => r.hook === 'beforeFork' || r.hook === 'afterFork'), []);
  });

  const brokenHooks = [
    { name: 'throws while loading', source: "throw new Error('SENTRY_DSN is not set');\n", error: /^forkpool\.hooks\.mjs failed to load: Error: SENTRY_DSN is not set$/ },
    { name: 'exports an unknown name', source: 'export function onFailur() {}\n', error: /^forkpool\.hooks\.mjs exports onFailur, which is not a hook \(the hooks are beforeFork, afterFork, beforeJob, afterJob, onFailure\)$/ },
    { name: 'exports a hook that is not a function', source: 'export const beforeJob = true;\n', error: /^forkpool\.hooks\.mjs exports beforeJob as boolean; a hook must be a function$/ },
  ];
  for (const { name, source, error } of brokenHooks) it(`a hooks module that ${name} fails every job as Forkpool::HooksLoadError, and says so in the log`, async () => {
    const jobsDir = mkdtempSync(join(tmpdir(), 'forkpool-hooks-'));
    const file = tempRecordFile();
    writeFileSync(join(jobsDir, 'Record.js'), "import { appendFileSync } from 'node:fs';\nexport function perform() { appendFileSync(process.env.RECORD_FILE, '{}\\n'); }\n");
    writeFileSync(join(jobsDir, 'forkpool.hooks.mjs'), source);
    const w = await t.start({ QUEUES: 'q', RECORD_FILE: file, JOBS_DIR: jobsDir });
    await t.client.enqueue('q', 'Record', 1);
    await t.client.enqueue('q', 'Record', 2);
    await until('both failed', async () => (await t.client.failed.count()) === 2);
    for (const { record } of await t.client.failed.list()) {
      assert.equal(record?.exception, 'Forkpool::HooksLoadError');
      assert.match(record?.error ?? '', error);
    }
    assert.deepEqual(records(file), [], 'no job ran without its hooks');
    const line = await w.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('hooks module: '));
    assert.match(String(line.msg), /every job fails with Forkpool::HooksLoadError until it is fixed$/);
    assert.equal(w.proc.exitCode, null, 'the worker goes on');
  });
});
