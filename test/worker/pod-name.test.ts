// A worker names itself by POD_NAME (the pod's name, from the downward API) rather than HOSTNAME, which a
// pod template can set to anything (spec.hostname): the operator's scale-down finds a pod's jobs by it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { JOBS_DIR, startWorker, stopWorker } from '../helpers/worker.ts';

describe('the worker id', () => {
  let redis: RedisServer;
  let client: Redis;
  before(async () => {
    redis = await startRedis();
    client = redis.connect();
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
  });

  it('starts with POD_NAME, not with a HOSTNAME the template set', async () => {
    const w = await startWorker({ REDIS_URL: redis.url, QUEUES: 'pods', JOBS_DIR, PORT: '0', POD_NAME: 'mailers-7d9f8c6b5-x2x4q', HOSTNAME: 'worker' });
    try {
      const ids = await until('the worker registered', async () => {
        const list = await client.smembers(keys('resque').workers);
        return list.length > 0 ? list : undefined;
      });
      assert.equal(ids.length, 1);
      assert.match(ids[0] ?? '', new RegExp(`^mailers-7d9f8c6b5-x2x4q:${w.pid}\\b`));
    } finally {
      await stopWorker(w);
    }
  });
});
