// A JobPool with spec.redis.sentinel on a real cluster: three real sentinels with a password of their own
// (from a Secret), a primary and its replica. The operator reads the queue depth from the primary the
// sentinels name, follows the failover when the primary is SIGKILLed, and gives worker pods the sentinels.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keys } from '../../queue/src/keys.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startSentinels, type Sentinels } from '../helpers/sentinel.ts';
import { replicate } from '../helpers/tcp-proxy.ts';
import { condition, createNamespace, createPool, getDeployment, getPool, poolSpec, runOperator, startEnv, until, type Env } from './harness.ts';
import { startTogether } from '../helpers/start-together.ts';

const k = keys('resque');
const MASTER = 'jobs';
const SENTINEL_PASSWORD = 'sentinel-secret';

describe('a JobPool on Redis Sentinel, on a real cluster', { timeout: 300_000 }, () => {
  let env: Env;
  let primary: RedisServer;
  let replica: RedisServer;
  let sentinels: Sentinels;
  let operator: RunningOperator;

  before(async () => {
    [env, primary, replica] = await startTogether(startEnv(), startRedis(), startRedis());
    await replicate(primary.connect(), replica.connect(), primary.port);
    sentinels = await startSentinels(MASTER, primary.port, { replicas: 1, downAfterMs: 1000, password: SENTINEL_PASSWORD });
    operator = await runOperator(env, 'sentinel');
  });
  after(async () => {
    await operator?.stop();
    await sentinels?.stop();
    await Promise.all([primary?.stop(), replica?.stop()]);
    await env?.stop();
  });

  it('sizes the pool from the primary the sentinels name, before and after a failover; worker pods get the sentinels', async () => {
    const ns = 'sentinel';
    await createNamespace(env, ns);
    await env.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'redis-sentinel' }, stringData: { password: SENTINEL_PASSWORD } } });
    const url = 'redis://unused:6379/0';
    await createPool(env, ns, 'ha', poolSpec(url, {
      redis: {
        url,
        sentinel: {
          masterName: MASTER,
          sentinels: sentinels.list.map((s) => `${s.host}:${s.port}`),
          passwordFrom: { secretKeyRef: { name: 'redis-sentinel', key: 'password' } },
        },
      },
      queues: ['ha'],
    }));
    const depth = (n: number) => async () => {
      const p = await getPool(env, ns, 'ha');
      return p.status?.queueDepth === n ? p : undefined;
    };
    await primary.connect().rpush(k.queue('ha'), ...Array.from({ length: 25 }, (_, i) => JSON.stringify({ class: 'NoopJob', args: [i] })));
    const pool = await until('the depth read from the primary through the sentinels', depth(25), 30_000);
    assert.equal(condition(pool, 'RedisReachable')?.status, 'True');
    assert.equal(pool.status?.desiredReplicas, 3);

    await primary.kill();
    await until('the sentinels promoted the replica', async () => (await sentinels.primaryPort()) === replica.port, 60_000, 200);
    await replica.connect().rpush(k.queue('ha'), ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ class: 'NoopJob', args: [i] })));
    const after = await until('the depth read from the promoted replica', depth(35), 60_000);
    assert.equal(condition(after, 'RedisReachable')?.status, 'True');
    assert.equal(after.status?.desiredReplicas, 4);

    const d = await until('the Deployment', () => getDeployment(env, ns, 'ha'));
    const worker = d.spec?.template.spec?.containers.find((c) => c.name === 'worker');
    const ref = (r: { name?: string; key: string } | undefined): unknown => (r === undefined ? undefined : { name: r.name, key: r.key });
    const envOf = Object.fromEntries((worker?.env ?? []).map((e) => [e.name, e.value ?? ref(e.valueFrom?.secretKeyRef)]));
    assert.deepEqual(Object.fromEntries(Object.entries(envOf).filter(([name]) => name.startsWith('REDIS_'))), {
      REDIS_URL: url,
      REDIS_SENTINELS: sentinels.addresses,
      REDIS_SENTINEL_MASTER: MASTER,
      REDIS_SENTINEL_PASSWORD: { name: 'redis-sentinel', key: 'password' },
    });
  });
});
