// The connection description read from REDIS_* variables, case by case: what each variable sets, and the
// message that names the variable when a value cannot be used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeTarget, redisTargetFromEnv, targetKey, targetOptions, type RedisEnv, type RedisTarget } from '../../queue/src/redis-connection.ts';

const good: Record<string, { env: RedisEnv; want: RedisTarget }> = {
  'nothing set: the local default': { env: {}, want: { url: 'redis://127.0.0.1:6379' } },
  'empty values count as unset': { env: { REDIS_URL: ' ', REDIS_PASSWORD: '' }, want: { url: 'redis://127.0.0.1:6379' } },
  'an ACL user apart from the URL': {
    env: { REDIS_URL: 'redis://r:6379/2', REDIS_USERNAME: 'worker', REDIS_PASSWORD: 's3cret' },
    want: { url: 'redis://r:6379/2', username: 'worker', password: 's3cret' },
  },
  'mutual TLS with a server name': {
    env: { REDIS_URL: 'rediss://r:6380', REDIS_TLS_CA_FILE: '/tls/ca.crt', REDIS_TLS_CERT_FILE: '/tls/tls.crt', REDIS_TLS_KEY_FILE: '/tls/tls.key', REDIS_TLS_SERVERNAME: 'redis.internal' },
    want: { url: 'rediss://r:6380', tls: { ca: { file: '/tls/ca.crt' }, cert: { file: '/tls/tls.crt' }, key: { file: '/tls/tls.key' }, servername: 'redis.internal' } },
  },
  'Sentinel': {
    env: { REDIS_SENTINELS: 's1:26379, s2:26379,[::1]:26380', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_SENTINEL_PASSWORD: 'p' },
    want: {
      url: 'redis://127.0.0.1:6379',
      sentinel: { masterName: 'mymaster', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }, { host: '::1', port: 26380 }], password: 'p' },
    },
  },
};

for (const [name, { env, want }] of Object.entries(good)) {
  test(`redisTargetFromEnv: ${name}`, () => {
    assert.deepEqual(redisTargetFromEnv(env), { target: want });
  });
}

const bad: Record<string, { env: RedisEnv; problem: RegExp }> = {
  'not a Redis URL': { env: { REDIS_URL: 'localhost:6379' }, problem: /^REDIS_URL: a Redis URL starts with redis:\/\/ or rediss:\/\/$/ },
  'a password in the URL and apart': { env: { REDIS_URL: 'redis://:a@r:6379', REDIS_PASSWORD: 'b' }, problem: /^REDIS_PASSWORD: a password is given both in the URL and apart/ },
  'a user in the URL and apart': { env: { REDIS_URL: 'redis://u:a@r:6379', REDIS_USERNAME: 'v' }, problem: /^REDIS_USERNAME: a user name is given both/ },
  'TLS settings with redis://': { env: { REDIS_URL: 'redis://r:6379', REDIS_TLS_CA_FILE: '/ca' }, problem: /^REDIS_TLS_\*: TLS settings need a rediss:\/\/ URL/ },
  'a client certificate without its key': { env: { REDIS_URL: 'rediss://r:6379', REDIS_TLS_CERT_FILE: '/c' }, problem: /^REDIS_TLS_\*: a client certificate and its key go together/ },
  'sentinels without a master name': { env: { REDIS_SENTINELS: 's1:26379' }, problem: /^REDIS_SENTINEL_MASTER .* is needed with REDIS_SENTINELS$/ },
  'a master name without sentinels': { env: { REDIS_SENTINEL_MASTER: 'm' }, problem: /^REDIS_SENTINELS is needed with REDIS_SENTINEL_MASTER$/ },
  'a sentinel without a port': { env: { REDIS_SENTINELS: 's1', REDIS_SENTINEL_MASTER: 'm' }, problem: /^REDIS_SENTINELS: expected host:port, got "s1"$/ },
};

for (const [name, { env, problem }] of Object.entries(bad)) {
  test(`redisTargetFromEnv refuses ${name}, naming the variable`, () => {
    const { target, problems } = redisTargetFromEnv(env);
    assert.equal(target, undefined);
    assert.equal(problems?.length, 1, String(problems));
    assert.match(problems[0] ?? '', problem);
  });
}

test('describeTarget shows neither password nor key material', () => {
  const target: RedisTarget = {
    url: 'rediss://:urlpass@r:6380/1', username: undefined, tls: { ca: { pem: '-----BEGIN CERTIFICATE-----', from: 'Secret jobs/ca key ca.crt' } },
    sentinel: { masterName: 'm', sentinels: [{ host: 's', port: 26379 }], password: 'sentinelpass' },
  };
  const shown = describeTarget(target);
  assert.equal(shown, 'rediss://:***@r:6380/1 (master m of sentinels s:26379)');
  assert.equal(describeTarget({ url: 'redis://r:6379', username: 'worker', password: 'p' }), 'redis://r:6379 as worker');
});

test('targetKey: equal for targets that connect the same way, whatever the order of their fields', () => {
  const a: RedisTarget = { url: 'rediss://r:6380', username: 'u', tls: { servername: 'n', ca: { file: '/ca' } } };
  const b: RedisTarget = { tls: { ca: { file: '/ca' }, servername: 'n' }, username: 'u', url: 'rediss://r:6380' };
  assert.equal(targetKey(a), targetKey(b));
  assert.notEqual(targetKey(a), targetKey({ ...a, username: 'v' }));
  assert.notEqual(targetKey(a), targetKey({ ...a, tls: { ...a.tls, ca: { file: '/other' } } }));
});

test('targetOptions: a rediss:// URL always verifies the server, even without a CA given', () => {
  assert.deepEqual(targetOptions({ url: 'rediss://r:6380' }).tls, { rejectUnauthorized: true });
  assert.equal(targetOptions({ url: 'redis://r:6379' }).tls, undefined);
  const sentinel = targetOptions({ url: 'redis://:p@x/0', sentinel: { masterName: 'm', sentinels: [{ host: 's', port: 1 }] } });
  assert.equal(sentinel.name, 'm');
  assert.deepEqual(sentinel.sentinels, [{ host: 's', port: 1 }]);
});
