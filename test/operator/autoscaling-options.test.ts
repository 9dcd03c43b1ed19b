// The autoscaling options users of KEDA and the HPA expect, on a real control plane with a real Redis:
// the forkpool.io/paused annotation, spec.scaling.fallback while Redis is down, and a scale-down policy
// of spec.scaling.behavior. Worker pods run on simulated nodes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import { condition, createNamespace, createPool, eventMessages, getPool, poolSpec, replicasOf, runOperator, sleep, startEnv, until, warnings, type Env } from './harness.ts';

const k = keys('resque');
const job = '{"class":"X","args":[]}';

describe('autoscaling options on a real cluster', { timeout: 600_000 }, () => {
  let env: Env;
  let operator: RunningOperator;
  let redis: Redis;

  before(async () => {
    env = await startEnv();
    redis = env.redis.connect();
    operator = await runOperator(env, 'options');
  });
  after(async () => {
    await operator?.stop();
    await env?.stop();
  });

  const push = async (queue: string, n: number): Promise<void> => {
    await redis.rpush(k.queue(queue), ...Array.from({ length: n }, () => job));
  };
  const kubectl = async (...args: string[]): Promise<void> => {
    const result = await env.cluster.kubectl(args);
    assert.equal(result.code, 0, result.stderr);
  };

  it('forkpool.io/paused holds the size while the queue grows; removing it resumes', async () => {
    await createNamespace(env, 'pause');
    await createPool(env, 'pause', 'pool', poolSpec(env.redis.url, { queues: ['pause'] }));
    await push('pause', 25);
    await until('3 replicas', async () => (await replicasOf(env, 'pause', 'pool')) === 3);

    await kubectl('annotate', '-n', 'pause', 'jobpool/pool', 'forkpool.io/paused=true');
    const paused = await until('Scaling Paused', async () => {
      const p = await getPool(env, 'pause', 'pool');
      return condition(p, 'Scaling')?.reason === 'Paused' ? p : undefined;
    }, 15_000);
    assert.equal(condition(paused, 'Scaling')?.status, 'False');
    assert.equal(condition(paused, 'Scaling')?.message, 'forkpool.io/paused is set: autoscaling is off, holding 3 replicas');
    await push('pause', 50);
    // Several polls see 75 jobs (8 replicas' worth) while the pool stays at 3.
    await until('the depth seen', async () => (await getPool(env, 'pause', 'pool')).status?.queueDepth === 75, 20_000);
    await sleep(3000);
    assert.equal(await replicasOf(env, 'pause', 'pool'), 3);
    assert.ok((await eventMessages(env, 'pause', 'pool')).includes('Paused: forkpool.io/paused is set: autoscaling is off, holding 3 replicas'));

    await kubectl('annotate', '-n', 'pause', 'jobpool/pool', 'forkpool.io/paused-');
    await until('8 replicas', async () => (await replicasOf(env, 'pause', 'pool')) === 8, 15_000);
    await until('the Resumed Event', async () => (await eventMessages(env, 'pause', 'pool')).some((m) => m.startsWith('Resumed: forkpool.io/paused is removed')));
  });

  it('forkpool.io/paused-replicas sets the size of a paused pool', async () => {
    await createNamespace(env, 'pausedto');
    await createPool(env, 'pausedto', 'pool', poolSpec(env.redis.url, { queues: ['pausedto'] }));
    await push('pausedto', 25);
    await until('3 replicas', async () => (await replicasOf(env, 'pausedto', 'pool')) === 3);
    await kubectl('annotate', '-n', 'pausedto', 'jobpool/pool', 'forkpool.io/paused-replicas=1');
    await until('1 replica', async () => (await replicasOf(env, 'pausedto', 'pool')) === 1, 15_000);
    await until('Scaling Paused', async () => condition(await getPool(env, 'pausedto', 'pool'), 'Scaling')?.reason === 'Paused', 15_000);
  });

  it('spec.scaling.fallback scales to its replicas after failed reads of a stopped Redis', async () => {
    const other: RedisServer = await startRedis();
    try {
      await createNamespace(env, 'fallback');
      await createPool(env, 'fallback', 'pool', poolSpec(other.url, { queues: ['q'], scaling: { ...poolSpec('').scaling, fallback: { failureThreshold: 3, replicas: 4 } } }));
      await other.connect().rpush(k.queue('q'), job, job, job);
      await until('1 replica', async () => (await replicasOf(env, 'fallback', 'pool')) === 1);
      await other.kill();
      await until('4 replicas', async () => (await replicasOf(env, 'fallback', 'pool')) === 4, 30_000);
      const pool = await until('Scaling Fallback', async () => {
        const p = await getPool(env, 'fallback', 'pool');
        return condition(p, 'Scaling')?.reason === 'Fallback' ? p : undefined;
      }, 15_000);
      assert.match(condition(pool, 'Scaling')?.message ?? '', /^Redis could not be read \d+ times in a row: /);
      assert.equal(condition(pool, 'RedisReachable')?.status, 'False');
      const warned = await until('the Warning', async () => (await warnings(env, 'fallback', 'pool')).find((w) => w.startsWith('Fallback: ')));
      assert.match(warned, /^Fallback: Redis could not be read \d+ times in a row: scaled up from 1 to the fallback of 4 replicas$/);
      // Redis back (empty): the pool is autoscaled again and goes to zero after the delay.
      await other.start();
      await until('zero', async () => (await replicasOf(env, 'fallback', 'pool')) === 0, 30_000);
    } finally {
      await other.stop();
    }
  });

  it('a scale-down policy of 2 pods per period takes 10 pods down 2 at a time', async () => {
    await createNamespace(env, 'policy');
    const scaling = {
      ...poolSpec('').scaling,
      jobsPerReplica: 1,
      behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods' as const, value: 2, periodSeconds: 4 }] } },
    };
    await createPool(env, 'policy', 'pool', poolSpec(env.redis.url, { queues: ['policy'], scaling }));
    await push('policy', 10);
    await until('10 replicas', async () => (await replicasOf(env, 'policy', 'pool')) === 10);
    await redis.del(k.queue('policy'));
    await until('zero', async () => (await replicasOf(env, 'policy', 'pool')) === 0, 60_000);
    const downs = (await eventMessages(env, 'policy', 'pool'))
      .filter((m) => m.startsWith('ScaledDown: '))
      .map((m) => /from (\d+) to (\d+)/.exec(m)?.slice(1).join('->'))
      .sort((a, b) => Number(b?.split('->')[0]) - Number(a?.split('->')[0]));
    assert.deepEqual(downs, ['10->8', '8->6', '6->4', '4->2', '2->0']);
  });
});
