// Redis Cluster: three primaries and three replicas on loopback. The worker and the client reach the
// hash-tagged namespace's slot through REDIS_CLUSTER_NODES; during a burst of jobs the slot is moved to
// another primary (a resharding) and then its new primary is failed over to its replica (CLUSTER FAILOVER).
// Every job enqueued runs: completions are counted exactly, and any job that ran twice is reported.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import { readConfig } from '../../worker-image/src/config.ts';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.ts';
import { until } from '../helpers/wait.ts';
import { killStarted, runCli, startCli } from '../cli/helpers.ts';
import { records, startWorker, stopWorker, tempRecordFile, type WorkerProcess } from '../helpers/worker.ts';

const NS = '{resque}';

describe('worker: Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: ForkpoolClient;
  let worker: WorkerProcess | undefined;
  const file = tempRecordFile();
  const ran = (phase: string): unknown[] => records(file).filter((r) => (r.args as unknown[] | undefined)?.[0] === phase).map((r) => (r.args as unknown[])[1]);

  before(async () => {
    cluster = await startRedisCluster();
    client = createClient({ target: { url: 'redis://127.0.0.1', cluster: { nodes: cluster.nodes } }, namespace: NS });
  });
  after(async () => {
    killStarted();
    if (worker) await stopWorker(worker);
    await client.close();
    await cluster.stop();
  });

  it('refuses a namespace without a hash tag, naming the variable', () => {
    assert.throws(() => readConfig({ REDIS_CLUSTER_NODES: cluster.addresses, RESQUE_NAMESPACE: 'resque', QUEUES: 'jobs' }),
      /REDIS_CLUSTER_NODES: Redis Cluster needs a hash-tagged namespace.*"\{resque\}"/s);
    assert.throws(() => createClient({ target: { url: 'redis://127.0.0.1', cluster: { nodes: cluster.nodes } }, namespace: 'resque' }), /hash-tagged namespace/);
  });

  it('runs every job of a burst across a resharding and a primary failover', async () => {
    worker = await startWorker({
      REDIS_CLUSTER_NODES: cluster.addresses, RESQUE_NAMESPACE: NS,
      // One queue: idle slots wait in BLMOVE on connections of their own, which must follow the slot too.
      QUEUES: 'jobs', CONCURRENCY: '2', JOBS_PER_CHILD: '100', RECORD_FILE: file,
    });
    const slot = await cluster.slotOf(NS);
    const enqueue = async (phase: string, n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        // The client's own connection follows too; an enqueue refused during the move is sent again.
        await until(`enqueue ${phase} ${i}`, () => client.enqueue('jobs', 'Record', phase, i).then(() => true, () => false), 30_000, 100);
      }
    };
    await enqueue('start', 20);
    await until('the first 20 jobs ran', () => new Set(ran('start')).size === 20, 30_000);

    // (a) resharding during a burst
    const first = await cluster.ownerOf(slot);
    const target = cluster.ports.find((p) => p !== first && p !== undefined);
    const primaries = [];
    for (const p of cluster.ports) if (String((await cluster.connect(p).role())[0]) === 'master') primaries.push(p);
    const to = primaries.find((p) => p !== first) ?? target ?? 0;
    const burst = enqueue('reshard', 40);
    await cluster.moveSlot(slot, to);
    await burst;
    assert.equal(await cluster.ownerOf(slot), to, 'the namespace\'s slot moved');
    await until('the 40 jobs of the resharding burst ran', () => new Set(ran('reshard')).size === 40, 60_000);

    // (b) failover of the slot's primary during a burst
    const replica = await cluster.replicaOf(to);
    const burst2 = enqueue('failover', 40);
    await cluster.failover(replica);
    await burst2;
    assert.equal(await cluster.ownerOf(slot), replica, 'the replica serves the slot');
    await until('the 40 jobs of the failover burst ran', () => new Set(ran('failover')).size === 40, 60_000);
    await enqueue('end', 20);
    await until('the 20 jobs after the failover ran', () => new Set(ran('end')).size === 20, 60_000);

    const owner = cluster.connect(replica);
    await until('nothing waits or is held', async () => await owner.llen(`${NS}:queue:jobs`) === 0 && Object.keys(await owner.hgetall(`${NS}:forkpool:running`)).length === 0, 30_000);
    const all = records(file);
    const seen = new Map<string, number>();
    for (const r of all) { const k = JSON.stringify(r.args); seen.set(k, (seen.get(k) ?? 0) + 1); }
    const dup = [...seen].filter(([, n]) => n > 1);
    console.log(`cluster: ${seen.size} distinct jobs completed, ${all.length} completions, duplicates: ${dup.length === 0 ? 'none' : dup.map(([k, n]) => `${k}x${n}`).join(' ')}`);
    assert.equal(seen.size, 120, 'every job ran');
    assert.equal(worker.proc.exitCode, null, 'the same worker process went on');
    assert.ok(Number(await owner.get(`${NS}:stat:processed`)) >= 120, 'every job is counted on the slot\'s primary');
    const stats = await client.stats();
    assert.ok(stats.processed >= 120, `the client reads the stats through the cluster: ${JSON.stringify(stats)}`);
  });

  it('forkpool stats reads the namespace through the cluster, and refuses a namespace without a hash tag', async () => {
    const r = await runCli(['stats', '--json'], { REDIS_CLUSTER_NODES: cluster.addresses, RESQUE_NAMESPACE: NS });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"processed":\s*1[2-9]\d/, r.stdout);
    const bad = await runCli(['stats'], { REDIS_CLUSTER_NODES: cluster.addresses, RESQUE_NAMESPACE: 'resque' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /hash-tagged namespace/);
    const byFlag = await runCli(['--cluster-nodes', cluster.addresses, '--namespace', NS, 'stats', '--json']);
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.match(byFlag.stdout, /"processed":\s*1[2-9]\d/, byFlag.stdout);
    const badFlag = await runCli(['--cluster-nodes', cluster.addresses, '--namespace', 'resque', 'stats']);
    assert.equal(badFlag.code, 2, badFlag.stderr);
    assert.match(badFlag.stderr, /^forkpool stats: Redis Cluster needs a hash-tagged namespace .*--namespace "resque" has none; use e\.g\. "\{resque\}"/);
  });

  it('forkpool dashboard shows the namespace through the cluster', async () => {
    await client.enqueue('shown', 'NoopJob', 1);
    const d = startCli(['dashboard', '--port', '0', '--json', '--sample', '1'], { REDIS_CLUSTER_NODES: cluster.addresses, RESQUE_NAMESPACE: NS });
    const line = await until('the dashboard URL', () => d.stdout().split('\n')[0] || undefined, 20_000);
    const { url } = JSON.parse(line) as { url: string };
    const state = await until('the dashboard state', async () => {
      const res = await fetch(new URL('/api/state', url));
      return res.ok ? await res.text() : undefined;
    }, 20_000);
    assert.match(state, /"shown"/, state);
    assert.match(state, /"processed":\s*1[2-9]\d/, state);
    d.proc.kill('SIGINT');
    assert.equal(await d.exited, 0, d.stderr());
  });
});
