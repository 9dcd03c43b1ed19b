// A JobPool with spec.redis.cluster on a real control plane and a real Redis Cluster (three primaries, three
// replicas). The operator reads the queue depth from the primary that owns the hash-tagged namespace's slot,
// follows the slot when it is moved to another primary and when that primary is SIGKILLed (its replica is
// promoted), and gives worker pods the cluster's nodes. A cluster pool whose namespace has no hash tag is
// reported on the pool; the API server refuses one that also names sentinels.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keys } from '../../queue/src/keys.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.ts';
import { startTogether } from '../helpers/start-together.ts';
import { condition, createNamespace, createPool, getDeployment, getPool, poolSpec, runOperator, startEnv, until, warnings, type Env } from './harness.ts';

const NAMESPACE = '{resque}';
const k = keys(NAMESPACE);
const jobs = (n: number): string[] => Array.from({ length: n }, (_, i) => JSON.stringify({ class: 'NoopJob', args: [i] }));

describe('a JobPool on Redis Cluster, on a real control plane', { timeout: 300_000 }, () => {
  let env: Env;
  let cluster: RedisCluster;
  let operator: RunningOperator;

  before(async () => {
    [env, cluster] = await startTogether(startEnv(), startRedisCluster());
    operator = await runOperator(env, 'cluster');
  });
  after(async () => {
    await operator?.stop();
    await cluster?.stop();
    await env?.stop();
  });

  it('sizes the pool from the slot owner, through a resharding and a primary killed outright; worker pods get the nodes', async () => {
    const ns = 'redis-cluster';
    await createNamespace(env, ns);
    const url = 'redis://unused:6379';
    await createPool(env, ns, 'sharded', poolSpec(url, {
      redis: { url, namespace: NAMESPACE, cluster: { nodes: cluster.addresses.split(',') } },
      queues: ['sharded'],
    }));
    const depth = (n: number) => async () => {
      const p = await getPool(env, ns, 'sharded');
      return p.status?.queueDepth === n ? p : undefined;
    };
    const slot = await cluster.slotOf(k.queue('sharded'));
    const first = await cluster.ownerOf(slot);
    await cluster.connect(first).rpush(k.queue('sharded'), ...jobs(25));
    const pool = await until('the depth read from the slot owner', depth(25), 30_000);
    assert.equal(condition(pool, 'RedisReachable')?.status, 'True');
    assert.equal(pool.status?.desiredReplicas, 3);

    const primaries = cluster.ports.filter((p) => p !== first);
    let second = 0;
    for (const p of primaries) if (String((await cluster.connect(p).role())[0]) === 'master') second = p;
    await cluster.moveSlot(slot, second);
    await cluster.connect(second).rpush(k.queue('sharded'), ...jobs(10));
    const moved = await until('the depth read from the new owner after the slot moved', depth(35), 60_000);
    assert.equal(condition(moved, 'RedisReachable')?.status, 'True');
    assert.equal(moved.status?.desiredReplicas, 4);

    const promoted = await cluster.replicaOf(second);
    await cluster.kill(second);
    await until('the replica is promoted', async () => String((await cluster.connect(promoted).role())[0]) === 'master', 60_000, 200);
    await until('the slot is served by the promoted replica', async () => (await cluster.ownerOf(slot)) === promoted, 60_000, 200);
    await cluster.connect(promoted).rpush(k.queue('sharded'), ...jobs(10));
    const failedOver = await until('the depth read from the promoted replica', depth(45), 60_000);
    assert.equal(condition(failedOver, 'RedisReachable')?.status, 'True');
    assert.equal(failedOver.status?.desiredReplicas, 5);

    const d = await until('the Deployment', () => getDeployment(env, ns, 'sharded'));
    const worker = d.spec?.template.spec?.containers.find((c) => c.name === 'worker');
    const envOf = Object.fromEntries((worker?.env ?? []).map((e) => [e.name, e.value]));
    assert.deepEqual(Object.fromEntries(Object.entries(envOf).filter(([name]) => name.startsWith('REDIS_') || name === 'RESQUE_NAMESPACE')), {
      REDIS_URL: url,
      REDIS_CLUSTER_NODES: cluster.addresses,
      RESQUE_NAMESPACE: NAMESPACE,
    });
  });

  it('reports a cluster pool without a hash-tagged namespace (Ready=False, a Warning Event); refuses one with sentinels too', async () => {
    const ns = 'redis-cluster-refused';
    await createNamespace(env, ns);
    const url = 'redis://unused:6379';
    const nodes = cluster.addresses.split(',');
    const hashTag = /spec\.redis\.cluster needs a hash-tagged spec\.redis\.namespace/;
    await createPool(env, ns, 'untagged', poolSpec(url, { redis: { url, namespace: 'resque', cluster: { nodes } } }));
    const pool = await until('the untagged pool reported', async () => {
      const p = await getPool(env, ns, 'untagged');
      return condition(p, 'Ready')?.reason === 'InvalidSpec' ? p : undefined;
    }, 30_000);
    assert.equal(condition(pool, 'Ready')?.status, 'False');
    assert.match(condition(pool, 'Ready')?.message ?? '', hashTag);
    const events = await until('a Warning Event', async () => ((await warnings(env, ns, 'untagged')).length > 0 ? warnings(env, ns, 'untagged') : undefined), 30_000);
    assert.match(events.join('\n'), /^InvalidSpec: .*spec\.redis\.cluster needs a hash-tagged/m);
    assert.equal(await getDeployment(env, ns, 'untagged'), undefined);

    await assert.rejects(
      createPool(env, ns, 'both', poolSpec(url, { redis: { url, namespace: NAMESPACE, cluster: { nodes }, sentinel: { masterName: 'm', sentinels: ['127.0.0.1:26379'] } } })),
      (err: unknown) => {
        assert.match(String((err as { body?: unknown }).body ?? err), /spec\.redis\.sentinel and spec\.redis\.cluster exclude each other/);
        return true;
      },
    );
  });
});
