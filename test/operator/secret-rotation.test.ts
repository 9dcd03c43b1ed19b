// A rotated Redis Secret (spec.redis.urlFrom) takes effect within a poll: the operator polls the Redis the
// Secret names now, and the worker pods, which read the Secret only when they start, roll onto it (a
// hash of the value on their template changes it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { condition, createNamespace, createPool, getDeployment, getPool, poolSpec, replicasOf, runOperator, startEnv, until, type Env } from './harness.ts';

const k = keys('resque');
const HASH = 'forkpool.io/redis-secret-hash';

describe('a rotated Redis Secret', { timeout: 300_000 }, () => {
  let env: Env;
  let operator: RunningOperator | undefined;
  let second: RedisServer | undefined;
  let redisB: Redis | undefined;

  before(async () => {
    env = await startEnv();
    second = await startRedis();
    redisB = second.connect();
    operator = await runOperator(env, 'rotation');
  });
  after(async () => {
    await operator?.stop();
    redisB?.disconnect();
    await second?.stop();
    await env?.stop();
  });

  it('is read again within a poll, and the worker pods roll onto it', async () => {
    await createNamespace(env, 'rot');
    await env.core.createNamespacedSecret({ namespace: 'rot', body: { metadata: { name: 'redis' }, stringData: { url: env.redis.url } } });
    await createPool(env, 'rot', 'pool', poolSpec(env.redis.url, {
      redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } },
      queues: ['rot'],
      scaling: { minReplicas: 1, maxReplicas: 5, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 600 },
    }));
    const first = await until('the Deployment with its pod', async () => {
      const d = await getDeployment(env, 'rot', 'pool');
      return d?.status?.readyReplicas === 1 ? d : undefined;
    }, 60_000);
    const firstHash = first.spec?.template.metadata?.annotations?.[HASH];

    // The Secret now names another Redis, where 35 jobs wait.
    await redisB?.rpush(k.queue('rot'), ...Array.from({ length: 35 }, (_, i) => JSON.stringify({ class: 'X', args: [i] })));
    await env.core.replaceNamespacedSecret({ namespace: 'rot', name: 'redis', body: { metadata: { name: 'redis' }, stringData: { url: second?.url ?? '' } } });
    await until('the pool sized on the new Redis', async () => (await replicasOf(env, 'rot', 'pool')) === 4, 15_000);
    const pool = await until('the new depth in the status', async () => {
      const p = await getPool(env, 'rot', 'pool');
      return p.status?.queueDepth === 35 ? p : undefined;
    });
    assert.equal(condition(pool, 'RedisReachable')?.status, 'True');
    assert.match(firstHash ?? '', /^[0-9a-f]{16}$/, 'the pod template carries a hash of the URL');
    assert.ok(!JSON.stringify(first.spec?.template).includes(env.redis.url), 'the pod template carries no URL');
    const rolled = await until('the pod template changed', async () => {
      const d = await getDeployment(env, 'rot', 'pool');
      const hash = d?.spec?.template.metadata?.annotations?.[HASH];
      return hash !== undefined && hash !== firstHash ? d : undefined;
    }, 15_000);
    // A new ReplicaSet brings the pods up with the new value.
    await until('the rollout done', async () => {
      const d = await getDeployment(env, 'rot', 'pool');
      return d?.status?.observedGeneration === rolled.metadata?.generation && d?.status?.updatedReplicas === 4 && d.status.replicas === 4;
    }, 60_000);
  });
});
