// Configuration errors name the variable; health, readiness and metrics are served on PORT.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConfig } from '../../worker-image/src/config.ts';
import { redisSuite } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { startWorker, stopWorker } from '../helpers/worker.ts';

describe('worker configuration', () => {
  it('has Resque-like defaults', () => {
    const c = readConfig({});
    assert.deepEqual(c.redis, { url: 'redis://127.0.0.1:6379' });
    assert.equal(c.namespace, 'resque');
    assert.deepEqual(c.queues, ['*']);
    assert.equal(c.concurrency, 1);
    assert.equal(c.jobsPerChild, 1);
    assert.equal(c.isolation, 'spawn');
    assert.equal(c.jobTimeoutMs, 300_000);
    assert.equal(c.maxChildMemoryMb, 0);
    assert.equal(c.maxPayloadBytes, 16 * 1024 * 1024);
    assert.equal(c.maxRecoveries, 2);
    assert.match(c.startId, /^[0-9a-f]{8}$/);
    assert.notEqual(readConfig({}).startId, c.startId, 'every start has an id of its own');
    assert.equal(c.childTermGraceMs, 5000);
    assert.equal(readConfig({ CHILD_TERM_GRACE_SECONDS: '0' }).childTermGraceMs, 0);
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ['CONCURRENCY=0', { CONCURRENCY: '0' }, /CONCURRENCY must be an integer >= 1, got "0"/],
    ['CONCURRENCY=two', { CONCURRENCY: 'two' }, /CONCURRENCY must be an integer >= 1/],
    ['JOBS_PER_CHILD=1.5', { JOBS_PER_CHILD: '1.5' }, /JOBS_PER_CHILD must be an integer/],
    ['ISOLATION=thread', { ISOLATION: 'thread' }, /ISOLATION must be spawn or fork/],
    ['REDIS_URL=localhost', { REDIS_URL: 'localhost:6379' }, /REDIS_URL: a Redis URL starts with redis:\/\//],
    ['QUEUES=" , "', { QUEUES: ' , ' }, /QUEUES must be a comma list/],
    ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    ['MAX_PAYLOAD_BYTES=0', { MAX_PAYLOAD_BYTES: '0' }, /MAX_PAYLOAD_BYTES must be an integer >= 1, got "0"/],
    ['MAX_RECOVERIES=-1', { MAX_RECOVERIES: '-1' }, /MAX_RECOVERIES must be an integer >= 0/],
    ['FORKPOOL_START_ID=a:b', { FORKPOOL_START_ID: 'a:b' }, /FORKPOOL_START_ID must be 1 to 32 letters and digits/],
    ['CHILD_TERM_GRACE_SECONDS=-1', { CHILD_TERM_GRACE_SECONDS: '-1' }, /CHILD_TERM_GRACE_SECONDS must be an integer >= 0, got "-1"/],
    ['heartbeat timeout <= interval', { HEARTBEAT_INTERVAL_SECONDS: '10', HEARTBEAT_TIMEOUT_SECONDS: '5' }, /HEARTBEAT_TIMEOUT_SECONDS \(5\) must be greater/],
  ];
  for (const [name, env, message] of bad) {
    it(`rejects ${name} with a message naming the variable`, () => {
      assert.throws(() => readConfig(env), message);
    });
  }

  it('the worker exits 2 at start-up with the message on a bad value', async () => {
    const w = await startWorker({ CONCURRENCY: '-3' }, { waitStarted: false });
    let stderr = '';
    w.proc.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
    assert.equal((await w.exited).code, 2);
    assert.match(stderr, /forkpool-worker: invalid configuration:\n\s+CONCURRENCY must be an integer >= 1, got "-3"/);
  });
});

describe('worker health and metrics', () => {
  const suite = redisSuite();

  it('serves /healthz, /readyz and Prometheus /metrics with job counts and timings', async () => {
    const w = await startWorker({ REDIS_URL: suite.server.url, QUEUES: 'm' });
    const started = await w.waitForLog((l) => l.msg === 'worker started');
    const base = `http://127.0.0.1:${Number(started.port)}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    await suite.client.enqueue('m', 'Noop');
    await suite.client.enqueue('m', 'Fail', 1);
    await until('2 processed', async () => (await suite.client.stats()).processed === 2);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /forkpool_jobs_processed_total\{queue="m",class="Noop"\} 1/);
    assert.match(text, /forkpool_jobs_failed_total\{queue="m",class="Fail",exception="PaymentDeclined"\} 1/);
    assert.match(text, /forkpool_job_duration_seconds_count\{queue="m",class="Noop"\} 1/);
    assert.match(text, /forkpool_child_start_seconds_count [1-9]/);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    await stopWorker(w);
  });

  it('is not ready while Redis is unreachable, and carries on when it is back', async () => {
    const w = await startWorker({ REDIS_URL: suite.server.url, QUEUES: 'r' });
    const started = await w.waitForLog((l) => l.msg === 'worker started');
    const base = `http://127.0.0.1:${Number(started.port)}`;
    await suite.server.kill();
    await until('not ready', async () => (await fetch(`${base}/readyz`)).status === 503);
    await w.waitForLog((l) => l.msg === 'Redis unreachable; retrying with backoff');
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'alive, so Kubernetes does not restart it');
    await suite.server.start();
    await until('ready again', async () => (await fetch(`${base}/readyz`)).status === 200, 15_000);
    await suite.client.enqueue('r', 'Noop');
    await until('job after reconnect', async () => (await suite.client.stats()).processed === 1, 10_000);
    await stopWorker(w);
  });
});
