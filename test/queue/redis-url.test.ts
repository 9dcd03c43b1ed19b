// redactUrl: what a Redis URL shows in logs and messages, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl, UNPARSEABLE_URL } from '../../queue/src/redis-url.ts';

const cases: Record<string, { url: string; want: string }> = {
  'no credentials: unchanged': { url: 'redis://h:6379', want: 'redis://h:6379' },
  'database and TLS kept': { url: 'rediss://redis.example.com:6380/2', want: 'rediss://redis.example.com:6380/2' },
  'password only': { url: 'redis://:secret@h:6379/0', want: 'redis://:***@h:6379/0' },
  'user name and password': { url: 'redis://alice:secret@h:6379/0', want: 'redis://***:***@h:6379/0' },
  'user name only': { url: 'redis://alice@h:6379', want: 'redis://***@h:6379' },
  'a password with @ and :': { url: 'redis://u:p%40ss:w@h:6379', want: 'redis://***:***@h:6379' },
  'an unescaped @ in the password': { url: 'redis://u:p@ss@h:6379', want: 'redis://***:***@h:6379' },
  'credential query parameters': {
    url: 'redis://h:6379/0?password=secret&family=6&sentinelPassword=s2&username=bob',
    want: 'redis://h:6379/0?password=***&family=6&sentinelPassword=***&username=***',
  },
  'other query parameters untouched': { url: 'redis://h:6379?family=6&name=a%20b', want: 'redis://h:6379?family=6&name=a%20b' },
  'IPv6 host': { url: 'redis://:secret@[::1]:6379', want: 'redis://:***@[::1]:6379' },
  'a slash in the password makes it unparseable: nothing shown': { url: 'redis://u:pa/ss@h:6379', want: UNPARSEABLE_URL },
  'not a URL': { url: 'not a url', want: UNPARSEABLE_URL },
  'empty': { url: '', want: UNPARSEABLE_URL },
};

for (const [name, { url, want }] of Object.entries(cases)) {
  test(`redactUrl: ${name}`, () => {
    assert.equal(redactUrl(url), want);
  });
}

test('redactUrl never shows a secret of any case', () => {
  for (const { url } of Object.values(cases)) {
    const out = redactUrl(url);
    for (const secret of ['secret', 'alice', 'p%40ss', 'p@ss', 's2', 'bob', 'pa/ss']) assert.ok(!out.includes(secret), `${out} shows ${secret}`);
  }
});
