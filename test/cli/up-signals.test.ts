// forkpool up and its signals as a user meets them: ^C typed in a real terminal (a pseudo-terminal whose line
// discipline signals the whole foreground process group), twice, and `up` itself killed.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { alive, JOBS_DIR, records, tempRecordFile } from '../helpers/worker.ts';
import { killStarted, startCli, startCliInTerminal } from './helpers.ts';

let server: RedisServer;
let redis: Redis;
const WORKER_BIN = fileURLToPath(new URL('../../worker-image/src/bin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'forkpool-up-signals-test-'));
/** Workers seen, SIGKILLed at the end should a test fail and leave one behind. */
const workerPids = new Set<number>();

const hasScript = ((): boolean => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const terminal = { skip: hasScript ? false : 'needs util-linux script for a pseudo-terminal' };

before(async () => {
  server = await startRedis();
  redis = server.connect();
});
beforeEach(async () => {
  await redis.flushdb();
});
// A test that failed can leave its `up` and workers running, and a worker left running takes the next test's jobs.
afterEach(() => {
  killStarted();
  for (const pid of workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
});
after(async () => {
  await server.stop();
});

function poolFile(url = server.url): string {
  const file = join(dir, `pool-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `apiVersion: forkpool.io/v1alpha1
kind: JobPool
metadata: { name: demo }
spec:
  redis: { url: "${url}" }
  queues: [work]
  template: { spec: { containers: [{ name: worker, image: example.com/jobs:1 }] } }
  scaling: { minReplicas: 1, maxReplicas: 1, pollIntervalSeconds: 1 }
`);
  return file;
}

const sleepJob = (seconds: number, id: string): string => JSON.stringify({ class: 'Sleep', args: [seconds, id] });

async function enqueue(payload: string, to = redis): Promise<void> {
  await to.pipeline().sadd('resque:queues', 'work').rpush('resque:queue:work', payload).exec();
}

/** The pids of the workers `up --json` reported started, in its output. */
function startedWorkers(output: string): number[] {
  return output.split(/\r?\n/).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; pid?: number })
    .filter((e) => e.type === 'worker-started').map((e) => e.pid ?? 0);
}

/** Settles as `p` does, or rejects once `ms` passed (with `detail()`, e.g. what the terminal showed, in the message). */
async function within<T>(ms: number, what: string, p: Promise<T>, detail: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const shown = detail();
      reject(new Error(`${what} not within ${ms} ms${shown === '' ? '' : `:\n${shown}`}`));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('forkpool up in a terminal', () => {
  it('on one ^C lets the running job finish, exactly once, and exits 0', terminal, async () => {
    const recordFile = tempRecordFile();
    const logFile = join(dir, 'once.log');
    const up = startCliInTerminal(['up', poolFile(), '--jobs', JOBS_DIR, '--json', '--log-file', logFile], { RECORD_FILE: recordFile });
    await enqueue(sleepJob(2, 'ctrl-c'));
    await until('the job started', () => records(recordFile).some((r) => r.id === 'ctrl-c' && r.event === 'start'), 20_000);
    for (const pid of startedWorkers(up.output())) workerPids.add(pid);

    up.ctrlC();
    assert.equal(await within(15_000, 'up exiting', up.exited, up.output), 0, up.output());
    assert.match(up.output(), /SIGINT: stopping 1 worker\(s\) after their running jobs/, 'the terminal sent up a SIGINT');
    assert.deepEqual(records(recordFile).filter((r) => r.id === 'ctrl-c').map((r) => r.event), ['start', 'end'], 'run once, to its end');
    assert.equal(await redis.get('resque:stat:processed'), '1');
    assert.equal(await redis.llen('resque:failed'), 0);
    assert.equal(await redis.llen('resque:queue:work'), 0, 'not handed back');
    assert.equal(await redis.scard('resque:workers'), 0);
    const workerLog = readFileSync(logFile, 'utf8');
    assert.doesNotMatch(workerLog, /second stop signal|handed back/, 'the workers had one stop signal');
    assert.equal((workerLog.match(/"msg":"stop signal"/g) ?? []).length, 1, 'the worker had one stop signal');
  });

  it('on a second ^C hands the running job back to its queue at once', terminal, async (t) => {
    const recordFile = tempRecordFile();
    const up = startCliInTerminal(['up', poolFile(), '--jobs', JOBS_DIR, '--json', '--log-file', join(dir, 'twice.log')], { RECORD_FILE: recordFile });
    const payload = sleepJob(60, 'long');
    await enqueue(payload);
    await until('the job started', () => records(recordFile).some((r) => r.id === 'long' && r.event === 'start'), 20_000);
    for (const pid of startedWorkers(up.output())) workerPids.add(pid);

    up.ctrlC();
    await until('the first ^C taken', () => /SIGINT: stopping/.test(up.output()));
    up.ctrlC();
    // Should the terminal show no sign of this ^C within 5 s (a ^C lost under load has been seen in CI, cause
    // unknown), it is typed again, and the run reports that with what the terminal showed.
    try {
      await until('the second ^C taken', () => /handing unfinished jobs back/.test(up.output()), 5000);
    } catch {
      t.diagnostic(`the second ^C showed nothing within 5 s; typed again. The terminal so far:\n${up.output()}`);
      up.ctrlC();
    }
    assert.equal(await within(10_000, 'up exiting', up.exited, up.output), 0, up.output());
    assert.match(up.output(), /SIGINT: handing unfinished jobs back to their queues/);
    assert.ok(!records(recordFile).some((r) => r.id === 'long' && r.event === 'end'), 'the job did not run to its end');
    assert.deepEqual(await redis.lrange('resque:queue:work', 0, -1), [payload], 'the job is back in its queue, once');
    assert.equal(await redis.llen('resque:failed'), 0);
    assert.equal(await redis.scard('resque:workers'), 0);
  });

  it('on one ^C keeps the session\'s redis-server until the running job is done', terminal, async () => {
    const port = await freePort();
    const recordFile = tempRecordFile();
    const logFile = join(dir, 'session.log');
    const up = startCliInTerminal(['up', poolFile(`redis://127.0.0.1:${port}`), '--jobs', JOBS_DIR, '--json', '--log-file', logFile], { RECORD_FILE: recordFile });
    await until('the session\'s redis-server', () => /for this session/.test(up.output()), 20_000);
    const session = new Redis({ port, host: '127.0.0.1' });
    session.on('error', () => undefined);
    try {
      await enqueue(sleepJob(2, 'session'), session);
    } finally {
      session.disconnect();
    }
    await until('the job started', () => records(recordFile).some((r) => r.id === 'session' && r.event === 'start'), 20_000);
    for (const pid of startedWorkers(up.output())) workerPids.add(pid);

    up.ctrlC();
    assert.equal(await within(15_000, 'up exiting', up.exited, up.output), 0, up.output());
    assert.deepEqual(records(recordFile).filter((r) => r.id === 'session').map((r) => r.event), ['start', 'end'], 'run once, to its end');
    assert.match(up.output(), /stopped the session's redis-server/);
    const workerLog = readFileSync(logFile, 'utf8');
    assert.match(workerLog, /"msg":"job done"/);
    assert.doesNotMatch(workerLog, /second stop signal|handed back|Redis unreachable/);
  });
});

describe('forkpool up killed', () => {
  it('leaves no worker behind: each finishes its running job and exits', async () => {
    const recordFile = tempRecordFile();
    const up = startCli(['up', poolFile(), '--jobs', JOBS_DIR, '--json', '--log-file', join(dir, 'killed.log')], { RECORD_FILE: recordFile });
    await enqueue(sleepJob(2, 'orphaned'));
    await until('the job started', () => records(recordFile).some((r) => r.id === 'orphaned' && r.event === 'start'), 20_000);
    const pids = startedWorkers(up.stdout());
    assert.equal(pids.length, 1);
    for (const pid of pids) workerPids.add(pid);

    up.proc.kill('SIGKILL');
    await up.exited;
    await until('the worker gone', () => pids.every((pid) => !alive(pid)), 15_000);
    assert.deepEqual(records(recordFile).filter((r) => r.id === 'orphaned').map((r) => r.event), ['start', 'end'], 'run once, to its end');
    assert.equal(await redis.get('resque:stat:processed'), '1');
    assert.equal(await redis.llen('resque:failed'), 0);
    assert.equal(await redis.scard('resque:workers'), 0, 'the worker unregistered');
  });

  it('leaves a worker already stopping to finish its job, not to hand it back', async () => {
    const recordFile = tempRecordFile();
    // A worker as up starts it (an IPC channel to its parent), told to stop while its job runs, as on a scale-down.
    const worker = spawn(process.execPath, [WORKER_BIN], {
      env: { ...process.env, REDIS_URL: server.url, QUEUES: 'work', JOBS_DIR, PORT: '0', RECORD_FILE: recordFile },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    workerPids.add(worker.pid ?? 0);
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    await enqueue(sleepJob(2, 'draining'));
    await until('the job started', () => records(recordFile).some((r) => r.id === 'draining' && r.event === 'start'), 20_000);
    worker.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    worker.disconnect(); // what the worker sees of a parent that died

    assert.equal(await within(15_000, 'the worker exiting', exited), 0);
    assert.deepEqual(records(recordFile).filter((r) => r.id === 'draining').map((r) => r.event), ['start', 'end'], 'run once, to its end');
    assert.equal(await redis.get('resque:stat:processed'), '1');
    assert.equal(await redis.llen('resque:queue:work'), 0, 'not handed back');
  });
});
