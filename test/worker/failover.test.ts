// A Redis failover behind one address, as managed Redis does it (ElastiCache, Memorystore, Azure): a replica
// is promoted, the old primary becomes its replica, and the name the workers use moves to the new primary.
// Connections opened before the move still reach the old primary, which answers writes with READONLY. A TCP
// proxy (helpers/tcp-proxy.ts) plays the DNS name: new connections go to its current target, open ones stay
// where they are. The worker must leave the old primary, report not ready while it cannot write, and run the
// jobs pushed to the new one, losing none it held at the switch.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { isFailoverError, redisOptions } from '../../queue/src/redis-options.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { failOver, replicate, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { sleep, until } from '../helpers/wait.ts';
import { records, startWorker, stopWorker, tempRecordFile, type WorkerProcess } from '../helpers/worker.ts';

/** The lines of CLIENT LIST. */
async function clients(redis: Redis): Promise<string[]> {
  return String(await redis.call('CLIENT', 'LIST')).split('\n');
}

describe('isFailoverError', () => {
  const cases: [string, string, boolean][] = [
    ['a replica', 'READONLY You can\'t write against a read only replica.', true],
    ['a script on a replica (Redis 7)', 'READONLY You can\'t write against a read only replica. script: 5ce7..., on @user_script:113.', true],
    ['a script on a replica (Redis 6)', 'ERR Error running script (call to f_5ce7...): @user_script:113: @user_script: 113: -READONLY You can\'t write against a read only replica.', true],
    ['loading', 'LOADING Redis is loading the dataset in memory', true],
    ['a replica without its primary', 'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to \'no\'.', true],
    ['a script not loaded', 'NOSCRIPT No matching script. Please use EVAL.', false],
    ['a wrong type', 'WRONGTYPE Operation against a key holding the wrong kind of value', false],
    ['an unknown command', 'ERR unknown command \'BLMOVE\'', false],
    ['a closed connection', 'Connection is closed.', false],
  ];
  for (const [name, message, expected] of cases) {
    it(`${name}: ${expected ? 'reconnect' : 'no reconnect'}`, () => {
      assert.equal(isFailoverError(new Error(message)), expected);
      assert.equal(redisOptions({}).reconnectOnError?.(new Error(message)), expected ? 1 : false);
    });
  }
});

describe('worker: Redis failover behind one address', () => {
  let a: RedisServer;
  let b: RedisServer;
  let ra: Redis;
  let rb: Redis;
  let proxy: TcpProxy;
  let worker: WorkerProcess | undefined;

  before(async () => {
    [a, b] = await Promise.all([startRedis(), startRedis()]);
    ra = a.connect();
    rb = b.connect();
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });
  afterEach(async () => {
    if (worker) await stopWorker(worker);
    worker = undefined;
    await proxy.close();
  });

  /** A the primary and B its replica, in sync, both empty, A behind the proxy. */
  async function freshPair(): Promise<void> {
    await rb.call('REPLICAOF', 'NO', 'ONE');
    await ra.call('REPLICAOF', 'NO', 'ONE');
    await ra.flushall();
    await replicate(ra, rb, a.port);
    proxy = await startTcpProxy(a.port);
  }

  it('while the address still leads to the old primary, reconnects back off; once it moves, jobs run', async () => {
    await freshPair();
    const file = tempRecordFile();
    worker = await startWorker({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, QUEUES: 'q,other', RECORD_FILE: file });
    const before = proxy.opened.get(a.port) ?? 0;
    // As a DNS cache would: the promotion happens, but new connections still reach the old primary.
    await until('B caught up with A', async () => Number(await ra.call('WAIT', 1, 1000)) === 1, 5000);
    await rb.call('REPLICAOF', 'NO', 'ONE');
    await ra.call('REPLICAOF', '127.0.0.1', String(b.port));
    await sleep(4000);
    const reopened = (proxy.opened.get(a.port) ?? 0) - before;
    // Up to two connections (commands, subscriber) a round; rounds 0.2, 0.4, 0.8, 1.6 s apart, where a fixed
    // reconnect delay would make one every ~250 ms.
    assert.ok(reopened >= 2 && reopened <= 10, `connections reopened to the old primary in 4 s: ${reopened}`);
    proxy.target = b.port;
    await rb.rpush('resque:queue:q', JSON.stringify({ class: 'Record', args: ['after'] }));
    await until('the job pushed to the new primary ran', () => records(file).length === 1, 15_000);
  });

  for (const queues of ['q', 'q,other']) {
    const how = queues === 'q' ? 'slots waiting in BLMOVE' : 'slots woken by change notifications';
    it(`QUEUES=${queues} (${how}): jobs pushed to the new primary run, /readyz is 503 while it cannot write`, async () => {
      await freshPair();
      const file = tempRecordFile();
      worker = await startWorker({
        // Children that run many jobs: the bound below is on the failover, not on starting children.
        REDIS_URL: `redis://127.0.0.1:${proxy.port}`, QUEUES: queues, CONCURRENCY: '2', JOBS_PER_CHILD: '100', RECORD_FILE: file,
      });
      const port = Number((await worker.waitForLog((l) => l.msg === 'worker started')).port);
      const readyz = async (): Promise<number> => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;

      await ra.rpush('resque:queue:q', JSON.stringify({ class: 'Record', args: ['before'] }));
      await until('the job before the failover ran', () => records(file).length === 1);
      // In flight at the switch: its end is recorded on the new primary (or, at least once, it runs again).
      await ra.rpush('resque:queue:q', JSON.stringify({ class: 'Sleep', args: [2, 'across'] }));
      await until('the job across the failover started', () => records(file).some((r) => r.event === 'start'));
      assert.equal(await readyz(), 200);

      const seen: number[] = [];
      let watching = true;
      const watch = (async () => {
        while (watching) {
          seen.push(await readyz().catch(() => 0));
          await sleep(20);
        }
      })();
      try {
        await failOver(proxy, ra, rb, b.port);
        const pushed = Array.from({ length: 10 }, (_, i) => JSON.stringify({ class: 'Record', args: [i] }));
        await rb.rpush('resque:queue:q', ...pushed);
        const ran = (): unknown[] => records(file).map((r) => (r.args as unknown[] | undefined)?.[0]).filter((n) => typeof n === 'number');
        await until('the 10 jobs pushed to the new primary ran', () => new Set(ran()).size === 10, 15_000);
        await until('the job across the failover ended', () => records(file).some((r) => r.event === 'end' && r.id === 'across'));
        await until('nothing left in flight on the new primary', async () => {
          assert.deepEqual(await rb.hgetall('resque:forkpool:running'), {});
          assert.equal(await rb.llen('resque:queue:q'), 0);
          return true;
        }, 10_000);
        await until('/readyz 200 again', async () => (await readyz()) === 200, 10_000);
        // Every connection left the old primary, and the worker waits for jobs as it did before, not by polling.
        await until('no connection of the worker left on the old primary', async () => (await clients(ra)).every((l) => !/ name=forkpool-/.test(l)), 10_000);
        await until(queues === 'q' ? 'both slots waiting in BLMOVE on the new primary' : 'queue change notifications on the new primary', async () => {
          const lines = await clients(rb);
          return queues === 'q'
            ? lines.filter((l) => / name=forkpool-wait:/.test(l) && / cmd=blmove /.test(l)).length === 2
            : lines.some((l) => / name=forkpool-worker:/.test(l) && / flags=[a-zA-Z]*t/.test(l));
        }, 10_000);
      } finally {
        watching = false;
        await watch;
      }
      assert.ok(seen.includes(503), `/readyz answered 503 while the worker could not write (seen: ${[...new Set(seen)].join(',')})`);
      assert.equal(seen.at(-1), 200);
      assert.ok(Number(await rb.get('resque:stat:processed')) >= 12, 'the jobs are counted on the new primary');
      assert.ok(worker.logs.some((l) => l.msg === 'Redis answered as a replica or not ready: reconnecting'), 'the reconnect is logged');
    });
  }
});
