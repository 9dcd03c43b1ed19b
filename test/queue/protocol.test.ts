// The Redis protocol against Ruby Resque 3's own captures: what we write is byte-for-byte what Resque writes,
// and what Resque writes we read.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  encodeFailure, FailureRecord, formatFailedAt, formatHeartbeat, formatRunAt, formatStarted, parseJob,
  scripts,
} from '../../queue/src/index.ts';
import { redisSuite } from '../helpers/redis.ts';

interface Capture { type: string; items?: string[]; members?: string[] | Record<string, number>; value?: string; fields?: Record<string, string> }
const fixture = JSON.parse(readFileSync(new URL('../fixtures/resque-3.0.0-redis.json', import.meta.url), 'utf8')) as Record<string, Record<string, Capture>>;
const capture = (section: string, key: string): Capture => {
  const c = fixture[section]?.[key];
  assert.ok(c, `fixture has ${section} ${key}`);
  return c;
};

describe('Resque wire format', () => {
  const suite = redisSuite();

  it('enqueue writes what Resque.enqueue writes', async () => {
    await suite.client.enqueue('demo', 'NoopJob', 42, 'hello');
    assert.deepEqual(await suite.redis.lrange('resque:queue:demo', 0, -1), capture('enqueue', 'resque:queue:demo').items);
    assert.deepEqual(await suite.redis.smembers('resque:queues'), capture('enqueue', 'resque:queues').members);
  });

  it('enqueueAt writes what resque-scheduler writes', async () => {
    await suite.client.enqueueAt(new Date(1795763662_000), 'dq', 'NoopJob', 'x', 1);
    const d = fixture.delayed as Record<string, Capture>;
    assert.deepEqual(await suite.redis.lrange('resque:delayed:1795763662', 0, -1), d['resque:delayed:1795763662']?.items);
    assert.deepEqual(await suite.redis.zrange('resque:delayed_queue_schedule', 0, -1, 'WITHSCORES'), ['1795763662', '1795763662']);
    const tsKey = Object.keys(d).find((key) => key.startsWith('resque:timestamps:'));
    assert.ok(tsKey);
    assert.deepEqual(await suite.redis.smembers(tsKey), d[tsKey]?.members);
  });

  it('failure records are encoded as Resque::Failure::Redis encodes them', () => {
    for (const section of ['after_a_job_raised', 'after_the_child_was_killed']) {
      const raw = capture(section, 'resque:failed').items?.[0];
      assert.ok(raw);
      const record = FailureRecord.parse(JSON.parse(raw));
      const at = record.failed_at.replace(/^(\d+)\/(\d+)\/(\d+) (\S+) UTC$/, '$1-$2-$3T$4Z');
      const encoded = encodeFailure({
        at: new Date(at), raw: JSON.stringify(record.payload), exception: record.exception, error: record.error,
        backtrace: record.backtrace, worker: record.worker, queue: record.queue,
      });
      assert.equal(encoded, raw);
    }
  });

  it('time formats match the captures', () => {
    const d = new Date('2026-11-27T07:12:02Z');
    assert.equal(formatStarted(d), capture('while_a_job_runs', 'resque:worker:vm:11461:slow:started').value);
    assert.equal(formatHeartbeat(d), capture('while_a_job_runs', 'resque:workers:heartbeat').fields?.['vm:11461:slow']);
    assert.equal(formatRunAt(d), '2026-11-27T07:12:02Z');
    assert.equal(formatFailedAt(new Date('2026-11-27T07:12:13Z')), '2026/11/27 07:12:13 UTC');
  });

  it('the heartbeat and start time the heartbeat script writes match the captures, by Redis\'s clock', async () => {
    const prelude = readFileSync(new URL('../../queue/lua/_lib.lua', import.meta.url), 'utf8');
    const at = Date.parse('2026-11-27T07:12:02Z') / 1000;
    assert.deepEqual(await suite.redis.eval(`${prelude}\nreturn { heartbeat_utc(tonumber(ARGV[1])), started_utc(tonumber(ARGV[1])) }`, 0, at), [
      capture('while_a_job_runs', 'resque:workers:heartbeat').fields?.['vm:11461:slow'],
      capture('while_a_job_runs', 'resque:worker:vm:11461:slow:started').value,
    ]);
    const [before = '0'] = await suite.redis.time();
    await scripts.heartbeat.run(suite.redis, ['resque', 'vm:1-0a0b0c0d:slow', 2]);
    const [after = '0'] = await suite.redis.time();
    const beat = Date.parse(String(await suite.redis.hget('resque:workers:heartbeat', 'vm:1-0a0b0c0d:slow'))) / 1000;
    const started = Date.parse(String(await suite.redis.get('resque:worker:vm:1-0a0b0c0d:slow:started')).replace(' ', 'T').replace(' +0000', 'Z')) / 1000;
    for (const t of [beat, started]) assert.ok(t >= Number(before) && t <= Number(after), `${t} between ${before} and ${after}`);
  });

  it('the running-job record a worker writes matches Resque\'s', async () => {
    await suite.redis.rpush('resque:queue:slow', '{"class":"SleepJob","args":[5]}');
    const taken = await scripts.reserve.run(suite.redis, ['resque', 'vm:11461:slow', '0', '2026-11-27T07:12:02Z', 0, 'slow']);
    assert.deepEqual(taken, ['slow', '{"class":"SleepJob","args":[5]}']);
    assert.equal(await suite.redis.get('resque:worker:vm:11461:slow'), capture('while_a_job_runs', 'resque:worker:vm:11461:slow').value);
  });

  it('reads ActiveJob 6.1 payloads and runs job_class with arguments', () => {
    const raw = capture('activejob_6_1', 'resque:queue:mailers').items?.[0];
    assert.ok(raw);
    const job = parseJob(raw);
    assert.ok(job.ok);
    assert.equal(job.value.className, 'HelloJob');
    assert.deepEqual(job.value.args, ['world', { count: 2, _aj_ruby2_keywords: ['count'] }]);
    assert.equal(job.value.jobId, 'bde5768f-c8c2-45e5-9b22-221dad00201d');
    assert.equal(job.value.enqueuedAt?.toISOString(), '2026-11-27T07:19:48.000Z');
  });

  it('reads the worker registry and stats Ruby Resque wrote', async () => {
    for (const [key, c] of Object.entries(fixture.while_a_job_runs as Record<string, Capture>)) {
      if (c.type === 'set') await suite.redis.sadd(key, ...(c.members as string[]));
      if (c.type === 'string') await suite.redis.set(key, c.value ?? '');
      if (c.type === 'hash') await suite.redis.hset(key, c.fields ?? {});
    }
    const [w] = await suite.client.workers();
    assert.equal(w?.id, 'vm:11461:slow');
    assert.equal(w?.host, 'vm');
    assert.equal(w?.pid, 11461);
    assert.deepEqual(w?.queues, ['slow']);
    assert.deepEqual(w?.job, { queue: 'slow', run_at: '2026-11-27T07:12:02Z', payload: { class: 'SleepJob', args: [5] } });
    const stats = await suite.client.stats();
    assert.equal(stats.processed, 1);
    assert.equal(stats.workers, 1);
    assert.equal(stats.working, 1);
  });

  it('retrying a failure does what Resque::Failure.requeue does', async () => {
    const raw = capture('after_a_job_raised', 'resque:failed').items?.[0] ?? '';
    await suite.redis.rpush('resque:failed', raw);
    await suite.client.failed.retry(0);
    assert.deepEqual(await suite.redis.lrange('resque:queue:demo', 0, -1), ['{"class":"FailJob","args":[7,"x"]}']);
    const updated = await suite.redis.lindex('resque:failed', 0);
    assert.match(updated ?? '', /,"retried_at":"\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d UTC"\}$/);
    assert.equal(updated?.replace(/,"retried_at":"[^"]+"\}$/, '}'), raw);
  });

  it('lists, removes and clears failures; a malformed record is reported, not thrown', async () => {
    const raw = capture('after_a_job_raised', 'resque:failed').items?.[0] ?? '';
    await suite.redis.rpush('resque:failed', raw, 'not json', '{"payload":1}', raw);
    const list = await suite.client.failed.list();
    assert.equal(list.length, 4);
    assert.equal(list[0]?.record?.exception, 'ArgumentError');
    assert.match(list[1]?.problem ?? '', /not valid JSON/);
    assert.match(list[2]?.problem ?? '', /failed_at/);
    await assert.rejects(suite.client.failed.retry(1), /cannot be retried/);
    await suite.client.failed.remove(1);
    assert.equal(await suite.client.failed.count(), 3);
    await assert.rejects(suite.client.failed.remove(10), /no failure at index 10/);
    assert.equal(await suite.client.failed.clear(), 3);
  });

  it('acts on a failure by identity: after the list shifted, the same failure; once it is gone, nothing', async () => {
    const failure = (queue: string | null, cls: string, n: number): string => encodeFailure({
      at: new Date(Date.UTC(2026, 10, 27, 7, 0, n % 60)), raw: JSON.stringify({ class: cls, args: [n] }), exception: 'E', error: `e${n}`, backtrace: [], worker: 'w', queue,
    });
    await suite.redis.rpush('resque:failed', ...Array.from({ length: 120 }, (_, n) => failure(n % 2 ? 'odd' : 'even', n % 3 ? 'A' : 'B', n)));
    const page = await suite.client.failed.newest(50, 10);
    assert.equal(page.total, 120);
    assert.deepEqual(page.items.map((i) => i.index), [69, 68, 67, 66, 65, 64, 63, 62, 61, 60], 'newest first, past the first 50');
    const filtered = await suite.client.failed.newest(0, 5, { queue: 'odd', className: 'B' });
    assert.equal(filtered.total, 20);
    assert.deepEqual(filtered.items.map((i) => i.index), [117, 111, 105, 99, 93]);
    const seen = page.items[0];
    assert.ok(seen);
    // Someone else removes the oldest failures: index 69 now holds another one.
    await suite.redis.ltrim('resque:failed', 5, -1);
    await suite.client.failed.retry(seen);
    assert.deepEqual(await suite.redis.lrange('resque:queue:odd', 0, -1), ['{"class":"B","args":[69]}'], 'the failure seen, not the one now at its index');
    await assert.rejects(suite.client.failed.retry(seen), /no longer in the failed list as it was shown/, 'retried, it changed');
    await assert.rejects(suite.client.failed.remove(seen), /no longer in the failed list/);
    const before = await suite.client.failed.count();
    assert.deepEqual(await suite.client.failed.clearRetried(), { done: 1, skipped: 0, gone: 0 });
    assert.equal(await suite.client.failed.count(), before - 1);
    assert.deepEqual(await suite.client.failed.retryAll({ queue: 'even', className: 'B' }), { done: 19, skipped: 0, gone: 0 });
    assert.equal(await suite.client.failed.clear({ queue: 'even' }), 57);
    assert.equal(await suite.client.failed.count(), before - 1 - 57);
  });

  it('enqueues a delayed job now or deletes it, as resque-scheduler\'s remove_delayed leaves its keys', async () => {
    const at = new Date(Date.now() + 3_600_000);
    await suite.client.enqueueAt(at, 'dq', 'Later', 1);
    await suite.client.enqueueAt(at, 'dq', 'Later', 2);
    const [one, two] = await suite.client.delayed.list();
    assert.ok(one && two);
    await suite.client.delayed.take(one.timestamp, one.id, true);
    assert.deepEqual(await suite.redis.lrange('resque:queue:dq', 0, -1), [one.raw]);
    await assert.rejects(suite.client.delayed.take(one.timestamp, one.id, true), /no longer waiting/);
    await suite.client.delayed.take(two.timestamp, two.id, false);
    assert.equal(await suite.client.delayed.count(), 0);
    assert.equal(await suite.redis.exists(`resque:timestamps:${two.raw}`, `resque:delayed:${two.timestamp}`, 'resque:delayed_queue_schedule'), 0);
  });

  it('rejects bad arguments with a clear error', async () => {
    await assert.rejects(suite.client.enqueue('', 'X'), /queue must be a non-empty string/);
    await assert.rejects(suite.client.enqueue('q', 'has space'), /class name must be/);
    await assert.rejects(suite.client.enqueueIn(-1, 'q', 'X'), /non-negative number of seconds/);
    await assert.rejects(suite.client.enqueueAt(new Date('nope'), 'q', 'X'), /valid Date/);
    await assert.rejects(suite.client.failed.retry(-2), /non-negative integer/);
  });

  it('reports queue sizes, delayed jobs and unreadable queue items', async () => {
    await suite.client.enqueue('a', 'X', 1);
    await suite.client.enqueue('a', 'X', 2);
    await suite.client.enqueue('b', 'Y');
    await suite.redis.rpush('resque:queue:b', '{broken');
    await suite.client.enqueueIn(3600, 'a', 'Later');
    assert.deepEqual(await suite.client.queueSizes(['c']), { a: 2, b: 2, c: 0 });
    const items = await suite.client.peek('b');
    assert.equal(items[0]?.payload?.class, 'Y');
    assert.match(items[1]?.problem ?? '', /not valid JSON/);
    assert.equal(await suite.client.delayed.count(), 1);
    assert.equal((await suite.client.delayed.list())[0]?.payload?.class, 'Later');
    const stats = await suite.client.stats();
    assert.equal(stats.pending, 4);
    assert.equal(stats.delayed, 1);
  });
});
