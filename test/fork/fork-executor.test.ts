// The master's side of ISOLATION=fork: executors over one shared zygote report the outcomes spawn
// mode reports (../../worker-image/src/outcome.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Executor } from '../../worker-image/src/executor.ts';
import { ForkExecutors } from '../../worker-image/src/fork/fork-executor.ts';
import { readFileSync } from 'node:fs';
import { childrenOf, isAlive, JOBS_DIR, parentOf, requireProcessAddon, tempDir } from './helpers.ts';
import { until } from '../helpers/wait.ts';

describe('fork mode: executors for the master', () => {
  let forks: ForkExecutors;
  let a: Executor;
  let b: Executor;
  const tmp = tempDir();
  const starts: number[] = [];
  before(async () => {
    requireProcessAddon();
    forks = await ForkExecutors.start({
      jobsDir: JOBS_DIR,
      limits: { timeoutMs: 2000, maxMemoryMb: 200, termGraceMs: 1000 },
      log: pino({ level: 'silent' }),
      onChildStart: (ms) => starts.push(ms),
    });
    a = forks.executor();
    b = forks.executor();
  });
  after(() => tmp.remove());

  it('maps each ending to the outcome spawn mode reports', async () => {
    const [ok, error, crashed] = await Promise.all([
      a.run({ className: 'Add', args: [tmp.file('add'), 1, 2] }),
      b.run({ className: 'Throw', args: [7] }),
      a.run({ className: 'SelfKill', args: ['SIGKILL'] }),
    ]);
    assert.deepEqual(ok.outcome, { kind: 'ok' });
    assert.equal(ok.pid !== undefined && ok.pid > 0, true);
    assert.equal(error.outcome.kind === 'error' && error.outcome.error.name, 'PaymentDeclined');
    assert.deepEqual(crashed.outcome, { kind: 'crashed', pid: crashed.pid, signal: 'SIGKILL', code: null });
    assert.ok(starts.length >= 3);
  });

  it('reports timeouts and memory caps with their limits', async () => {
    const [timeout, memory] = await Promise.all([a.run({ className: 'Sleep', args: [60_000] }), b.run({ className: 'Hog', args: [] })]);
    assert.deepEqual(timeout.outcome, { kind: 'timeout', pid: timeout.pid, limitMs: 2000 });
    assert.equal(memory.outcome.kind, 'memory');
    assert.ok(memory.outcome.kind === 'memory' && memory.outcome.rssMb > 200 && memory.outcome.limitMb === 200);
  });

  it('kill ends a running job as crashed, interrupt as interrupted', async () => {
    const killed = a.run({ className: 'Sleep', args: [60_000] });
    const interrupted = b.run({ className: 'Sleep', args: [60_000] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    a.killRunning('kill');
    b.killRunning('interrupt');
    assert.deepEqual((await killed).outcome, { kind: 'crashed', pid: (await killed).pid, signal: 'SIGKILL', code: null });
    assert.deepEqual((await interrupted).outcome, { kind: 'interrupted' });
  });

  it('starts a new zygote when the zygote dies, and the next job runs', async () => {
    const pidFile = tmp.file('sleep-pid');
    const running = a.run({ className: 'Sleep', args: [60_000, pidFile] });
    await until('the job child', () => readFileSync(pidFile, 'utf8').length > 0, 5000);
    process.kill(parentOf(Number(readFileSync(pidFile, 'utf8'))), 'SIGKILL');
    assert.equal((await running).outcome.kind, 'crashed');
    const next = await b.run({ className: 'Add', args: [tmp.file('after'), 2, 2] });
    assert.deepEqual(next.outcome, { kind: 'ok' });
  });

  it('closes the zygote once every executor is closed', async () => {
    await a.close();
    assert.deepEqual((await b.run({ className: 'Noop', args: [] })).outcome, { kind: 'ok' });
    assert.equal(childrenOf(process.pid).filter((c) => isAlive(c.pid)).length, 1, 'the zygote runs');
    await b.close();
    assert.deepEqual(childrenOf(process.pid).filter((c) => isAlive(c.pid)), []);
  });
});
