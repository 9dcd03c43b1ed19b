// Starting spawn-mode children, both ways (posix_spawn through process.node, and Node's spawn when the addon
// is missing), with real processes: the pipes on fds 3 and 4, exit codes and signals, start failures, and no
// child left unreaped.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadProcessAddon } from '../../worker-image/src/process-addon.ts';
import { nodeLaunch, posixSpawnLauncher, type Launcher } from '../../worker-image/src/launch.ts';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

const addon = loadProcessAddon();
if (!addon.ok) throw new Error(`process.node must be built for these tests: ${addon.reason}`);
const launchers: [string, Launcher][] = [['posix_spawn', posixSpawnLauncher(addon.addon)], ['child_process', nodeLaunch]];

/** A child that echoes each line from fd 3 to fd 4, upper-cased, and exits with the code it is sent. */
const ECHO = `const fs = require('node:fs'); const b = Buffer.alloc(4096); for (;;) { const n = fs.readSync(3, b);
  if (n === 0) process.exit(0); const s = b.toString('utf8', 0, n); if (/^exit (\\d+)/.test(s)) process.exit(Number(RegExp.$1));
  fs.writeSync(4, s.toUpperCase()); }`;

/** A process's state letter from /proc, or undefined once it is gone (reaped). */
const state = (pid: number): string | undefined => {
  const path = `/proc/${pid}/stat`;
  return existsSync(path) ? readFileSync(path, 'utf8').split(') ')[1]?.[0] : undefined;
};

for (const [how, launch] of launchers) describe(`starting a job child (${how})`, () => {
  it('pipes fd 3 in and fd 4 out, passes the environment, and reports the exit code once reaped', async () => {
    const child = launch(process.execPath, ['-e', `if (process.env.GREETING !== 'hi') process.exit(9); ${ECHO}`], { ...process.env, GREETING: 'hi' });
    const reply = new Promise<string>((resolve) => child.results.once('data', (b: Buffer) => resolve(b.toString())));
    child.jobs.write('hello\n');
    assert.equal(await reply, 'HELLO\n');
    child.jobs.write('exit 3\n');
    assert.deepEqual(await child.ended, { code: 3, signal: null });
    assert.equal(state(child.pid ?? 0), undefined, 'reaped: no zombie left');
  });

  it('kill() ends it with SIGKILL, also when called before it has started', async () => {
    const running = launch(process.execPath, ['-e', ECHO], process.env);
    const reply = new Promise<void>((resolve) => running.results.once('data', () => resolve()));
    running.jobs.write('up?\n');
    await reply;
    running.kill();
    assert.deepEqual(await running.ended, { code: null, signal: 'SIGKILL' });
    const early = launch(process.execPath, ['-e', ECHO], process.env);
    early.kill();
    assert.deepEqual(await early.ended, { code: null, signal: 'SIGKILL' });
  });

  it('kill() signals the child\'s process group: the processes it started go too', async () => {
    const child = launch(process.execPath, ['-e', `const s = require('node:child_process').spawn('sleep', ['1000'], { stdio: 'ignore' });
      require('node:fs').writeSync(4, s.pid + '\\n'); setInterval(() => {}, 1000);`], process.env);
    try {
      const sleeper = Number(await new Promise<string>((resolve) => child.results.once('data', (b: Buffer) => resolve(b.toString()))));
      // Just after its exec the sleeper may still be in D (loading, on a busy machine): wait for it to run or sleep.
      await until('the process it started runs', () => ['R', 'S'].includes(state(sleeper) ?? ''), 5000);
      child.kill('SIGTERM');
      assert.deepEqual(await child.ended, { code: null, signal: 'SIGTERM' });
      await until('the process it started to be gone', () => [undefined, 'Z'].includes(state(sleeper)), 5000);
    } finally {
      // Whatever failed above, the group must not outlive the test: a live child keeps the test file running.
      child.kill();
    }
  });

  it('a program that cannot be started is reported, not thrown, and leaves no pipe open', async () => {
    const child = launch('/nonexistent/node', [], process.env);
    const ended = await child.ended;
    assert.equal(ended.code, null);
    assert.match(ended.error?.message ?? '', /ENOENT|no such file/i);
    await until('its results pipe ends', () => new Promise<boolean>((resolve) => {
      child.results.once('end', () => resolve(true)).resume();
      if (child.results.readableEnded) resolve(true);
    }));
  });

  it('many children at once are each reaped with their own exit code', async () => {
    const children = Array.from({ length: 12 }, (_, i) => launch(process.execPath, ['-e', `process.exit(${i})`], process.env));
    for (const c of children) c.results.resume();
    const ends = await Promise.all(children.map((c) => c.ended));
    assert.deepEqual(ends.map((e) => e.code), Array.from({ length: 12 }, (_, i) => i));
  });
});

describe('worker: spawn mode without process.node', () => {
  const t = workerSuite('spawn', { QUEUES: 'q' });
  it('starts its children with Node\'s spawn, says so, and runs jobs as usual', async () => {
    const file = tempRecordFile();
    const w = await t.start({ RECORD_FILE: file, FORKPOOL_PROCESS_ADDON: '/nonexistent/process.node' });
    await w.waitForLog((l) => l.msg === 'job children start with Node\'s spawn, not posix_spawn' && /not built/.test(String(l.reason)));
    await t.client.enqueue('q', 'Record', 'via child_process');
    await until('job ran', () => records(file).length === 1);
  });
});
