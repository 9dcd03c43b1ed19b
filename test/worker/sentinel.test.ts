// A Sentinel failover: three real sentinels watch a primary and its replica; the worker and the enqueuer find
// the primary through them (REDIS_SENTINELS, REDIS_SENTINEL_MASTER). The primary is SIGKILLed, the sentinels
// promote the replica, and the worker follows it and goes on taking jobs. Replication is asynchronous, so only
// what the replica is known to hold is asserted on: every job whose end was recorded before a WAIT barrier
// ran once and is counted on the new primary, every job enqueued before the barrier runs, and every job
// enqueued after the promotion runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startSentinels, type Sentinels } from '../helpers/sentinel.ts';
import { replicate } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';
import { records, startWorker, stopWorker, tempRecordFile, type WorkerProcess } from '../helpers/worker.ts';

const MASTER = 'forkpool-test';

describe('worker: Redis Sentinel failover', () => {
  let primary: RedisServer;
  let replica: RedisServer;
  let sentinels: Sentinels;
  let client: ForkpoolClient;
  let worker: WorkerProcess | undefined;
  const file = tempRecordFile();
  /** The second arguments of the Record jobs of a phase that ran, once per run. */
  const ran = (phase: string): unknown[] => records(file).filter((r) => (r.args as unknown[] | undefined)?.[0] === phase).map((r) => (r.args as unknown[])[1]);

  before(async () => {
    [primary, replica] = await Promise.all([startRedis(), startRedis()]);
    await replicate(primary.connect(), replica.connect(), primary.port);
    sentinels = await startSentinels(MASTER, primary.port, { replicas: 1, downAfterMs: 1000 });
    client = createClient({ target: { url: 'redis://127.0.0.1:6379', sentinel: { masterName: MASTER, sentinels: sentinels.list } } });
  });
  after(async () => {
    if (worker) await stopWorker(worker);
    await client.close();
    await sentinels.stop();
    await Promise.all([primary.stop(), replica.stop()]);
  });

  it('the primary is killed: the worker follows the promoted replica, keeps taking jobs, and loses none acknowledged', async () => {
    worker = await startWorker({
      REDIS_SENTINELS: sentinels.addresses, REDIS_SENTINEL_MASTER: MASTER,
      // One queue: idle slots wait in BLMOVE on connections of their own, which must follow too.
      QUEUES: 'jobs', CONCURRENCY: '2', JOBS_PER_CHILD: '100', RECORD_FILE: file,
    });
    const p: Redis = primary.connect();

    for (let i = 0; i < 20; i++) await client.enqueue('jobs', 'Record', 'before', i);
    await until('the 20 jobs before the failover ran and were counted', async () => ran('before').length === 20 && Number(await p.get('resque:stat:processed')) === 20);
    // Jobs in flight at the kill, and their enqueues held by the replica.
    for (let i = 0; i < 4; i++) await client.enqueue('jobs', 'Sleep', 1, `across-${i}`);
    await until('a job across the failover started', () => records(file).some((r) => r.event === 'start'));
    assert.equal(Number(await p.call('WAIT', 1, 5000)), 1, 'the replica acknowledged every write so far');

    await primary.kill();
    await until('the sentinels promoted the replica', async () => (await sentinels.primaryPort()) === replica.port, 60_000, 200);

    for (let i = 0; i < 20; i++) await client.enqueue('jobs', 'Record', 'after', i);
    await until('the 20 jobs enqueued after the promotion ran', () => new Set(ran('after')).size === 20, 60_000);
    const ended = (): Set<unknown> => new Set(records(file).filter((r) => r.event === 'end').map((r) => r.id));
    await until('every job in flight at the kill ran to its end', () => [0, 1, 2, 3].every((i) => ended().has(`across-${i}`)), 60_000);

    const r = replica.connect();
    await until('nothing waits or is held on the new primary', async () => {
      return await r.llen('resque:queue:jobs') === 0 && Object.keys(await r.hgetall('resque:forkpool:running')).length === 0;
    }, 30_000);
    // Ends recorded before the barrier are on the new primary: none of those jobs ran again.
    assert.deepEqual(ran('before').sort((a, b) => Number(a) - Number(b)), Array.from({ length: 20 }, (_, i) => i));
    assert.ok(Number(await r.get('resque:stat:processed')) >= 20 + 4 + 20, 'every job is counted on the new primary');
    assert.equal(worker.proc.exitCode, null, 'the same worker process went on');
    const registered = await r.smembers('resque:workers');
    assert.equal(registered.length, 1, `the worker is registered on the new primary: ${registered.join(' ')}`);
  });

  it('SENTINEL FAILOVER back to the old primary, restarted as its replica: the worker follows again', async () => {
    assert.ok(worker, 'the worker of the test before');
    const w = worker;
    await primary.start();
    const old: Redis = primary.connect();
    // The sentinels make the server that comes back a replica of the primary they promoted.
    await until('the old primary is a replica in sync', async () => (await old.info('replication')).includes('master_link_status:up'), 60_000, 200);
    const r = replica.connect();
    const processed = async (c: Redis): Promise<number> => Number(await c.get('resque:stat:processed'));
    const before = await processed(r);
    for (let i = 0; i < 10; i++) await client.enqueue('jobs', 'Record', 'switch', i);
    await until('the 10 jobs before the switch ran and were counted', async () => new Set(ran('switch')).size === 10 && (await processed(r)) === before + 10);
    assert.equal(Number(await r.call('WAIT', 1, 5000)), 1, 'the replica acknowledged every write so far');

    await sentinels.failover(MASTER);
    await until('the sentinels switched to the old primary', async () => (await sentinels.primaryPort()) === primary.port, 60_000, 200);
    // Until the sentinels make the demoted server a replica, it still takes writes, which its resync then
    // drops (docs/redis.md#sentinel): enqueue once it is one.
    await until('the demoted primary is a replica in sync', async () => (await r.info('replication')).includes('master_link_status:up'), 60_000, 200);
    for (let i = 0; i < 10; i++) await client.enqueue('jobs', 'Record', 'back', i);
    await until('the 10 jobs enqueued after the switch ran', () => new Set(ran('back')).size === 10, 60_000);
    await until('all 20 are counted on the primary', async () => (await processed(old)) >= before + 20, 30_000);
    assert.deepEqual(ran('switch').sort((a, b) => Number(a) - Number(b)), Array.from({ length: 10 }, (_, i) => i), 'none of the jobs finished before the switch ran again');
    assert.equal(w.proc.exitCode, null, 'the same worker process went on');
  });
});
