// Big lines between the master and its children: a job's error message or arguments of tens of MB reach the
// other side whole, and the worker carries on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createClient } from '../../queue/src/index.ts';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

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
