// Payloads at the client's edges: the size limit (MAX_PAYLOAD_BYTES), refused before anything is written, and a
// payload's bytes kept as written through failure records and failed.retry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createClient, DEFAULT_MAX_PAYLOAD_BYTES, encodeFailure, ForkpoolError, PayloadTooLargeError,
} from '../../queue/src/index.ts';
import { redisSuite } from '../helpers/redis.ts';

/** Node's JSON.rawJSON (not in TypeScript's library yet): a number's text, written by JSON.stringify as it is. */
const rawJSON = (text: string): unknown => (JSON as unknown as { rawJSON: (text: string) => unknown }).rawJSON(text);
/** A record's payload, parsed. */
const payloadOf = (record: string): unknown => (JSON.parse(record) as { payload: unknown }).payload;

describe('client: the payload size limit', () => {
  const suite = redisSuite();

  /** Asserts that `call` is refused for a payload of `bytes` over `limit`, with a message saying how to raise it. */
  async function refused(call: Promise<unknown>, bytes: number, limit: number): Promise<void> {
    await assert.rejects(call, (err: unknown) => {
      assert.ok(err instanceof PayloadTooLargeError);
      assert.ok(err instanceof ForkpoolError);
      assert.deepEqual([err.kind, err.bytes, err.limit], ['payload-too-large', bytes, limit]);
      assert.match(err.message, new RegExp(`the payload is ${bytes} bytes, over the limit of ${limit} bytes`));
      assert.match(err.message, /maxPayloadBytes/);
      assert.match(err.message, /MAX_PAYLOAD_BYTES/);
      return true;
    });
  }

  it('refuses a payload over 16 MiB by default, and takes one of exactly 16 MiB', async () => {
    assert.equal(DEFAULT_MAX_PAYLOAD_BYTES, 16 * 1024 * 1024);
    const overhead = '{"class":"Big","args":[""]}'.length;
    await suite.client.enqueue('q', 'Big', 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES - overhead));
    await refused(suite.client.enqueue('q', 'Big', 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES - overhead + 1)), DEFAULT_MAX_PAYLOAD_BYTES + 1, DEFAULT_MAX_PAYLOAD_BYTES);
    assert.equal(await suite.redis.llen('resque:queue:q'), 1);
  });

  it('counts bytes of UTF-8 against the limit the client was given, and writes nothing for a payload over it', async () => {
    const small = createClient({ url: suite.server.url, maxPayloadBytes: 100 });
    try {
      const arg = 'é'.repeat(40); // 40 characters, 80 bytes
      const bytes = Buffer.byteLength(JSON.stringify({ class: 'Job', args: [arg] }));
      assert.equal(bytes, 107);
      await refused(small.enqueue('q', 'Job', arg), bytes, 100);
      // A delayed item carries its queue too.
      await refused(small.enqueueAt(new Date(Date.now() + 60_000), 'q', 'Job', arg), bytes + ',"queue":"q"'.length, 100);
      await refused(small.enqueueIn(60, 'q', 'Job', arg), bytes + ',"queue":"q"'.length, 100);
      assert.deepEqual(await suite.redis.keys('*'), [], 'nothing written');
      await small.enqueue('q', 'Job', 'é'.repeat(36)); // 99 bytes
      assert.equal(await suite.redis.llen('resque:queue:q'), 1);
    } finally {
      await small.close();
    }
  });

  it('refuses to retry a failure whose payload is over the limit, and leaves the failure as it was', async () => {
    const small = createClient({ url: suite.server.url, maxPayloadBytes: 100 });
    try {
      const failure = JSON.stringify({
        failed_at: '2026/11/27 07:12:13 UTC', payload: { class: 'Job', args: ['x'.repeat(100)] }, exception: 'E', error: 'e',
        backtrace: [], worker: 'w:1:q', queue: 'q',
      });
      await suite.redis.rpush('resque:failed', failure);
      await refused(small.failed.retry(0), '{"class":"Job","args":[""]}'.length + 100, 100);
      assert.deepEqual(await suite.redis.lrange('resque:failed', 0, -1), [failure]);
      assert.equal(await suite.redis.exists('resque:queue:q'), 0);
    } finally {
      await small.close();
    }
  });

  it('takes only a positive whole number of bytes as the limit', () => {
    for (const maxPayloadBytes of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => createClient({ maxPayloadBytes }), /maxPayloadBytes must be a positive integer/);
    }
  });
});

describe('client and records: a payload\'s bytes as written', () => {
  const suite = redisSuite();

  const failure = (payload: string, queue = 'q'): string => encodeFailure({
    at: new Date('2026-11-27T07:12:13Z'), raw: payload, exception: 'E', error: 'e', backtrace: [], worker: 'w:1:q', queue,
  });

  it('enqueues numbers given as JSON.rawJSON as written', async () => {
    await suite.client.enqueue('q', 'Job', rawJSON('12345678901234567891'), rawJSON('1.0'));
    assert.deepEqual(await suite.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Job","args":[12345678901234567891,1.0]}']);
  });

  it('embeds the payload in a failure record as the text it was, or as a string when it is not JSON', () => {
    const payload = '{"class":"Job","args":[12345678901234567891,1.0,{"2":1,"a":2.50}]}';
    assert.equal(failure(payload), `{"failed_at":"2026/11/27 07:12:13 UTC","payload":${payload},"exception":"E","error":"e","backtrace":[],"worker":"w:1:q","queue":"q"}`);
    assert.equal(payloadOf(failure('{not json')), '{not json');
    const unread = encodeFailure({ at: new Date(), raw: payload, json: false, exception: 'E', error: 'e', backtrace: [], worker: 'w', queue: 'q' });
    assert.equal(payloadOf(unread), payload, 'json: false keeps it as a string, unread');
  });

  it('failed.retry enqueues the class and args as recorded, and leaves every other byte of the record', async () => {
    const record = failure('{"class":"Job","args":[12345678901234567891,1.0,"\\u00e9"],"queue":"q","forkpool_attempt":2}');
    await suite.redis.rpush('resque:failed', record);
    await suite.client.failed.retry(0);
    assert.deepEqual(await suite.redis.lrange('resque:queue:q', 0, -1), ['{"class":"Job","args":[12345678901234567891,1.0,"\\u00e9"]}']);
    const updated = (await suite.redis.lindex('resque:failed', 0)) ?? '';
    assert.equal(updated.replace(/,"retried_at":"[^"]+"\}$/, '}'), record);
  });

  it('failed.retry enqueues a payload recorded as a string (too large to run) once the limit allows it', async () => {
    const payload = '{"class":"Job","args":[12345678901234567891]}';
    await suite.redis.rpush('resque:failed', encodeFailure({
      at: new Date(), raw: payload, json: false, exception: 'Forkpool::PayloadTooLarge', error: 'too large', backtrace: [], worker: 'w', queue: 'q',
    }), failure('"{not json"'));
    await suite.client.failed.retry(0);
    assert.deepEqual(await suite.redis.lrange('resque:queue:q', 0, -1), [payload]);
    await assert.rejects(suite.client.failed.retry(1), /failure 1 cannot be retried/);
  });
});
