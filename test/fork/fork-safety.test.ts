// Each fork-safety rule, checked in a forked child: what a child inherits from the zygote and must
// not keep or share (see worker-image/src/fork/forked-child.ts).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Zygote } from '../../worker-image/src/fork/zygote.ts';
import { fdLinks, readJson, startTestZygote, tempDir } from './helpers.ts';
import { until } from '../helpers/wait.ts';

interface Observation {
  pid: number;
  realPid: number;
  ppid: number;
  random: [number, number];
  uuid: string;
  webUuid: string;
  title: string;
  cmdline: string;
  comm: string;
  fds: Record<string, string>;
  signalListeners: { SIGTERM: number; SIGUSR2: number };
  loadTimeTicks: { atStart: number; after60ms: number };
  hooks: { beforeFork: { runs: number; pid: number }; afterFork: { className: string; args: unknown[]; pid: number } | null };
}

describe('fork mode: fork safety', () => {
  let zygote: Zygote;
  // The zygote's descriptors before any fork: Node's and libuv's own, which every child inherits.
  let baselineFds: string[];
  const tmp = tempDir();
  let seq = 0;
  const observe = async (lingerMs = 0, uuidFirst: 'node' | 'web' = 'node'): Promise<{ obs: Observation; pid: number | null }> => {
    const out = tmp.file(`observe-${seq++}`);
    const outcome = await zygote.run('Observe', [out, lingerMs, uuidFirst]).done;
    assert.equal(outcome.status, 'ok', JSON.stringify(outcome));
    return { obs: readJson<Observation>(out), pid: outcome.pid };
  };

  before(async () => {
    zygote = await startTestZygote();
    baselineFds = [...fdLinks(zygote.pid).values()];
  });
  after(async () => {
    await zygote?.close();
    tmp.remove();
  });

  it('a child holds none of the zygote descriptors: not its command channel, not a sibling pipe or pidfd', async () => {
    const sibling = zygote.run('Sleep', [1500]);
    await sibling.started;
    const out = tmp.file('observe-fds');
    const job = zygote.run('Observe', [out, 400]);
    await until('the observation', () => existsSync(out) && readFileSync(out, 'utf8').length > 0, 5000);
    const zygoteFds = fdLinks(zygote.pid);
    const { fds } = readJson<Observation>(out);
    assert.equal((await job.done).status, 'ok');
    sibling.kill();
    await sibling.done;

    const channel = zygoteFds.get(3);
    assert.match(channel ?? '', /^socket:/, 'the zygote reads commands on fd 3');
    const childLinks = Object.values(fds);
    assert.ok(!childLinks.includes(channel ?? ''), `the child still holds the command channel: ${JSON.stringify(fds)}`);
    // A ready zygote holds a spare child (forked ahead of its job): its pidfd, result pipe and command
    // pipe are in the baseline. The sibling took that spare (its command pipe is closed now), the observed
    // child the next one, and a third spare waits: since the baseline the zygote opened a pidfd and a
    // result pipe (read end) for each of the last two, and the third's command pipe. Of those the child
    // shares only its own result pipe, of which it holds the write end.
    // (A multiset difference: every pidfd has the same link text.)
    const left = [...baselineFds];
    const perChild = [...zygoteFds.values()].filter((l) => {
      const i = left.indexOf(l);
      if (i < 0) return true;
      left.splice(i, 1);
      return false;
    });
    assert.deepEqual(perChild.map((l) => l.replace(/\d+/, 'N')).sort(), ['anon_inode:[pidfd]', 'anon_inode:[pidfd]', 'pipe:[N]', 'pipe:[N]', 'pipe:[N]']);
    assert.equal(childLinks.filter((l) => perChild.includes(l)).length, 1, `child fds: ${JSON.stringify(fds)}`);
    assert.ok(!childLinks.includes('anon_inode:[pidfd]'), 'the child holds a pidfd of the zygote');
  });

  it('a child cannot read commands: many sent while children run each fork exactly one child', async () => {
    const sleepers = [1, 2, 3].map(() => zygote.run('Sleep', [150]));
    const adders = Array.from({ length: 12 }, (_, i) => zygote.run('Add', [tmp.file(`add-${i}`), i, 1]));
    const outcomes = await Promise.all([...sleepers, ...adders].map((j) => j.done));
    assert.deepEqual(new Set(outcomes.map((o) => o.status)), new Set(['ok']));
    assert.equal(new Set(outcomes.map((o) => o.pid)).size, 15);
    adders.forEach((_, i) => assert.equal(readFileSync(tmp.file(`add-${i}`), 'utf8'), String(i + 1)));
  });

  it('each child draws its own Math.random, though the zygote drew from it at load', async () => {
    const draws = await Promise.all([observe(), observe(), observe()]);
    const firsts = draws.map(({ obs }) => obs.random[0]);
    assert.equal(new Set(firsts).size, 3, `identical Math.random in children: ${firsts.join(', ')}`);
    for (const { obs } of draws) assert.ok(obs.random.every((r) => r >= 0 && r < 1));
  });

  it('each child makes its own randomUUID (node:crypto and Web Crypto), though the zygote filled the cache', async () => {
    // Half the children ask Web Crypto first: either way the first UUID a child draws is its own.
    const draws = await Promise.all([observe(), observe(0, 'web'), observe(), observe(0, 'web'), observe(), observe(0, 'web')]);
    const uuids = draws.flatMap(({ obs }) => [obs.uuid, obs.webUuid]);
    assert.equal(new Set(uuids).size, 12, `repeated UUIDs across children: ${uuids.join(', ')}`);
  });

  it('process.pid is the child pid, and its process title names the job', async () => {
    const { obs, pid } = await observe();
    assert.equal(obs.pid, pid);
    assert.equal(obs.realPid, pid);
    assert.equal(obs.ppid, zygote.pid);
    assert.equal(obs.title, 'forkpool-job Observe');
    assert.match(obs.cmdline, /^forkpool-job Observe/);
    assert.match(readFileSync(`/proc/${zygote.pid}/cmdline`, 'utf8'), /^forkpool-zygote/);
  });

  it('signal handlers registered in the zygote are gone: SIGTERM ends a child', async () => {
    const { obs } = await observe();
    assert.deepEqual(obs.signalListeners, { SIGTERM: 0, SIGUSR2: 0 });
    const job = zygote.run('Sleep', [10_000]);
    await job.started;
    job.kill('SIGTERM');
    const outcome = await job.done;
    assert.equal(outcome.status, 'killed');
    assert.deepEqual(outcome.status === 'killed' && [outcome.reason, outcome.exit], ['request', { code: null, signal: 'SIGTERM' }]);
  });

  it('a child leads a process group of its own, not the zygote\'s', async () => {
    const job = zygote.run('Sleep', [10_000]);
    const pid = await job.started;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    job.kill();
    assert.equal(pgrp, pid);
    assert.equal((await job.done).status, 'killed');
  });

  it('timers started at module load never fire in a child', async () => {
    const { obs } = await observe();
    assert.equal(obs.loadTimeTicks.after60ms, obs.loadTimeTicks.atStart, 'a load-time interval ticked in the child');
  });

  it('beforeFork ran once in the zygote, afterFork in each child with its job', async () => {
    const [a, b] = await Promise.all([observe(), observe()]);
    for (const { obs, pid } of [a, b]) {
      assert.deepEqual(obs.hooks.beforeFork, { runs: 1, pid: zygote.pid });
      assert.deepEqual(obs.hooks.afterFork, { className: 'Observe', args: [obs.hooks.afterFork?.args[0], 0, 'node'], pid });
    }
  });
});
