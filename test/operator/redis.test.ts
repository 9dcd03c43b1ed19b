// The operator's Redis side against a real redis-server: the pipelined poller, the scheduler's
// exactly-once cron fires and delayed-job moves, and the busy-pod reading for scale-down.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cron } from 'croner';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { keys } from '../../queue/src/keys.ts';
import { encodeDelayed } from '../../queue/src/payload.ts';
import { RedisPoller, type Sample } from '../../operator/src/redis-poller.ts';
import { redactUrl } from '../../queue/src/redis-url.ts';
import { MAX_FIRES_PER_TICK, Scheduler, compileSchedule } from '../../operator/src/scheduler.ts';
import { deletionCostPatches, jobsByPod, podOfWorker, DELETION_COST_ANNOTATION } from '../../operator/src/scale-down.ts';
import type { Schedule } from '../../operator/src/jobpool.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { failOver, replicate, startTcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

const log = pino({ level: 'silent' });
let server: RedisServer;
let redis: Redis;
before(async () => {
  server = await startRedis();
  redis = server.connect();
});
after(async () => {
  await server.stop();
});

test('one pipelined round trip per Redis server per tick, whatever the number of pools', async () => {
  await redis.flushall();
  const k = keys('resque');
  for (let i = 1; i < 50; i++) await redis.rpush(k.queue(`q${i}`), ...Array.from({ length: i }, () => '{}'));
  await redis.hset(k.running, 'q3', '2');
  await redis.hset(k.queueStats, 'processed:q3', '40', 'busy_ms:q3', '20000', 'processed:q5', '10', 'busy_ms:q5', '1000');
  const samples = new Map<string, Sample>();
  const trips: number[] = [];
  const poller = new RedisPoller({ log, onSample: (key, s) => samples.set(key, s), onRoundTrip: (_ms, commands) => trips.push(commands) });
  for (let i = 0; i < 50; i++) {
    poller.upsert(`ns/p${i}`, { redis: { url: server.url }, namespace: 'resque', queues: [`q${i}`, 'shared'], intervalMs: 200 });
  }
  poller.setRunning(true);
  await until('all sampled', () => samples.size === 50 && [...samples.values()].every((s) => s.queues !== undefined));
  poller.setRunning(false);
  // Each pool: its own LLEN and two HMGETs (in flight, the workers' counters); the shared queue's LLEN is sent once.
  assert.ok(trips.includes(50 * 3 + 1), `commands per trip: ${trips.join(',')}`);
  assert.deepEqual(samples.get('ns/p3')?.queues, [
    { name: 'q3', waiting: 3, inFlight: 2 },
    { name: 'shared', waiting: 0, inFlight: 0 },
  ]);
  assert.deepEqual(samples.get('ns/p3')?.counters, { processed: 40, busyMs: 20_000 });
  assert.deepEqual(samples.get('ns/p5')?.counters, { processed: 10, busyMs: 1000 });
  assert.equal(samples.get('ns/p4')?.counters, undefined, 'no worker has reported for its queues');
  await poller.stop();
});

test('an unreachable Redis gives error samples, not zero depths', async () => {
  const samples: Sample[] = [];
  const poller = new RedisPoller({ log, onSample: (_k, s) => samples.push(s), commandTimeoutMs: 200 });
  poller.upsert('ns/p', { redis: { url: 'redis://127.0.0.1:1' }, namespace: 'resque', queues: ['q'], intervalMs: 100 });
  poller.setRunning(true);
  await until('samples', () => samples.length >= 2);
  await poller.stop();
  assert.ok(samples.every((s) => s.queues === undefined && typeof s.error === 'string' && s.error.length > 0));
});

test('redactUrl hides the password', () => {
  assert.equal(redactUrl('redis://:secret@h:6379/0'), 'redis://:***@h:6379/0');
  assert.equal(redactUrl('redis://h:6379'), 'redis://h:6379');
});

const schedule = (cron: string, extra: Partial<Schedule> = {}): { schedule: Schedule; cron: Cron } => {
  const s: Schedule = { name: 'every-second', cron, timeZone: 'UTC', queue: 'cron', class: 'TickJob', args: [1, 'a'], startingDeadlineSeconds: 300, suspend: false, ...extra };
  const compiled = compileSchedule(s);
  assert.ok(compiled.ok);
  return { schedule: s, cron: compiled.cron };
};

test('a cron fire time is enqueued exactly once by two schedulers racing (a leader change)', async () => {
  await redis.flushall();
  const k = keys('resque');
  const a = new Scheduler({ log, identity: 'a' });
  const b = new Scheduler({ log, identity: 'b' });
  const s = schedule('* * * * * *');
  a.setPool('ns/p', redis, 'resque', [s]);
  b.setPool('ns/p', redis, 'resque', [s]);
  const t0 = Math.floor(Date.now() / 1000) * 1000 + 200;
  // First sight: nothing from before the schedule existed is enqueued.
  await Promise.all([a.tick(t0), b.tick(t0)]);
  assert.equal(await redis.llen(k.queue('cron')), 0);
  // Five seconds pass with both ticking at once, several times per second.
  for (let t = t0 + 250; t <= t0 + 5000; t += 250) await Promise.all([a.tick(t), b.tick(t), a.tick(t)]);
  const jobs = await redis.lrange(k.queue('cron'), 0, -1);
  assert.equal(jobs.length, 5);
  assert.deepEqual(JSON.parse(jobs[0]!), { class: 'TickJob', args: [1, 'a'] });
  assert.ok(await redis.sismember(k.queues, 'cron'));
});

test('a new leader catches up the fire time the old one missed, once', async () => {
  await redis.flushall();
  const k = keys('resque');
  const s = schedule('0 3 * * *', { timeZone: 'Europe/Berlin', name: 'nightly' });
  const old = new Scheduler({ log, identity: 'old' });
  old.setPool('ns/p', redis, 'resque', [s]);
  await old.tick(Date.parse('2030-01-01T01:59:00Z'));
  // The old leader died before 03:00 Berlin (02:00 UTC); the new one starts at 02:00:40 UTC.
  const next = new Scheduler({ log, identity: 'new' });
  next.setPool('ns/p', redis, 'resque', [s]);
  await next.tick(Date.parse('2030-01-01T02:00:40Z'));
  await next.tick(Date.parse('2030-01-01T02:00:41Z'));
  await old.tick(Date.parse('2030-01-01T02:00:42Z'));
  assert.equal(await redis.llen(k.queue('cron')), 1);
  assert.equal(await redis.hget(k.scheduleFired, 'ns/p/nightly'), String(Date.parse('2030-01-01T02:00:00Z')));
});

test('fire times missed while no scheduler ran are enqueued once each within the deadline, older ones skipped', async () => {
  await redis.flushall();
  const k = keys('resque');
  const s = schedule('*/10 * * * * *', { name: 'ten', startingDeadlineSeconds: 35 });
  const missed: number[] = [];
  const make = (id: string): Scheduler => new Scheduler({ log, identity: id, onMissed: (_p, _s, n) => missed.push(n) });
  const old = make('old');
  old.setPool('ns/p', redis, 'resque', [s]);
  await old.tick(Date.parse('2030-01-01T00:00:05Z'));
  await old.tick(Date.parse('2030-01-01T00:00:10.3Z'));
  assert.equal(await redis.llen(k.queue('cron')), 1);
  // No scheduler from 00:00:11 to 00:01:03: fire times 00:20 .. 01:00 are missed; 00:30 .. 01:00 are within 35 s.
  const a = make('a');
  const b = make('b');
  a.setPool('ns/p', redis, 'resque', [s]);
  b.setPool('ns/p', redis, 'resque', [s]);
  const back = Date.parse('2030-01-01T00:01:03Z');
  await Promise.all([a.tick(back), b.tick(back), a.tick(back + 200), b.tick(back + 400)]);
  assert.equal(await redis.llen(k.queue('cron')), 1 + 4);
  assert.equal(await redis.hget(k.scheduleFired, 'ns/p/ten'), String(Date.parse('2030-01-01T00:01:00Z')));
  assert.deepEqual(missed, [1]);
  // Later ticks, of either, add only the fire times that come.
  await Promise.all([a.tick(back + 5000), b.tick(back + 7500), old.tick(back + 7600)]);
  assert.equal(await redis.llen(k.queue('cron')), 6);
});

test('a long outage of a per-second schedule is caught up over several ticks, each fire time once', async () => {
  await redis.flushall();
  const k = keys('resque');
  const s = schedule('* * * * * *', { startingDeadlineSeconds: 250 });
  const sc = new Scheduler({ log, identity: 'op' });
  sc.setPool('ns/p', redis, 'resque', [s]);
  const t0 = Date.parse('2030-01-01T00:00:00.5Z');
  await sc.tick(t0);
  // 240 fire times missed, all within the deadline: at most MAX_FIRES_PER_TICK per tick.
  const back = t0 + 240_000;
  await sc.tick(back);
  assert.equal(await redis.llen(k.queue('cron')), MAX_FIRES_PER_TICK);
  for (let t = back + 100; t <= back + 400; t += 100) await sc.tick(t);
  assert.equal(await redis.llen(k.queue('cron')), 240);
});

test('a suspended schedule enqueues nothing; on resume only what is within the deadline', async () => {
  await redis.flushall();
  const k = keys('resque');
  const running = schedule('*/10 * * * * *', { name: 'ten', startingDeadlineSeconds: 15 });
  const suspended = { ...running, schedule: { ...running.schedule, suspend: true } };
  const sc = new Scheduler({ log, identity: 'op' });
  sc.setPool('ns/p', redis, 'resque', [running]);
  await sc.tick(Date.parse('2030-01-01T00:00:05Z'));
  sc.setPool('ns/p', redis, 'resque', [suspended]);
  for (let t = Date.parse('2030-01-01T00:00:06Z'); t <= Date.parse('2030-01-01T00:01:02Z'); t += 1000) await sc.tick(t);
  assert.equal(await redis.llen(k.queue('cron')), 0);
  // Resumed at 00:01:02: of 00:10 .. 01:00, only 00:50 and 01:00 are at most 15 s old.
  sc.setPool('ns/p', redis, 'resque', [running]);
  await sc.tick(Date.parse('2030-01-01T00:01:02Z'));
  assert.equal(await redis.llen(k.queue('cron')), 2);
});

test('due delayed jobs are moved to their queues, once per Redis namespace', async () => {
  await redis.flushall();
  const k = keys('resque');
  const past = Math.floor(Date.now() / 1000) - 5;
  const future = past + 3600;
  const job = encodeDelayed('LaterJob', [42], 'mailers');
  await redis.rpush(k.delayed(past), job);
  await redis.zadd(k.delayedSchedule, past, String(past));
  await redis.sadd(k.timestamps(job), `delayed:${past}`);
  await redis.rpush(k.delayed(future), encodeDelayed('LaterJob', [43], 'mailers'));
  await redis.zadd(k.delayedSchedule, future, String(future));
  let moved = 0;
  const s = new Scheduler({ log, identity: 'op', onMoved: (n) => (moved += n) });
  s.setPool('ns/a', redis, 'resque', []);
  s.setPool('ns/b', redis, 'resque', []);
  await s.tick();
  assert.equal(moved, 1);
  assert.deepEqual(await redis.lrange(k.queue('mailers'), 0, -1), [job]);
  assert.deepEqual(await redis.zrange(k.delayedSchedule, 0, -1), [String(future)]);
  assert.equal(await redis.exists(k.timestamps(job)), 0);
});

test('jobs per pod from the worker registry and in-flight hashes', async () => {
  await redis.flushall();
  const k = keys('resque');
  await redis.sadd(k.workers, 'pool-a-1:1:q', 'pool-a-2:1:q', 'pool-a-3:1:q', 'pool-a-3:2:q');
  await redis.hset(k.inflight('pool-a-2:1:q'), 'slot0', '{}');
  await redis.hset(k.inflight('pool-a-3:1:q'), 'slot0', '{}');
  await redis.hset(k.inflight('pool-a-3:2:q'), 'slot0', '{}', 'slot1', '{}');
  const busy = await jobsByPod(redis, 'resque');
  assert.deepEqual(Object.fromEntries(busy), { 'pool-a-2': 1, 'pool-a-3': 3 });
});

test('deletion cost patches: busy pods high, idle low, unchanged left alone', () => {
  const pods: { name: string; annotations: Record<string, string> | undefined }[] = [
    { name: 'idle-new', annotations: undefined },
    { name: 'idle-was-busy', annotations: { [DELETION_COST_ANNOTATION]: '100' } },
    { name: 'busy', annotations: {} },
    { name: 'busy-already', annotations: { [DELETION_COST_ANNOTATION]: '200' } },
  ];
  const jobs = new Map([['busy', 1], ['busy-already', 2]]);
  assert.deepEqual(Object.fromEntries(deletionCostPatches(pods, jobs)), { 'idle-was-busy': '0', busy: '100' });
  assert.equal(podOfWorker('mailers-7d9f-abcde:12:critical,mailers'), 'mailers-7d9f-abcde');
});

test('after a failover behind one address, the scheduler reconnects and moves due jobs on the new primary', async () => {
  const [a, b] = await Promise.all([startRedis(), startRedis()]);
  const [ra, rb] = [a.connect(), b.connect()];
  await replicate(ra, rb, a.port);
  const proxy = await startTcpProxy(a.port);
  const url = `redis://127.0.0.1:${proxy.port}`;
  const poller = new RedisPoller({ log, onSample: () => undefined });
  try {
    let moved = 0;
    const s = new Scheduler({ log, identity: 'op', onMoved: (n) => (moved += n) });
    s.setPool('ns/p', await poller.connectedClient({ url }), 'resque', []);
    await s.tick();
    await failOver(proxy, ra, rb, b.port);
    const k = keys('resque');
    const past = Math.floor(Date.now() / 1000) - 5;
    const job = encodeDelayed('LaterJob', [42], 'mailers');
    await rb.multi().rpush(k.delayed(past), job).zadd(k.delayedSchedule, past, String(past)).sadd(k.timestamps(job), `delayed:${past}`).exec();
    // Its connection still reaches the old primary, which answers the move with READONLY: it reconnects.
    await until('the due job moved on the new primary', async () => {
      await s.tick();
      return moved === 1;
    }, 10_000, 200);
    assert.deepEqual(await rb.lrange(k.queue('mailers'), 0, -1), [job]);
  } finally {
    await poller.stop();
    await proxy.close();
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('each Redis server is checked at connect: a memory policy that may evict keys is a warning, reported per server', async () => {
  const lru = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
  const lines: Record<string, unknown>[] = [];
  const captured = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const policies: [string, string | undefined][] = [];
  const poller = new RedisPoller({ log: captured, onSample: () => undefined, onEvictionPolicy: (r, policy) => policies.push([r, policy]) });
  try {
    poller.upsert('ns/lru', { redis: { url: lru.url }, namespace: 'resque', queues: ['q'], intervalMs: 1000 });
    poller.upsert('ns/plain', { redis: { url: server.url }, namespace: 'resque', queues: ['q'], intervalMs: 1000 });
    await until('both servers checked', () => policies.length === 2);
    assert.deepEqual(new Map(policies), new Map([[redactUrl(lru.url), 'allkeys-lru'], [redactUrl(server.url), 'noeviction']]));
    const warning = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis\'s maxmemory-policy is allkeys-lru'));
    assert.deepEqual([warning?.level, warning?.redis, warning?.policy], [40, redactUrl(lru.url), 'allkeys-lru']);
    assert.equal(lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('maxmemory-policy')).length, 1);
    poller.remove('ns/lru');
    assert.deepEqual(policies.at(-1), [redactUrl(lru.url), undefined]);
  } finally {
    await poller.stop();
    await lru.stop();
  }
});
