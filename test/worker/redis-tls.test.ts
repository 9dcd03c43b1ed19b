// The worker on a TLS-only Redis: mutual TLS with the CA, certificate and key given as files, a rediss:// URL
// trusted through the system's CAs, and the clear refusals: a CA that did not sign the server's certificate,
// a missing client certificate, a name the certificate does not carry. Verification is never turned off,
// not even by NODE_TLS_REJECT_UNAUTHORIZED=0.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls.ts';
import { until } from '../helpers/wait.ts';
import { records, startWorker, stopWorker, tempRecordFile, type WorkerProcess } from '../helpers/worker.ts';

const fatalOf = async (w: WorkerProcess): Promise<string> => {
  assert.equal((await w.exited).code, 1, 'the worker exits 1 when it cannot connect at start');
  const fatal = w.logs.find((l) => l.msg === 'worker could not start');
  return String((fatal?.err as { message?: unknown } | undefined)?.message);
};

describe('worker over mutual TLS', () => {
  let certs: TestCerts;
  let server: RedisServer;
  let redis: Redis;
  let client: ForkpoolClient;
  let tlsEnv: Record<string, string>;
  before(async () => {
    certs = makeTestCerts();
    server = await startRedis({ tls: { certs, authClients: true } });
    redis = server.connect();
    client = createClient({ redis });
    tlsEnv = { REDIS_URL: server.url, REDIS_TLS_CA_FILE: certs.caFile, REDIS_TLS_CERT_FILE: certs.clientCertFile, REDIS_TLS_KEY_FILE: certs.clientKeyFile };
  });
  after(async () => {
    await server.stop();
    certs.remove();
  });

  for (const queues of ['tls-a,tls-b', 'tls-one']) {
    it(`takes and runs jobs (QUEUES=${queues}), with queue change notifications on`, async () => {
      const file = tempRecordFile();
      const w = await startWorker({ ...tlsEnv, QUEUES: queues, CONCURRENCY: '2', RECORD_FILE: file });
      try {
        const [first = '', last = first] = queues.split(',');
        await client.enqueue(first, 'Record', 1);
        await client.enqueue(last, 'Record', 2);
        await until('both jobs ran', () => records(file).length === 2);
        assert.deepEqual(records(file).map((r) => r.args).sort(), [[1], [2]]);
        assert.ok(w.logs.some((l) => l.msg === 'queue change notifications on: idle slots wake when a job is pushed'));
      } finally {
        await stopWorker(w);
      }
    });
  }

  it('a CA that did not sign the server\'s certificate: exits 1 naming the CA file and the server', async () => {
    const w = await startWorker({ ...tlsEnv, REDIS_TLS_CA_FILE: certs.otherCaFile, QUEUES: 'x' }, { waitStarted: false });
    const message = await fatalOf(w);
    assert.ok(message.includes(`TLS: the certificate of Redis at ${server.url} is not signed by the CA in ${certs.otherCaFile}`), message);
  });

  it('no CA given: the system\'s CAs decide, and NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn verification off', async () => {
    const w = await startWorker({ REDIS_URL: server.url, REDIS_TLS_CERT_FILE: certs.clientCertFile, REDIS_TLS_KEY_FILE: certs.clientKeyFile, NODE_TLS_REJECT_UNAUTHORIZED: '0', QUEUES: 'x' }, { waitStarted: false });
    const message = await fatalOf(w);
    assert.ok(message.includes(`TLS: the certificate of Redis at ${server.url} is not signed by the system's CAs`), message);
  });

  it('no client certificate for a server that asks for one: says so', async () => {
    const w = await startWorker({ REDIS_URL: server.url, REDIS_TLS_CA_FILE: certs.caFile, QUEUES: 'x' }, { waitStarted: false });
    const message = await fatalOf(w);
    // The server's alert, or (TLS 1.3: the alert may come after the client wrote) its reset.
    assert.ok(
      message.includes(`TLS: Redis at ${server.url} asks for a client certificate and none is given`)
        || (message.includes(`TLS: Redis at ${server.url} closed the connection`) && message.includes('asks for a client certificate does so when none is given')),
      message,
    );
  });

  it('a server name the certificate does not carry is refused; the one it carries is accepted', async () => {
    const wrong = await startWorker({ ...tlsEnv, REDIS_TLS_SERVERNAME: 'elsewhere.test', QUEUES: 'x' }, { waitStarted: false });
    assert.match(await fatalOf(wrong), /is not for the name elsewhere\.test/);
    const w = await startWorker({ ...tlsEnv, REDIS_TLS_SERVERNAME: 'redis.test', QUEUES: 'x' });
    await stopWorker(w);
  });

  it('an unreadable CA file is a start-up error naming it', async () => {
    const missing = join(certs.dir, 'missing-ca.crt');
    const w = await startWorker({ ...tlsEnv, REDIS_TLS_CA_FILE: missing, QUEUES: 'x' }, { waitStarted: false });
    assert.match(await fatalOf(w), new RegExp(`cannot read the Redis TLS CA file ${missing}: ENOENT`));
  });

  it('a CA file replaced while the worker runs is read again at the next connect', async () => {
    // The worker starts trusting a copy of the CA, which is then replaced by the other CA: the next connect
    // (after the server restarts) reads the file again and is refused, which shows the file was re-read.
    const caCopy = join(certs.dir, 'rotating-ca.crt');
    copyFileSync(certs.caFile, caCopy);
    const w = await startWorker({ ...tlsEnv, REDIS_TLS_CA_FILE: caCopy, QUEUES: 'rot' });
    try {
      copyFileSync(certs.otherCaFile, caCopy);
      await server.kill();
      await server.start();
      const refused = await w.waitForLog((l) => l.msg === 'Redis unreachable; retrying with backoff' && String(l.err).includes(`not signed by the CA in ${caCopy}`), 15_000);
      assert.ok(refused);
      copyFileSync(certs.caFile, caCopy);
      await w.waitForLog((l) => l.msg === 'Redis reachable again', 15_000);
    } finally {
      await stopWorker(w);
    }
  });
});

describe('worker on a rediss:// URL trusted through the system\'s CAs', () => {
  let certs: TestCerts;
  let server: RedisServer;
  before(async () => {
    certs = makeTestCerts();
    server = await startRedis({ tls: { certs, authClients: false } });
  });
  after(async () => {
    await server.stop();
    certs.remove();
  });

  it('takes and runs jobs with no REDIS_TLS_* variable (NODE_EXTRA_CA_CERTS adds the test CA to the system\'s)', async () => {
    const file = tempRecordFile();
    const w = await startWorker({ REDIS_URL: server.url, NODE_EXTRA_CA_CERTS: certs.caFile, QUEUES: 'sys', RECORD_FILE: file });
    const client = createClient({ redis: server.connect() });
    try {
      await client.enqueue('sys', 'Record', 'ok');
      await until('the job ran', () => records(file).length === 1);
    } finally {
      await stopWorker(w);
    }
  });
});
