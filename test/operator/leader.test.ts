// Two forkpool-operator processes with leader election on a real cluster: only the leader acts, the
// other takes over when the leader is killed, and a cron schedule is enqueued once per fire time
// across the change.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';
import { createNamespace, createPool, operatorLog, poolSpec, replicasOf, sleep, spawnOperator, startEnv, until, type Env } from './harness.ts';

const k = keys('resque');

describe('leader election', { timeout: 300_000 }, () => {
  let env: Env;
  let redis: Redis;
  const procs = new Map<string, ChildProcess>();

  before(async () => {
    env = await startEnv();
    redis = env.redis.connect();
  });
  after(async () => {
    for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await env?.stop();
  });

  const holder = async (): Promise<string | undefined> => {
    try {
      const lease = await env.coordination.readNamespacedLease({ namespace: 'default', name: 'forkpool-operator' });
      return lease.spec?.holderIdentity ?? undefined;
    } catch {
      return undefined;
    }
  };

  it('only the leader acts; when it is killed the other takes over, and cron fires once per time', async () => {
    await createNamespace(env, 'le');
    await createPool(
      env,
      'le',
      'pool',
      poolSpec(env.redis.url, {
        queues: ['le'],
        schedules: [{ name: 'tick', cron: '*/2 * * * * *', timeZone: 'Europe/Berlin', queue: 'cron', class: 'TickJob', args: [] }],
      }),
    );
    procs.set('op-a', spawnOperator(env, 'op-a'));
    procs.set('op-b', spawnOperator(env, 'op-b'));
    const first = await until('a leader', async () => (await holder())?.split('_')[0], 30_000);
    const second = first === 'op-a' ? 'op-b' : 'op-a';
    await until('the Deployment', async () => (await replicasOf(env, 'le', 'pool')) === 0, 30_000);

    await sleep(5000);
    const beforeKill = await redis.llen(k.queue('cron'));
    assert.ok(beforeKill >= 1, 'the leader runs the schedule');
    const killedAt = Date.now();
    procs.get(first)?.kill('SIGKILL');

    // Within the 15 s lease (+ retry), the other one leads and acts on a burst.
    await redis.rpush(k.queue('le'), ...Array.from({ length: 35 }, () => '{"class":"X","args":[]}'));
    await until('the other leader', async () => (await holder())?.split('_')[0] === second, 30_000);
    await until('4 replicas', async () => (await replicasOf(env, 'le', 'pool')) === 4, 30_000);
    const takeover = Date.now() - killedAt;
    assert.ok(takeover < 25_000, `takeover took ${takeover} ms`);
    assert.match(operatorLog(env, second), /became the leader/);

    // Cron: over the whole run, at most one job per 2-second fire time, even across the change.
    await sleep(6000);
    const fired = await redis.lrange(k.queue('cron'), 0, -1);
    const firstFire = Number(await redis.hget(k.scheduleFired, 'le/pool/tick'));
    assert.ok(firstFire > 0);
    const span = Date.now() - killedAt + 5000 + 2000;
    assert.ok(fired.length <= Math.ceil(span / 2000) + 1, `${fired.length} jobs in ${span} ms: some fire time was enqueued twice`);
    assert.ok(fired.every((j) => j === '{"class":"TickJob","args":[]}'));
    // After the takeover the new leader keeps firing.
    const n = fired.length;
    await sleep(4500);
    assert.ok((await redis.llen(k.queue('cron'))) >= n + 2);
  });

  it('a leader shutting down hands the lease over at once', async () => {
    const leader = (await holder())?.split('_')[0];
    assert.ok(leader !== undefined);
    procs.set('op-c', spawnOperator(env, 'op-c'));
    await sleep(3000);
    const stoppedAt = Date.now();
    procs.get(leader)?.kill('SIGTERM');
    await until('op-c leads', async () => (await holder())?.split('_')[0] === 'op-c', 20_000);
    assert.ok(Date.now() - stoppedAt < 10_000, `hand-over took ${Date.now() - stoppedAt} ms`);
  });
});
