// The operator's Redis side through Sentinel (spec.redis.sentinel): three real sentinels, a primary and its
// replica. The poller reads queue depths from the primary the sentinels name; the primary is SIGKILLed, the
// sentinels promote the replica, and the poller's samples (what sizes the pool) come from it, and the
// scheduler moves due delayed jobs there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { createClient } from '../../queue/src/index.ts';
import { keys } from '../../queue/src/keys.ts';
import type { RedisTarget } from '../../queue/src/redis-connection.ts';
import { RedisPoller, type Sample } from '../../operator/src/redis-poller.ts';
import { Scheduler } from '../../operator/src/scheduler.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startSentinels, type Sentinels } from '../helpers/sentinel.ts';
import { replicate } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

const log = pino({ level: 'silent' });
const MASTER = 'forkpool-operator-test';
const k = keys('resque');
let primary: RedisServer;
let replica: RedisServer;
let sentinels: Sentinels;

before(async () => {
  [primary, replica] = await Promise.all([startRedis(), startRedis()]);
  await replicate(primary.connect(), replica.connect(), primary.port);
  sentinels = await startSentinels(MASTER, primary.port, { replicas: 1, downAfterMs: 1000 });
});
after(async () => {
  await sentinels.stop();
  await Promise.all([primary.stop(), replica.stop()]);
});

test('the poller and the scheduler follow a Sentinel failover to the promoted replica', async () => {
  const target: RedisTarget = { url: 'redis://127.0.0.1:6379/0', sentinel: { masterName: MASTER, sentinels: sentinels.list } };
  const samples: Sample[] = [];
  const poller = new RedisPoller({ log, onSample: (_key, s) => samples.push(s), commandTimeoutMs: 1000 });
  try {
    poller.upsert('ns/p', { redis: target, namespace: 'resque', queues: ['q'], intervalMs: 200 });
    poller.setRunning(true);
    const p: Redis = primary.connect();
    await p.rpush(k.queue('q'), '{}', '{}', '{}');
    await until('the depth on the first primary', () => samples.at(-1)?.queues?.[0]?.waiting === 3);

    await primary.kill();
    await until('the sentinels promoted the replica', async () => (await sentinels.primaryPort()) === replica.port, 60_000, 200);
    const r: Redis = replica.connect();
    await r.rpush(k.queue('q'), '{}', '{}');
    await until('the depth on the promoted replica', () => samples.at(-1)?.queues?.[0]?.waiting === 5, 60_000);

    let moved = 0;
    const scheduler = new Scheduler({ log, identity: 'op', onMoved: (n) => (moved += n) });
    scheduler.setPool('ns/p', poller.client(target), 'resque', []);
    await createClient({ redis: r }).enqueueAt(new Date(Date.now() - 5000), 'mailers', 'LaterJob', 42);
    await until('the due job moved on the promoted replica', async () => (await scheduler.tick(), moved === 1), 10_000, 200);
    assert.deepEqual(await r.lrange(k.queue('mailers'), 0, -1), ['{"class":"LaterJob","args":[42],"queue":"mailers"}']);
  } finally {
    await poller.stop();
  }
});
