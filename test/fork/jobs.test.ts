// Fork mode runs jobs: sync and async, ESM, CommonJS and namespaced, and reports every way one ends.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Zygote } from '../../worker-image/src/fork/zygote.ts';
import { JOBS_DIR, readJson, startTestZygote, tempDir } from './helpers.ts';

describe('fork mode: running jobs', () => {
  let zygote: Zygote;
  const tmp = tempDir();
  before(async () => {
    zygote = await startTestZygote();
  });
  after(async () => {
    await zygote?.close();
    tmp.remove();
  });

  it('loads every job module once, and names those that failed to load', () => {
    assert.ok(zygote.jobs.includes('Add'));
    assert.ok(zygote.jobs.includes('Reports::Daily'));
    assert.ok(zygote.jobs.includes('Legacy'));
    assert.deepEqual(zygote.loadErrors.map((e) => e.className), ['Broken']);
    assert.match(zygote.loadErrors[0]?.error.message ?? '', /broken at load/);
  });

  it('runs a sync job in a child of the zygote and reports ok with the exit status and rss', async () => {
    const out = tmp.file('add');
    const job = zygote.run('Add', [out, 2, 3]);
    const pid = await job.started;
    const outcome = await job.done;
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.pid, pid);
    assert.notEqual(pid, zygote.pid);
    assert.deepEqual(outcome.status === 'ok' && outcome.exit, { code: 0, signal: null });
    assert.ok(outcome.status === 'ok' && outcome.rssBytes > 1024 * 1024, 'the child reports its resident memory');
    assert.equal(readFileSync(out, 'utf8'), '5');
  });

  it('passes large arguments whole (commands span many reads)', async () => {
    const out = tmp.file('large');
    const big = 'é'.repeat(300_000);
    const outcome = await zygote.run('Add', [out, big, '!']).done;
    assert.equal(outcome.status, 'ok');
    assert.equal(readFileSync(out, 'utf8'), `${big}!`);
  });

  it('runs .mjs, .cjs and namespaced classes', async () => {
    const mjs = tmp.file('daily');
    const cjs = tmp.file('legacy');
    const outcomes = await Promise.all([zygote.run('Reports::Daily', [mjs, 'monday']).done, zygote.run('Legacy', [cjs]).done]);
    assert.deepEqual(outcomes.map((o) => o.status), ['ok', 'ok']);
    assert.equal(readFileSync(mjs, 'utf8'), 'report for monday');
    assert.equal(readFileSync(cjs, 'utf8'), 'cjs');
  });

  it('runs async jobs: timers, the thread pool, and a TCP round trip', async () => {
    const server = createServer((socket) => {
      let data = '';
      socket.on('data', (chunk) => (data += String(chunk)));
      socket.on('end', () => socket.end(`pong to ${data}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const out = tmp.file('async');
      const outcome = await zygote.run('AsyncIo', [out, (server.address() as AddressInfo).port]).done;
      assert.equal(outcome.status, 'ok', JSON.stringify(outcome));
      assert.deepEqual(readJson(out), { reply: 'pong to ping', readOwnSource: true });
    } finally {
      server.close();
    }
  });

  it('runs another program from a forked child', async () => {
    const out = tmp.file('program');
    const outcome = await zygote.run('RunProgram', [out]).done;
    assert.equal(outcome.status, 'ok', JSON.stringify(outcome));
    assert.equal(readFileSync(out, 'utf8'), 'from-sh');
  });

  it('reports what a job throws: name, message and stack', async () => {
    const outcome = await zygote.run('Throw', [42]).done;
    assert.equal(outcome.status, 'failed');
    if (outcome.status !== 'failed') return;
    assert.equal(outcome.error.name, 'PaymentDeclined');
    assert.equal(outcome.error.message, 'card declined for 42');
    assert.match(outcome.error.stack[0] ?? '', /Throw\.js/);
    assert.deepEqual(outcome.exit, { code: 0, signal: null });
  });

  it('reports what an async job rejects with', async () => {
    const outcome = await zygote.run('Reject', []).done;
    assert.equal(outcome.status === 'failed' && `${outcome.error.name}: ${outcome.error.message}`, 'RangeError: out of range');
  });

  it('reports an exception thrown outside perform as the job failure', async () => {
    const outcome = await zygote.run('Uncaught', []).done;
    assert.equal(outcome.status === 'failed' && `${outcome.error.name}: ${outcome.error.message}`, 'TypeError: thrown from a timer');
  });

  it('fails a job whose promise can never settle instead of hanging', async () => {
    const outcome = await zygote.run('Never', []).done;
    assert.equal(outcome.status === 'failed' && outcome.error.name, 'Forkpool::JobNeverSettled');
  });

  it('reports a child that kills itself with SIGKILL as crashed by that signal', async () => {
    const outcome = await zygote.run('SelfKill', ['SIGKILL']).done;
    assert.equal(outcome.status, 'crashed');
    assert.deepEqual(outcome.status === 'crashed' && outcome.exit, { code: null, signal: 'SIGKILL' });
  });

  it('reports a job that calls process.exit as crashed with its code, without hanging', async () => {
    const outcome = await zygote.run('Exit', [3]).done;
    assert.equal(outcome.status, 'crashed');
    assert.deepEqual(outcome.status === 'crashed' && outcome.exit, { code: 3, signal: null });
  });

  it('fails unknown classes and modules that failed to load, as spawn mode does', async () => {
    const unknown = await zygote.run('No::Such', []).done;
    assert.equal(unknown.status === 'failed' && unknown.error.name, 'Forkpool::UnknownJobClass');
    assert.match(unknown.status === 'failed' ? unknown.error.message : '', new RegExp(`No/Such\\.js.*${JOBS_DIR.replaceAll('/', '\\/')}|${JOBS_DIR}`));
    const broken = await zygote.run('Broken', []).done;
    assert.equal(broken.status === 'failed' && broken.error.name, 'Forkpool::JobLoadError');
    assert.match(broken.status === 'failed' ? broken.error.message : '', /broken at load/);
  });

  it('runs afterFork in the child before perform, and fails the job when it throws', async () => {
    const outcome = await zygote.run('AfterForkFails', []).done;
    assert.equal(outcome.status === 'failed' && outcome.error.message, 'afterFork refused AfterForkFails');
  });
});
