// The CLI and the queue client on a TLS-only Redis with its own CA (mutual TLS) and an ACL user, set by the
// worker's variables: enqueue and stats work; a wrong CA, a wrong password, TLS files with a redis:// URL are
// each one line that says what to change, with the CLI's exit code, and no stack trace. The CLI's flags set
// the same (--tls-*, --username, --password-file) and win over the variables.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createClient } from '../../queue/src/index.ts';
import { aclOnlyServer } from '../helpers/redis-acl.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls.ts';
import { runCli } from './helpers.ts';

const USER = 'forkpool-cli';
const PASSWORD = 'cli-secret-1';

let certs: TestCerts;
let server: RedisServer;
let admin: Redis;
let env: Record<string, string>;

before(async () => {
  certs = makeTestCerts();
  server = await startRedis({ tls: { certs, authClients: true } });
  admin = await aclOnlyServer(server);
  await admin.call('ACL', 'SETUSER', USER, 'on', `>${PASSWORD}`, '~resque:*', '-@all', '+@read', '+@write', '+ping', '+info', '+select', '+multi', '+exec');
  env = {
    REDIS_URL: server.url, REDIS_TLS_CA_FILE: certs.caFile, REDIS_TLS_CERT_FILE: certs.clientCertFile, REDIS_TLS_KEY_FILE: certs.clientKeyFile,
    REDIS_USERNAME: USER, REDIS_PASSWORD: PASSWORD,
  };
});
after(async () => {
  admin.disconnect();
  await server.stop();
  certs.remove();
});
beforeEach(async () => { await admin.flushall(); });

/** stderr as lines, for "one line, no stack trace". */
const lines = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '');

describe('forkpool on a TLS-only Redis with an ACL user (REDIS_TLS_*, REDIS_USERNAME, REDIS_PASSWORD)', () => {
  it('enqueue writes the job and stats reads it back', async () => {
    const enq = await runCli(['enqueue', 'mailers', 'WelcomeEmail', '42'], env);
    assert.equal(enq.code, 0, enq.stderr);
    assert.deepEqual(await admin.lrange('resque:queue:mailers', 0, -1), ['{"class":"WelcomeEmail","args":[42]}']);
    const stats = await runCli(['stats', '--json'], env);
    assert.equal(stats.code, 0, stats.stderr);
    const parsed = JSON.parse(stats.stdout) as { pending: number; queueDepths: { name: string; waiting: number }[] };
    assert.equal(parsed.pending, 1);
    assert.deepEqual(parsed.queueDepths, [{ name: 'mailers', waiting: 1, inFlight: 0 }]);
  });

  it('a CA that did not sign the server\'s certificate: exit 3, one line naming the CA file and the server', async () => {
    const r = await runCli(['stats'], { ...env, REDIS_TLS_CA_FILE: certs.otherCaFile });
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(lines(r.stderr).length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`forkpool stats: TLS: the certificate of Redis at ${server.url} as ${USER} is not signed by the CA in ${certs.otherCaFile}`), r.stderr);
  });

  it('a wrong password: exit 3, one line naming the user', async () => {
    const r = await runCli(['enqueue', 'mailers', 'WelcomeEmail'], { ...env, REDIS_PASSWORD: 'not-the-password' });
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(lines(r.stderr).length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`forkpool enqueue: Redis at ${server.url} as ${USER} refused the credentials of user ${USER}: WRONGPASS`), r.stderr);
    assert.equal(await admin.llen('resque:queue:mailers'), 0);
  });

  it('TLS files with a redis:// URL, or sentinels without a master name: a usage error naming the variable, exit 2', async () => {
    const plain = await runCli(['stats'], { ...env, REDIS_URL: `redis://127.0.0.1:${server.port}` });
    assert.equal(plain.code, 2, plain.stderr);
    assert.match(plain.stderr, /^forkpool stats: REDIS_TLS_\*: TLS settings need a rediss:\/\/ URL/);
    const sentinels = await runCli(['stats'], { ...env, REDIS_SENTINELS: '127.0.0.1:26379' });
    assert.equal(sentinels.code, 2, sentinels.stderr);
    assert.match(sentinels.stderr, /^forkpool stats: REDIS_SENTINEL_MASTER \(the master name the sentinels know\) is needed with REDIS_SENTINELS/);
  });
});

describe('the same settings as flags (--tls-*, --username, --password-file), which win over the variables', () => {
  const flags = (): string[] => [
    '--redis', server.url, '--tls-ca-file', certs.caFile, '--tls-cert-file', certs.clientCertFile, '--tls-key-file', certs.clientKeyFile,
    '--username', USER, '--password-file', passwordFile,
  ];
  let passwordFile = '';
  before(() => {
    passwordFile = join(mkdtempSync(join(tmpdir(), 'forkpool-cli-')), 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`);
  });

  it('enqueue and stats work with flags alone, over variables that would fail', async () => {
    const wrong = { REDIS_TLS_CA_FILE: certs.otherCaFile, REDIS_USERNAME: 'nobody', REDIS_PASSWORD: 'not-the-password' };
    const enq = await runCli([...flags(), 'enqueue', 'mailers', 'WelcomeEmail', '7'], wrong);
    assert.equal(enq.code, 0, enq.stderr);
    assert.deepEqual(await admin.lrange('resque:queue:mailers', 0, -1), ['{"class":"WelcomeEmail","args":[7]}']);
    const stats = await runCli([...flags(), 'stats', '--json'], wrong);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal((JSON.parse(stats.stdout) as { pending: number }).pending, 1);
  });

  it('a wrong CA by flag: exit 3, one line naming the CA file; TLS flags with a redis:// URL or an unreadable password file: a usage error naming the flag', async () => {
    const ca = await runCli([...flags(), '--tls-ca-file', certs.otherCaFile, 'stats']);
    assert.equal(ca.code, 3, ca.stderr);
    assert.equal(lines(ca.stderr).length, 1, ca.stderr);
    assert.ok(ca.stderr.startsWith(`forkpool stats: TLS: the certificate of Redis at ${server.url} as ${USER} is not signed by the CA in ${certs.otherCaFile}`), ca.stderr);
    const plain = await runCli(['--redis', `redis://127.0.0.1:${server.port}`, '--tls-ca-file', certs.caFile, 'stats']);
    assert.equal(plain.code, 2, plain.stderr);
    assert.match(plain.stderr, /^forkpool stats: --tls-\*: TLS settings need a rediss:\/\/ URL/);
    const missing = await runCli([...flags(), '--password-file', '/nonexistent/password', 'stats']);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /^forkpool stats: --password-file: cannot read \/nonexistent\/password: ENOENT/);
  });
});

describe('createClient({ target })', () => {
  it('connects with the CA, the client certificate and the ACL user given apart from the URL', async () => {
    const client = createClient({
      target: {
        url: server.url, username: USER, password: PASSWORD,
        tls: { ca: { file: certs.caFile }, cert: { file: certs.clientCertFile }, key: { file: certs.clientKeyFile } },
      },
    });
    try {
      await client.enqueue('reports', 'Daily', 'x');
      assert.deepEqual(await client.queueSizes(), { reports: 1 });
    } finally {
      await client.close();
    }
  });

  it('refuses a target that does not hold together, before connecting', () => {
    assert.throws(() => createClient({ target: { url: `redis://127.0.0.1:${server.port}`, tls: { ca: { file: certs.caFile } } } }),
      { name: 'ForkpoolError', message: 'createClient: target.tls: TLS settings need a rediss:// URL (redis:// is plain TCP)' });
  });
});
