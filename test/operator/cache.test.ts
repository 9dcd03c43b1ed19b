// The operator's caches never go backwards: a Deployment the operator just applied is not replaced by an
// older copy from a re-list or a watch event still on its way. The operator re-lists without pause, and
// bystander Deployments it manages make each list take a while, so that nearly every apply lands
// between the moment a list is taken and the moment it is read.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { keys } from '../../queue/src/keys.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator.ts';
import { createNamespace, createPool, eventMessages, getPool, poolSpec, replicasOf, sleep, startEnv, testConfig, until, type Env } from './harness.ts';

const k = keys('resque');
const STEPS = 12;
const BYSTANDERS = 150;

describe('a cache that never goes backwards', { timeout: 300_000 }, () => {
  let env: Env;
  let operator: RunningOperator | undefined;
  let redis: Redis;

  before(async () => {
    env = await startEnv();
    redis = env.redis.connect();
    const log = pino({ level: 'debug' }, pino.destination({ dest: join(env.logDir, 'cache.log'), sync: true }));
    operator = await startOperator({ config: testConfig(), kubeConfig: env.kc, log, informer: { relistIntervalMs: 0 } });
  });
  after(async () => {
    await operator?.stop();
    await env?.stop();
  });

  /** Deployments the operator's cache holds but no pool owns, each with 20 kB of annotation. */
  const createBystanders = async (namespace: string): Promise<void> => {
    const padding = 'x'.repeat(20_000);
    for (let i = 0; i < BYSTANDERS; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => env.apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: `bystander-${i + j}`, labels: { 'app.kubernetes.io/managed-by': 'forkpool-operator' }, annotations: { padding } },
          spec: { replicas: 0, selector: { matchLabels: { app: `bystander-${i + j}` } }, template: { metadata: { labels: { app: `bystander-${i + j}` } }, spec: { containers: [{ name: 'c', image: 'example.com/none:1' }] } } },
        },
      })));
    }
  };

  it('scales up step by step with one Event, one metric count and one lastScaleTime per step', async () => {
    await createNamespace(env, 'steps');
    await createNamespace(env, 'bystanders');
    await createBystanders('bystanders');
    await createPool(env, 'steps', 'pool', poolSpec(env.redis.url, {
      queues: ['steps'],
      scaling: { minReplicas: 0, maxReplicas: STEPS, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 600 },
    }));
    await until('the Deployment', async () => (await replicasOf(env, 'steps', 'pool')) === 0, 30_000);
    const scaleTimes: string[] = [];
    for (let n = 1; n <= STEPS; n += 1) {
      await redis.rpush(k.queue('steps'), ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ class: 'X', args: [n, i] })));
      await until(`${n} replicas`, async () => (await replicasOf(env, 'steps', 'pool')) === n, 30_000);
      const time = await until(`lastScaleTime of step ${n}`, async () => {
        const t = (await getPool(env, 'steps', 'pool')).status?.lastScaleTime;
        return t !== undefined && !scaleTimes.includes(t) ? t : undefined;
      });
      scaleTimes.push(time);
      // Several polls and re-lists at this size: time for a stale copy to wake a reconcile.
      await sleep(1500);
    }
    const events = (await eventMessages(env, 'steps', 'pool')).filter((e) => e.startsWith('Scaled')).sort();
    const expected = Array.from({ length: STEPS }, (_, i) => `ScaledUp: Scaled up from ${i} to ${i + 1}: ${(i + 1) * 10} jobs waiting, 0 in flight`).sort();
    assert.deepEqual(events, expected);
    const pool = await getPool(env, 'steps', 'pool');
    assert.equal(pool.status?.lastScaleTime, scaleTimes.at(-1), 'lastScaleTime moved after the last step');
    const metrics = await (await fetch(`http://127.0.0.1:${operator?.port ?? 0}/metrics`)).text();
    assert.match(metrics, new RegExp(`forkpool_scale_events_total\\{direction="up"\\} ${STEPS}\\n`));
    assert.match(metrics, /forkpool_watch_restarts_total\{resource="deployments",reason="relist"\} \d{2,}/);
  });
});
