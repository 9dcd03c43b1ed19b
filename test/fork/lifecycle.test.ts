// Fork mode under a master's control: concurrency, limits, kills, the zygote's and the master's
// deaths, and no leak of descriptors or zombies over many forks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { Zygote } from '../../worker-image/src/fork/zygote.ts';
import { childrenOf, fdLinks, isAlive, startTestZygote, tempDir } from './helpers.ts';
import { until } from '../helpers/wait.ts';

describe('fork mode: lifecycle', () => {
  let zygote: Zygote;
  const tmp = tempDir();
  before(async () => {
    zygote = await startTestZygote({ memoryCheckMs: 50 });
  });
  after(async () => {
    await zygote?.close();
    tmp.remove();
  });

  it('runs jobs side by side, each in a child of its own', async () => {
    const started = performance.now();
    const jobs = [0, 1, 2].map((i) => zygote.run('Sleep', [300, tmp.file(`pid-${i}`)]));
    const pids = await Promise.all(jobs.map((j) => j.started));
    assert.equal(zygote.running, 3);
    assert.equal(new Set(pids).size, 3);
    for (const pid of pids) assert.ok(pid !== null && isAlive(pid));
    const outcomes = await Promise.all(jobs.map((j) => j.done));
    assert.deepEqual(outcomes.map((o) => o.status), ['ok', 'ok', 'ok']);
    assert.ok(performance.now() - started < 900, 'three 300 ms jobs ran at once');
    pids.forEach((pid, i) => assert.equal(readFileSync(tmp.file(`pid-${i}`), 'utf8'), String(pid)));
    assert.equal(zygote.running, 0);
  });

  it('kills a job that runs past its timeout', async () => {
    const outcome = await zygote.run('Sleep', [10_000], { timeoutMs: 150 }).done;
    assert.equal(outcome.status, 'killed');
    if (outcome.status !== 'killed') return;
    assert.equal(outcome.reason, 'timeout');
    assert.deepEqual(outcome.exit, { code: null, signal: 'SIGKILL' });
    assert.ok(outcome.durationMs >= 150 && outcome.durationMs < 2000, `${outcome.durationMs} ms`);
  });

  it('kills a job that exceeds its memory cap, and says how much it had', async () => {
    const cap = 200 * 1024 * 1024;
    const outcome = await zygote.run('Hog', [], { maxRssBytes: cap, timeoutMs: 20_000 }).done;
    assert.equal(outcome.status, 'killed');
    if (outcome.status !== 'killed') return;
    assert.equal(outcome.reason, 'memory');
    assert.ok((outcome.rssBytes ?? 0) > cap, `rss ${outcome.rssBytes} over the cap`);
  });

  it('kills on request, also when asked before the child is forked', async () => {
    const job = zygote.run('Sleep', [10_000]);
    job.kill();
    const outcome = await job.done;
    assert.equal(outcome.status === 'killed' && outcome.reason, 'request');
    assert.ok(outcome.pid !== null && !isAlive(outcome.pid));
  });

  it('runs a GC-heavy job to the end (the zygote is single-threaded, so no GC waits on a missing thread)', async () => {
    const outcome = await zygote.run('Gc', [40], { timeoutMs: 60_000 }).done;
    assert.equal(outcome.status, 'ok', JSON.stringify(outcome));
  });

  it('leaks no descriptor and leaves no zombie over 500 sequential forks', async () => {
    await zygote.run('Noop', []).done;
    const fdsBefore = fdLinks(zygote.pid).size;
    for (let i = 0; i < 500; i++) {
      const outcome = await zygote.run(i % 5 === 0 ? 'Throw' : 'Noop', [i]).done;
      assert.ok(outcome.status === 'ok' || outcome.status === 'failed', JSON.stringify(outcome));
    }
    assert.equal(fdLinks(zygote.pid).size, fdsBefore);
    const children = childrenOf(zygote.pid);
    assert.equal(children.length, 1, `only the spare forked ahead of the next job: ${JSON.stringify(children)}`);
    assert.ok(!children[0]?.state.startsWith('Z'), 'and it is no zombie');
  });

  it('reports running jobs as lost when the zygote dies, and their children die with it', async () => {
    const doomed = await startTestZygote();
    const job = doomed.run('Sleep', [60_000]);
    const pid = await job.started;
    assert.ok(pid !== null);
    process.kill(doomed.pid, 'SIGKILL');
    const outcome = await job.done;
    assert.equal(outcome.status, 'lost');
    assert.match(outcome.status === 'lost' ? outcome.reason : '', /zygote exited \(signal SIGKILL\)/);
    await until('the orphaned child to die', () => !isAlive(pid), 5000);
    assert.equal((await doomed.run('Noop', []).done).status, 'lost');
  });

  it('close() kills running children and ends the zygote', async () => {
    const closing = await startTestZygote();
    const job = closing.run('Sleep', [60_000]);
    const pid = await job.started;
    assert.deepEqual(await closing.close(), { code: 0, signal: null });
    const outcome = await job.done;
    assert.equal(outcome.status === 'killed' && outcome.reason, 'request');
    assert.ok(pid !== null && !isAlive(pid));
  });

  it('the zygote and its children die with the master', async () => {
    const master = spawn(process.execPath, [new URL('./master-process.ts', import.meta.url).pathname], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = await createInterface({ input: master.stdout })[Symbol.asyncIterator]().next().then((r) => [r.value as string]);
    const { zygotePid, childPid } = JSON.parse(line ?? '{}') as { zygotePid: number; childPid: number };
    assert.ok(isAlive(zygotePid) && isAlive(childPid));
    master.kill('SIGKILL');
    await until('the zygote to die with its master', () => !isAlive(zygotePid), 5000);
    await until('the job child to die with its zygote', () => !isAlive(childPid), 5000);
  });
});
