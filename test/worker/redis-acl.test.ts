// The worker under the least-privilege ACL user that docs/redis.md documents, given apart from the URL
// (REDIS_USERNAME, REDIS_PASSWORD): jobs run, fail, retry through the delayed set, are recovered from a
// worker that was killed, and idle slots keep their instant pickup (change notifications, BLMOVE). Redis
// denies nothing (ACL LOG stays empty).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import { aclDenials, aclOnlyServer, createDocumentedUser } from '../helpers/redis-acl.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { records, startWorker, stopWorker, tempRecordFile, type WorkerProcess } from '../helpers/worker.ts';

const PASSWORD = 'worker-secret';

async function metric(w: WorkerProcess, name: string): Promise<string | undefined> {
  const started = w.logs.find((l) => l.msg === 'worker started');
  const text = await (await fetch(`http://127.0.0.1:${Number(started?.port)}/metrics`)).text();
  return new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
}

describe('worker under the documented ACL user', () => {
  let server: RedisServer;
  let admin: Redis;
  let client: ForkpoolClient;
  let env: Record<string, string>;
  before(async () => {
    server = await startRedis();
    admin = await aclOnlyServer(server);
    client = createClient({ redis: admin });
    await createDocumentedUser(admin, 'forkpool-worker', PASSWORD);
    await admin.call('ACL', 'LOG', 'RESET');
    env = { REDIS_URL: server.url, REDIS_USERNAME: 'forkpool-worker', REDIS_PASSWORD: PASSWORD, RETRY_ATTEMPTS: '1', RETRY_BACKOFF_SECONDS: '0' };
  });
  after(async () => {
    admin.disconnect();
    await server.stop();
  });

  it('runs, fails, retries and recovers jobs with instant pickup, and Redis denies nothing', async () => {
    const file = tempRecordFile();
    // Two queues: idle slots are woken by change notifications. One queue: they wait in BLMOVE.
    const many = await startWorker({ ...env, QUEUES: 'acl-a,acl-b', CONCURRENCY: '2', RECORD_FILE: file });
    const one = await startWorker({ ...env, QUEUES: 'acl-one', RECORD_FILE: file });
    const doomed = await startWorker({ ...env, QUEUES: 'acl-b', RECORD_FILE: file, HEARTBEAT_TIMEOUT_SECONDS: '3' });
    try {
      assert.equal(await metric(many, 'forkpool_worker_queue_notifications'), '1', 'idle slots are woken by notifications, not polling');
      await client.enqueue('acl-a', 'Record', 'a');
      await client.enqueue('acl-one', 'Record', 'one');
      await client.enqueue('acl-a', 'Fail', 'x');
      await until('both recorded', () => records(file).length === 2);
      await until('the failing job retried once, then failed', async () => (await client.failed.count()) === 1);
      // Pause and resume the one-queue worker: its waits in BLMOVE are ended by CLIENT UNBLOCK.
      one.kill('SIGUSR2');
      await one.waitForLog((l) => l.msg === 'paused: not taking new jobs');
      one.kill('SIGCONT');
      await one.waitForLog((l) => l.msg === 'resumed');
      await client.enqueue('acl-one', 'Record', 'one again');
      await until('the resumed worker ran its job', () => records(file).length === 3);
      // A worker killed while it holds a job: another one recovers the job once its heartbeat expires.
      await stopWorker(many);
      await client.enqueue('acl-b', 'Sleep', 30, 'held');
      await until('the doomed worker runs the job', () => records(file).some((r) => r.event === 'start' && r.id === 'held'));
      doomed.kill('SIGKILL');
      await doomed.exited;
      const rescuer = await startWorker({ ...env, QUEUES: 'acl-b', RECORD_FILE: file });
      try {
        await until('the job recovered and started again', () => records(file).filter((r) => r.event === 'start' && r.id === 'held').length === 2, 20_000);
      } finally {
        await stopWorker(rescuer);
      }
      assert.ok(!one.logs.some((l) => String(l.msg).includes('Redis refused CLIENT TRACKING')));
    } finally {
      await Promise.all([many, one, doomed].map(stopWorker));
    }
    assert.deepEqual(await aclDenials(admin), [], 'Redis denied none of the worker\'s commands');
  });
});
