// Big and unusual payloads: a job's error message or arguments of tens of MB reach the other side whole, a
// payload over MAX_PAYLOAD_BYTES is a failure without being read, and a payload's bytes (its numbers as written)
// survive a retry, a failure record and failed.retry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createClient } from '../../queue/src/index.ts';
import { until } from '../helpers/wait.ts';
import { records, stopWorker, tempRecordFile, workerSuite } from '../helpers/worker.ts';

const BIG = 20 * 1024 * 1024;

for (const isolation of ['spawn', 'fork'] as const) describe(`worker: big lines to and from children (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation);

  it('records a job that fails with a 20 MB error message, whole, and runs the next job', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'big', RECORD_FILE: file });
    await t.client.enqueue('big', 'Huge', BIG);
    await t.client.enqueue('big', 'Record', 'after');
    // Generous: this is a correctness test, not a timing one (the readers' linearity is unit-tested).
    await until('the next job ran', () => records(file).length === 1, 120_000, 200);
    const [failure] = await t.client.failed.list();
    assert.equal(failure?.record?.exception, 'RangeError');
    assert.equal(failure?.record?.error.length, BIG);
    assert.ok(/^x+$/.test(failure?.record?.error ?? ''), 'the message arrives unchanged');
    assert.deepEqual(records(file)[0]?.args, ['after']);
  });

  it('runs a job with a 20 MB argument, with the payload limit raised, and the job receives it whole', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'big', RECORD_FILE: file, MAX_PAYLOAD_BYTES: String(2 * BIG) });
    const arg = 'é'.repeat(BIG / 2); // two bytes each in UTF-8: characters split across reads arrive whole
    const client = createClient({ url: t.server.url, maxPayloadBytes: 2 * BIG });
    await client.enqueue('big', 'Record', arg, 'end');
    await client.close();
    await until('the job ran', () => records(file).length === 1, 120_000, 200);
    const [args] = records(file).map((r) => r.args as string[]);
    assert.equal(args?.[0]?.length, arg.length);
    assert.ok(args?.[0] === arg, 'the argument arrives unchanged');
    assert.equal(args?.[1], 'end');
    assert.equal((await t.client.stats()).failed, 0);
  });
});

for (const isolation of ['spawn', 'fork'] as const) describe(`worker: payloads over MAX_PAYLOAD_BYTES (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation);

  it('records an oversize job as Forkpool::PayloadTooLarge, unparsed and never run, and runs the next job', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'q', RECORD_FILE: file, MAX_PAYLOAD_BYTES: '1000', RETRY_ATTEMPTS: '2' });
    // As a Ruby enqueuer, which has no limit, would push them: one valid, one cut short (not JSON at all).
    const valid = JSON.stringify({ class: 'Record', args: ['x'.repeat(2000)] });
    const cut = valid.slice(0, 1500);
    await t.redis.sadd('resque:queues', 'q');
    await t.redis.rpush('resque:queue:q', valid, cut);
    await t.client.enqueue('q', 'Record', 'after');
    await until('the next job ran', () => records(file).length === 1);
    await until('2 failures', async () => (await t.client.failed.count()) === 2);
    const failures = (await t.client.failed.list()).map((f) => f.record);
    assert.deepEqual(failures.map((f) => f?.exception), ['Forkpool::PayloadTooLarge', 'Forkpool::PayloadTooLarge']);
    assert.match(failures[0]?.error ?? '', new RegExp(`^payload is ${valid.length} bytes, over the limit of 1000 bytes \\(MAX_PAYLOAD_BYTES\\); it was not run: \\{"class":"Record"`));
    // Not parsed: the one that is not JSON fails for its size too, and both are kept as the strings they were.
    assert.match(failures[1]?.error ?? '', /^payload is 1500 bytes, over the limit of 1000 bytes/);
    assert.equal(failures[0]?.payload, valid);
    assert.equal(failures[1]?.payload, cut);
    assert.equal(failures[0]?.queue, 'q');
    // Never run, and not retried: it would fail the same way every time.
    assert.deepEqual(records(file).map((r) => r.args), [['after']]);
    assert.equal(await t.client.delayed.count(), 0);
  });
});

describe('worker: a payload\'s bytes through retries, failure records and failed.retry', () => {
  const t = workerSuite('spawn');

  it('keeps the numbers as the enqueuer wrote them, and every other byte', async () => {
    // As Ruby writes them: Ruby's JSON reads 12345678901234567891 and 1.0 back exactly; JavaScript's does not.
    const payload = '{"class":"Fail","args":[12345678901234567891,1.0,1e400,-0.0,1E+2,"\\u00e9\\/",{"2":1,"a":2.50}]}';
    await t.redis.sadd('resque:queues', 'q');
    await t.redis.rpush('resque:queue:q', payload);
    // This worker moves no delayed jobs (DELAYED_POLL_SECONDS=0), so the retry stays where it can be read.
    const first = await t.start({ QUEUES: 'q', RETRY_ATTEMPTS: '1', RETRY_BACKOFF_SECONDS: '1', DELAYED_POLL_SECONDS: '0' });
    const retry = `${payload.slice(0, -1)},"queue":"q","forkpool_attempt":1}`;
    const [stamp] = await until('the retry is scheduled', async () => {
      const stamps = await t.redis.zrange('resque:delayed_queue_schedule', 0, -1);
      return stamps.length > 0 ? stamps : undefined;
    });
    assert.deepEqual(await t.redis.lrange(`resque:delayed:${stamp}`, 0, -1), [retry], 'the retry is the payload with queue and attempt added');
    assert.equal(await t.redis.exists(`resque:timestamps:${retry}`), 1);
    await stopWorker(first);

    // The next worker moves it to its queue when it is due, and it fails for good.
    const second = await t.start({ QUEUES: 'q', RETRY_ATTEMPTS: '1', RETRY_BACKOFF_SECONDS: '1' });
    await until('the last failure is recorded', async () => (await t.client.failed.count()) === 1);
    await stopWorker(second);
    const failure = (await t.redis.lindex('resque:failed', 0)) ?? '';
    assert.ok(failure.includes(`,"payload":${retry},"exception":"PaymentDeclined",`), `the failure record embeds the payload as it was: ${failure}`);
    assert.deepEqual((JSON.parse(failure) as { payload: unknown }).payload, JSON.parse(retry));

    // failed.retry enqueues its class and args, as Resque::Failure.requeue does, as they were written.
    await t.client.failed.retry(0);
    assert.deepEqual(await t.redis.lrange('resque:queue:q', 0, -1), [payload]);
    const updated = await t.redis.lindex('resque:failed', 0);
    assert.equal(updated?.replace(/,"retried_at":"[^"]+"\}$/, '}'), failure, 'the failure record keeps its bytes');
  });
});
