// The operator against a real control plane and a real Redis: validation, scaling up, down and to
// zero, holding the size when Redis is down, field ownership, idle pods removed first, worker pods
// under the restricted Pod Security Standard, failures shown on the JobPool, and an API server
// restart underneath it. Worker pods run on simulated nodes; busy workers are simulated by
// writing the worker registry and in-flight keys into Redis as a worker would.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { parse } from 'yaml';
import { keys } from '../../queue/src/keys.ts';
import { find, render } from '../helm/chart.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import {
  condition,
  createNamespace,
  createPool,
  createRestrictedNamespace,
  eventMessages,
  getDeployment,
  getPool,
  livePods,
  poolSpec,
  replicasOf,
  runOperator,
  sleep,
  startEnv,
  until,
  warnings,
  type Env,
} from './harness.ts';

const k = keys('resque');

describe('forkpool-operator on a real cluster', { timeout: 600_000 }, () => {
  let env: Env;
  let operator: RunningOperator;
  let redis: Redis;

  before(async () => {
    env = await startEnv();
    redis = env.redis.connect();
    operator = await runOperator(env, 'main');
  });
  after(async () => {
    await operator?.stop();
    await env?.stop();
  });

  const push = async (queue: string, n: number): Promise<void> => {
    if (n > 0) await redis.rpush(k.queue(queue), ...Array.from({ length: n }, (_, i) => JSON.stringify({ class: 'NoopJob', args: [i] })));
  };

  it('rejects a bad JobPool with a message naming the field', async () => {
    await createNamespace(env, 'bad');
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['min above max', { scaling: { minReplicas: 5, maxReplicas: 2 } }, /spec\.scaling.*minReplicas must not exceed spec\.scaling\.maxReplicas/],
      ['both url and urlFrom', { redis: { url: 'redis://r:6379', urlFrom: { secretKeyRef: { name: 's', key: 'u' } } } }, /spec\.redis.*exactly one of/],
      ['maxReplicas 0', { scaling: { maxReplicas: 0 } }, /spec\.scaling\.maxReplicas/],
      ['unknown isolation', { worker: { isolation: 'thread' } }, /spec\.worker\.isolation/],
      ['no queues', { queues: [] }, /spec\.queues/],
    ];
    for (const [name, override, message] of cases) {
      const doc = { apiVersion: 'forkpool.io/v1alpha1', kind: 'JobPool', metadata: { name: 'bad', namespace: 'bad' }, spec: { ...poolSpec(env.redis.url), ...override } };
      const file = join(env.cluster.dir, 'bad-pool.json');
      writeFileSync(file, JSON.stringify(doc));
      const result = await env.cluster.kubectl(['apply', '-f', file]);
      assert.notEqual(result.code, 0, `${name} was accepted`);
      assert.match(result.stderr, message, name);
    }
  });

  it('applies the example JobPool as it is', async () => {
    const result = await env.cluster.kubectl(['apply', '--dry-run=server', '-n', 'default', '-f', new URL('../../examples/jobpool.yaml', import.meta.url).pathname]);
    assert.equal(result.code, 0, result.stderr);
  });

  it('scales up on a burst at once, down after the delay, and to zero', async () => {
    await createNamespace(env, 'burst');
    await createPool(env, 'burst', 'mailers', poolSpec(env.redis.url, { queues: ['burst'] }));
    const deployment = await until('the Deployment', () => getDeployment(env, 'burst', 'mailers'));
    assert.equal(deployment.spec?.replicas, 0);
    assert.equal(deployment.metadata?.ownerReferences?.[0]?.kind, 'JobPool');

    await redis.hset(k.running, 'burst', '3');
    await push('burst', 57);
    // Scale-up is immediate: within a poll or two (the benchmark measures it).
    await until('6 replicas', async () => (await replicasOf(env, 'burst', 'mailers')) === 6, 10_000, 50);
    const events = await until('the Event', async () => (await eventMessages(env, 'burst', 'mailers')).find((m) => m.startsWith('ScaledUp')));
    assert.equal(events, 'ScaledUp: Scaled up from 0 to 6: 57 jobs waiting, 3 in flight');
    const pool = await until('status', async () => {
      const p = await getPool(env, 'burst', 'mailers');
      return p.status?.desiredReplicas === 6 ? p : undefined;
    });
    assert.equal(pool.status?.queueDepth, 57);
    assert.equal(pool.status?.inFlight, 3);
    assert.equal(pool.status?.selector, 'forkpool.io/pool=mailers');
    assert.equal(condition(pool, 'RedisReachable')?.status, 'True');
    assert.ok(['ScaledUp', 'DemandMet'].includes(condition(pool, 'Scaling')?.reason ?? ''));
    await until('pods ready', async () => condition(await getPool(env, 'burst', 'mailers'), 'Ready')?.status === 'True', 60_000);
    const scaled = await getPool(env, 'burst', 'mailers');
    assert.equal(scaled.status?.readyReplicas, 6);

    // Demand drops to 2 replicas' worth: nothing happens before the 3 s delay, then it scales down.
    await redis.ltrim(k.queue('burst'), 0, 14);
    const t1 = Date.now();
    await sleep(1500);
    assert.equal(await replicasOf(env, 'burst', 'mailers'), 6, 'scaled down before the delay');
    await until('2 replicas', async () => (await replicasOf(env, 'burst', 'mailers')) === 2, 15_000, 100);
    // The delay counts from the last poll that still saw the higher demand (up to one 1 s interval before the trim).
    assert.ok(Date.now() - t1 >= 2000, `scaled down ${Date.now() - t1} ms after the trim`);

    // In-flight jobs alone keep one pod; only when nothing waits and nothing runs does it go to zero.
    await redis.del(k.queue('burst'));
    await redis.hset(k.running, 'burst', '1');
    await until('1 replica', async () => (await replicasOf(env, 'burst', 'mailers')) === 1, 15_000);
    await sleep(4000);
    assert.equal(await replicasOf(env, 'burst', 'mailers'), 1);
    await redis.hset(k.running, 'burst', '0');
    await until('zero', async () => (await replicasOf(env, 'burst', 'mailers')) === 0, 15_000);
    // The Event is written after the scale: wait for it rather than read the list once.
    const messages = await until('the Event of the scale to zero', async () => {
      const m = await eventMessages(env, 'burst', 'mailers');
      return m.includes('ScaledDown: Scaled down from 1 to 0: 0 jobs waiting, 0 in flight') ? m : undefined;
    }, 10_000);
    assert.ok(messages.includes('ScaledDown: Scaled down from 6 to 2: 15 jobs waiting, 3 in flight'), messages.join('\n'));
  });

  it('holds the size and says so when Redis cannot be read', async () => {
    const other: RedisServer = await startRedis();
    try {
      await createNamespace(env, 'down');
      await createPool(env, 'down', 'pool', poolSpec(other.url, { queues: ['q'] }));
      const c = other.connect();
      await c.rpush(k.queue('q'), ...Array.from({ length: 25 }, () => '{"class":"X","args":[]}'));
      await until('3 replicas', async () => (await replicasOf(env, 'down', 'pool')) === 3);
      await other.kill();
      const pool = await until('RedisReachable False', async () => {
        const p = await getPool(env, 'down', 'pool');
        return condition(p, 'RedisReachable')?.status === 'False' ? p : undefined;
      });
      assert.equal(condition(pool, 'RedisReachable')?.reason, 'RedisError');
      assert.equal(condition(pool, 'Scaling')?.reason, 'RedisUnreachable');
      assert.equal(condition(pool, 'Ready')?.status, 'False');
      // Well past the 3 s scale-down delay, the size holds.
      await sleep(6000);
      assert.equal(await replicasOf(env, 'down', 'pool'), 3);
      // Redis comes back empty: the pool recovers, and then scales down after the delay.
      await other.start();
      await until('RedisReachable True', async () => condition(await getPool(env, 'down', 'pool'), 'RedisReachable')?.status === 'True', 30_000);
      await until('zero', async () => (await replicasOf(env, 'down', 'pool')) === 0, 30_000);
    } finally {
      await other.stop();
    }
  });

  it('keeps edits to fields it does not own and corrects drift in those it owns', async () => {
    await createNamespace(env, 'own');
    await createPool(env, 'own', 'pool', poolSpec(env.redis.url, { queues: ['own'] }));
    await until('the Deployment', () => getDeployment(env, 'own', 'pool'));
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    // Someone else's annotation and label, and a change to the QUEUES env var the operator owns.
    await env.apps.patchNamespacedDeployment(
      { namespace: 'own', name: 'pool', fieldManager: 'someone', body: { metadata: { annotations: { 'example.com/note': 'mine' }, labels: { team: 'mail' } } } },
      merge,
    );
    const d = await getDeployment(env, 'own', 'pool');
    const containers = d?.spec?.template.spec?.containers ?? [];
    const env0 = containers[0]?.env ?? [];
    const queuesIndex = env0.findIndex((e) => e.name === 'QUEUES');
    await env.apps.patchNamespacedDeployment(
      {
        namespace: 'own',
        name: 'pool',
        fieldManager: 'someone',
        body: [{ op: 'replace', path: `/spec/template/spec/containers/0/env/${queuesIndex}/value`, value: 'hijacked' }],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    const queuesEnv = async (): Promise<string | undefined> =>
      (await getDeployment(env, 'own', 'pool'))?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'QUEUES')?.value;
    await until('drift corrected', async () => (await queuesEnv()) === 'own', 15_000);
    // A spec change re-applies the Deployment: the other manager's fields survive it.
    await env.custom.patchNamespacedCustomObject(
      { group: 'forkpool.io', version: 'v1alpha1', namespace: 'own', plural: 'jobpools', name: 'pool', body: { spec: { queues: ['own', 'extra'] } } },
      merge,
    );
    await until('new queues', async () => (await queuesEnv()) === 'own,extra', 15_000);
    const after = await getDeployment(env, 'own', 'pool');
    assert.equal(after?.metadata?.annotations?.['example.com/note'], 'mine');
    assert.equal(after?.metadata?.labels?.['team'], 'mail');
    const managers = (after?.metadata?.managedFields ?? []).map((m) => m.manager);
    assert.ok(managers.includes('forkpool-operator'));
    const pool = await getPool(env, 'own', 'pool');
    await until('observedGeneration', async () => (await getPool(env, 'own', 'pool')).status?.observedGeneration === pool.metadata.generation);
  });

  it('kubectl scale (the scale subresource) fixes the size until spec.replicas is removed', async () => {
    await createNamespace(env, 'manual');
    await createPool(env, 'manual', 'pool', poolSpec(env.redis.url, { queues: ['manual'] }));
    await until('the Deployment', () => getDeployment(env, 'manual', 'pool'));
    const scaled = await env.cluster.kubectl(['scale', '-n', 'manual', 'jobpool/pool', '--replicas=2']);
    assert.equal(scaled.code, 0, scaled.stderr);
    await until('2 replicas', async () => (await replicasOf(env, 'manual', 'pool')) === 2, 15_000);
    const pool = await until('FixedReplicas', async () => {
      const p = await getPool(env, 'manual', 'pool');
      return condition(p, 'Scaling')?.reason === 'FixedReplicas' ? p : undefined;
    });
    assert.equal(pool.status?.desiredReplicas, 2);
    const got = await env.cluster.kubectl(['get', '-n', 'manual', 'jobpool/pool', '-o', 'jsonpath={.status.selector}']);
    assert.equal(got.stdout, 'forkpool.io/pool=pool');
    // Removing spec.replicas hands the size back to the autoscaler: an empty queue goes to zero after the delay.
    const removed = await env.cluster.kubectl(['patch', '-n', 'manual', 'jobpool/pool', '--type=json', '-p', '[{"op":"remove","path":"/spec/replicas"}]']);
    assert.equal(removed.code, 0, removed.stderr);
    await until('zero', async () => (await replicasOf(env, 'manual', 'pool')) === 0, 20_000);
  });

  it('with 3 pods of which 1 is busy, a scale to 2 removes an idle pod', async () => {
    await createNamespace(env, 'safe');
    await createPool(
      env,
      'safe',
      'pool',
      poolSpec(env.redis.url, { queues: ['safe'], scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 1, pollIntervalSeconds: 1, scaleDownDelaySeconds: 2 } }),
    );
    await push('safe', 3);
    const pods = await until('3 running pods', async () => {
      const list = await livePods(env, 'safe', 'pool');
      return list.length === 3 && list.every((p) => p.status?.phase === 'Running') ? list : undefined;
    }, 60_000);
    const names = pods.map((p) => p.metadata?.name ?? '');
    // Each pod runs a worker; the middle one holds a job (as the reserve script would record it).
    const [idleA, busy, idleB] = names as [string, string, string];
    for (const pod of names) await redis.sadd(k.workers, `${pod}:1:safe`);
    await redis.hset(k.inflight(`${busy}:1:safe`), 'slot0', JSON.stringify({ queue: 'safe', payload: '{"class":"X","args":[]}', taken_at: Date.now() }));
    await redis.hset(k.running, 'safe', '1');
    // The waiting jobs are gone: demand is 1 in flight + 1 waiting = 2 replicas.
    await redis.ltrim(k.queue('safe'), 0, 0);
    await until('2 replicas', async () => (await replicasOf(env, 'safe', 'pool')) === 2, 20_000);
    const remaining = await until('2 pods left', async () => {
      const list = await livePods(env, 'safe', 'pool');
      return list.length === 2 ? list : undefined;
    }, 30_000);
    const left = remaining.map((p) => p.metadata?.name);
    assert.ok(left.includes(busy), `the busy pod ${busy} was removed; left: ${left.join(', ')}`);
    const busyPod = remaining.find((p) => p.metadata?.name === busy);
    assert.equal(busyPod?.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'], '100');
    assert.ok([idleA, idleB].some((p) => !left.includes(p)));
  });

  it('runs the example JobPools\' pods (examples/jobpool.yaml, the chart\'s) in a namespace that enforces the restricted Pod Security Standard', async () => {
    await createRestrictedNamespace(env, 'restricted');
    const example = parse(readFileSync(new URL('../../examples/jobpool.yaml', import.meta.url), 'utf8')) as { metadata: Record<string, string>; spec: Record<string, Record<string, unknown>> };
    example.metadata['namespace'] = 'restricted';
    example.spec['redis'] = { ...example.spec['redis'], url: env.redis.url };
    // One pod from the start, so that there is a pod to admit without any queued job.
    example.spec['scaling'] = { ...example.spec['scaling'], minReplicas: 1 };
    const chartPool = find(await render({ examplePool: { enabled: true, redisUrl: env.redis.url, minReplicas: 1 } }, { namespace: 'restricted' }), 'JobPool');
    for (const [doc, name] of [[example, 'mailers'], [chartPool, 'example']] as const) {
      const file = join(env.cluster.dir, `restricted-${name}.json`);
      writeFileSync(file, JSON.stringify(doc));
      const applied = await env.cluster.kubectl(['apply', '-f', file]);
      assert.equal(applied.code, 0, applied.stderr);
    }
    for (const name of ['mailers', 'example']) {
      await until(`${name}: an admitted worker pod`, async () => (await livePods(env, 'restricted', name)).length === 1, 60_000);
      const pool = await until(`${name}: Ready`, async () => {
        const p = await getPool(env, 'restricted', name);
        return condition(p, 'Ready')?.status === 'True' ? p : undefined;
      }, 60_000);
      assert.equal(pool.status?.readyReplicas, 1);
      assert.deepEqual(await warnings(env, 'restricted', name), []);
    }
  });

  it('says on the JobPool, once, when Pod Security Admission refuses its pods', async () => {
    await createRestrictedNamespace(env, 'refused-pods');
    // Root is what the template policy lets through and the restricted standard refuses.
    const template = { spec: { securityContext: { runAsUser: 0 }, containers: [{ name: 'worker', image: 'example.com/jobs:1' }] } };
    await createPool(env, 'refused-pods', 'pool', poolSpec(env.redis.url, {
      queues: ['refused-pods'],
      template,
      scaling: { minReplicas: 1, maxReplicas: 2 },
    }));
    const pool = await until('Ready False, PodsRefused', async () => {
      const p = await getPool(env, 'refused-pods', 'pool');
      return condition(p, 'Ready')?.reason === 'PodsRefused' ? p : undefined;
    }, 60_000);
    const ready = condition(pool, 'Ready');
    assert.equal(ready?.status, 'False');
    assert.match(ready?.message ?? '', /violates PodSecurity "restricted:latest": .*runAsUser=0 \(pod must not set runAsUser=0\)/);
    const warned = await until('the Warning Event', async () => {
      const list = await warnings(env, 'refused-pods', 'pool');
      return list.length > 0 ? list : undefined;
    });
    assert.match(warned[0] ?? '', /^PodsRefused: .*violates PodSecurity "restricted:latest": .*runAsUser=0/);
    // The ReplicaSet keeps failing, and the operator keeps reconciling: the Warning is not repeated.
    await sleep(5000);
    assert.equal((await warnings(env, 'refused-pods', 'pool')).length, 1);
    assert.deepEqual(await livePods(env, 'refused-pods', 'pool'), []);
  });

  it('says on a new JobPool, once, when the API server refuses its pod template, and applies it once fixed', async () => {
    await createNamespace(env, 'refused');
    const cases: [string, { name: string; image: string; [k: string]: unknown }, RegExp][] = [
      ['name', { name: 'Worker_One', image: 'example.com/jobs:1' }, /spec\.template\.spec\.containers\[0\]\.name: Invalid value: "Worker_One"/],
      ['port', { name: 'worker', image: 'example.com/jobs:1', ports: [{ containerPort: 99999 }] }, /spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort: Invalid value: 99999/],
    ];
    for (const [name, container] of cases) {
      await createPool(env, 'refused', name, poolSpec(env.redis.url, { queues: [name], template: { spec: { containers: [container] } } }));
    }
    for (const [name, , message] of cases) {
      const pool = await until(`${name}: Ready False, InvalidTemplate`, async () => {
        const p = await getPool(env, 'refused', name);
        return condition(p, 'Ready')?.reason === 'InvalidTemplate' ? p : undefined;
      });
      assert.equal(condition(pool, 'Ready')?.status, 'False');
      assert.match(condition(pool, 'Ready')?.message ?? '', message, name);
      assert.equal(pool.status?.observedGeneration, 1);
      const warned = await until(`${name}: the Warning Event`, async () => {
        const list = await warnings(env, 'refused', name);
        return list.length > 0 ? list : undefined;
      });
      assert.match(warned[0] ?? '', /^InvalidTemplate: /);
      assert.match(warned[0] ?? '', message);
      assert.equal(await getDeployment(env, 'refused', name), undefined);
    }
    // Retries (with backoff) do not repeat the Warning.
    await sleep(5000);
    for (const [name] of cases) assert.equal((await warnings(env, 'refused', name)).length, 1, name);
    // Fixed, the template is applied and the condition goes.
    const fixed = await env.cluster.kubectl(['patch', '-n', 'refused', 'jobpool/name', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/name","value":"worker"}]']);
    assert.equal(fixed.code, 0, fixed.stderr);
    await until('the Deployment', () => getDeployment(env, 'refused', 'name'), 30_000);
    await until('InvalidTemplate gone', async () => {
      const p = await getPool(env, 'refused', 'name');
      return p.status?.observedGeneration === 2 && condition(p, 'Ready')?.reason !== 'InvalidTemplate';
    }, 30_000);
  });

  it('says on the JobPool, with a Warning Event, when its Redis URL Secret is missing', async () => {
    await createNamespace(env, 'nosecret');
    await createPool(env, 'nosecret', 'pool', poolSpec(env.redis.url, { redis: { urlFrom: { secretKeyRef: { name: 'absent', key: 'url' } } }, queues: ['nosecret'] }));
    const pool = await until('Ready False, SecretNotFound', async () => {
      const p = await getPool(env, 'nosecret', 'pool');
      return condition(p, 'Ready')?.reason === 'SecretNotFound' ? p : undefined;
    });
    assert.equal(condition(pool, 'Ready')?.message, 'Secret absent with key url (spec.redis.urlFrom) does not exist');
    const warned = await until('the Warning Event', async () => {
      const list = await warnings(env, 'nosecret', 'pool');
      return list.length > 0 ? list : undefined;
    });
    assert.deepEqual(warned, ['SecretNotFound: Secret absent with key url (spec.redis.urlFrom) does not exist']);
  });

  it('carries on after the API server restarts under it', async () => {
    await createNamespace(env, 'restart');
    await createPool(env, 'restart', 'pool', poolSpec(env.redis.url, { queues: ['restart'] }));
    await until('the Deployment', () => getDeployment(env, 'restart', 'pool'));
    await env.cluster.restartApiServer();
    // The watches come back by themselves: a burst after the restart is acted on.
    await push('restart', 42);
    await until('5 replicas', async () => (await replicasOf(env, 'restart', 'pool')) === 5, 60_000);
    // A pool created after the restart is seen, so the JobPool watch is alive again.
    await createNamespace(env, 'restart2');
    await createPool(env, 'restart2', 'pool', poolSpec(env.redis.url, { queues: ['restart2'] }));
    await until('its Deployment', () => getDeployment(env, 'restart2', 'pool'), 30_000);
    const metrics = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    assert.match(metrics, /forkpool_watch_restarts_total\{resource="jobpools",reason="error"\} [1-9]/);
    const ready = await fetch(`http://127.0.0.1:${operator.port}/readyz`);
    assert.equal(ready.status, 200);
  });
});
