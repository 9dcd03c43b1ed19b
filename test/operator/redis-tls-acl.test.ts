// A JobPool whose Redis is TLS-only with client certificates and ACL users: the operator reads the CA, the
// client certificate and the credentials from the Secrets spec.redis names, polls the queues and moves due
// delayed jobs under the documented operator ACL (Redis denies nothing), and gives worker pods the same
// Secrets as mounted files and environment.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { createClient } from '../../queue/src/index.ts';
import { keys } from '../../queue/src/keys.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import { aclDenials, aclOnlyServer, createDocumentedUser } from '../helpers/redis-acl.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls.ts';
import { condition, createNamespace, createPool, getDeployment, getPool, poolSpec, runOperator, startEnv, until, type Env } from './harness.ts';
import { startTogether } from '../helpers/start-together.ts';

const k = keys('resque');

describe('a JobPool on a TLS + ACL Redis, on a real cluster', { timeout: 300_000 }, () => {
  let env: Env;
  let certs: TestCerts;
  let server: RedisServer;
  let admin: Redis;
  let operator: RunningOperator;

  before(async () => {
    certs = makeTestCerts();
    [env, server] = await startTogether(startEnv(), startRedis({ tls: { certs, authClients: true } }));
    admin = await aclOnlyServer(server);
    await createDocumentedUser(admin, 'forkpool-operator', 'operator-secret');
    await admin.call('ACL', 'LOG', 'RESET');
    operator = await runOperator(env, 'tls-acl');
  });
  after(async () => {
    await operator?.stop();
    admin?.disconnect();
    await server?.stop();
    await env?.stop();
    certs?.remove();
  });

  it('polls and moves due jobs through the pool\'s Secrets; worker pods get the mounts and the variables', async () => {
    const ns = 'tls';
    await createNamespace(env, ns);
    const secret = (name: string, stringData: Record<string, string>, type?: string): Promise<unknown> =>
      env.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, type, stringData } });
    await secret('redis-ca', { 'ca.crt': readFileSync(certs.caFile, 'utf8') });
    await secret('worker-tls', { 'tls.crt': readFileSync(certs.clientCertFile, 'utf8'), 'tls.key': readFileSync(certs.clientKeyFile, 'utf8') }, 'kubernetes.io/tls');
    await secret('redis-user', { username: 'forkpool-operator', password: 'operator-secret' });
    await createPool(env, ns, 'secure', poolSpec(server.url, {
      redis: {
        url: server.url,
        tls: { caSecretRef: { name: 'redis-ca' }, certSecretRef: { name: 'worker-tls' }, serverName: 'redis.test' },
        auth: { usernameFrom: { secretKeyRef: { name: 'redis-user', key: 'username' } }, passwordFrom: { secretKeyRef: { name: 'redis-user', key: 'password' } } },
      },
      queues: ['secure'],
    }));

    // Polling: the queue's depth reaches the status, and sizes the pool.
    await admin.rpush(k.queue('secure'), ...Array.from({ length: 25 }, (_, i) => JSON.stringify({ class: 'NoopJob', args: [i] })));
    const pool = await until('the depth read over TLS as the operator\'s user', async () => {
      const p = await getPool(env, ns, 'secure');
      return p.status?.queueDepth === 25 ? p : undefined;
    }, 30_000);
    assert.equal(condition(pool, 'RedisReachable')?.status, 'True');
    assert.equal(pool.status?.desiredReplicas, 3);

    // The operator moves a due delayed job to its queue (its scheduler's script, under its ACL).
    await createClient({ redis: admin }).enqueueAt(new Date(Date.now() - 5000), 'secure', 'LaterJob', 1);
    await until('the due job moved', async () => (await admin.llen(k.queue('secure'))) === 26, 30_000);

    const d = await until('the Deployment', () => getDeployment(env, ns, 'secure'));
    const podSpec = d.spec?.template.spec;
    const worker = podSpec?.containers.find((c) => c.name === 'worker');
    const ref = (r: { name?: string; key: string } | undefined): unknown => (r === undefined ? undefined : { name: r.name, key: r.key });
    const envOf = Object.fromEntries((worker?.env ?? []).map((e) => [e.name, e.value ?? ref(e.valueFrom?.secretKeyRef)]));
    assert.deepEqual(
      Object.fromEntries(Object.entries(envOf).filter(([name]) => name.startsWith('REDIS_'))),
      {
        REDIS_URL: server.url,
        REDIS_USERNAME: { name: 'redis-user', key: 'username' },
        REDIS_PASSWORD: { name: 'redis-user', key: 'password' },
        REDIS_TLS_CA_FILE: '/etc/forkpool/redis-ca/ca.crt',
        REDIS_TLS_CERT_FILE: '/etc/forkpool/redis-client-cert/tls.crt',
        REDIS_TLS_KEY_FILE: '/etc/forkpool/redis-client-cert/tls.key',
        REDIS_TLS_SERVERNAME: 'redis.test',
      },
    );
    const volumes = new Map((podSpec?.volumes ?? []).map((v) => [v.name, v.secret?.secretName]));
    assert.equal(volumes.get('forkpool-redis-ca'), 'redis-ca');
    assert.equal(volumes.get('forkpool-redis-client-cert'), 'worker-tls');
    assert.deepEqual(
      (worker?.volumeMounts ?? []).filter((m) => m.name.startsWith('forkpool-redis-')).map((m) => [m.mountPath, m.readOnly]),
      [['/etc/forkpool/redis-ca', true], ['/etc/forkpool/redis-client-cert', true]],
    );
    assert.deepEqual(await aclDenials(admin), [], 'Redis denied none of the operator\'s commands');
  });

  it('a CA Secret that did not sign the server\'s certificate: RedisReachable False, naming the Secret and the server', async () => {
    const ns = 'wrongca';
    await createNamespace(env, ns);
    await env.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'redis-ca' }, stringData: { 'ca.crt': readFileSync(certs.otherCaFile, 'utf8') } } });
    await createPool(env, ns, 'untrusted', poolSpec(server.url, { redis: { url: server.url, tls: { caSecretRef: { name: 'redis-ca' } } }, queues: ['x'] }));
    // The first poll may come before the first connect attempt has failed: it says only that it is not connected.
    const want = `the certificate of Redis at ${server.url} is not signed by the CA in Secret ${ns}/redis-ca key ca.crt`;
    let message = '';
    await until(`RedisReachable False: ${want}`, async () => {
      const c = condition(await getPool(env, ns, 'untrusted'), 'RedisReachable');
      message = c?.message ?? '';
      return c?.status === 'False' && message.includes(want);
    }, 30_000).catch((err: Error) => assert.fail(`${err.message}; last message: ${message}`));
  });
});
