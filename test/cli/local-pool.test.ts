// LocalPool's signals to its workers, with stand-in workers that only count the SIGTERMs they get.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { LocalPool } from '../../cli/src/local-pool.ts';
import { jobPoolSchema } from '../../operator/src/jobpool.ts';
import { keys } from '../../queue/src/keys.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { alive } from '../helpers/worker.ts';

let server: RedisServer;
let redis: Redis;
const pids = new Set<number>();

before(async () => {
  server = await startRedis();
  redis = server.connect();
});
after(async () => {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await server.stop();
});

/** A worker that notes each SIGTERM, exits on its second (the "now" of a real one) or when its parent goes. */
const STAND_IN = `
const { appendFileSync } = require('node:fs');
let terms = 0;
process.on('SIGTERM', () => {
  appendFileSync(process.env.SIGNAL_LOG, process.pid + ' TERM\\n');
  if (++terms === 2) process.exit(0);
});
appendFileSync(process.env.SIGNAL_LOG, process.pid + ' ready\\n');
process.on('disconnect', () => process.exit(0));
setInterval(() => undefined, 1000);
`;

it('on a first stop, SIGTERMs only the workers not stopping yet; on a second, every worker again', async () => {
  const signalLog = join(mkdtempSync(join(tmpdir(), 'forkpool-local-pool-')), 'signals');
  const pool = jobPoolSchema.parse({
    apiVersion: 'forkpool.io/v1alpha1',
    kind: 'JobPool',
    metadata: { name: 'demo', namespace: 'default', uid: 'local' },
    spec: {
      redis: { url: server.url },
      queues: ['work'],
      template: { spec: { containers: [{ name: 'worker', image: 'example.com/jobs:1' }] } },
      scaling: { minReplicas: 0, maxReplicas: 2, jobsPerReplica: 1, scaleDownDelaySeconds: 0 },
    },
  });
  const events: { type: string; pid?: number; id?: string }[] = [];
  const local = new LocalPool({
    pool, redisUrl: server.url, namespace: 'resque', redis, jobsDir: tmpdir(), workerCommand: [process.execPath, '-e', STAND_IN],
    workerOutput: 2, baseEnv: { ...process.env, SIGNAL_LOG: signalLog }, log: pino({ level: 'silent' }), onEvent: (e) => events.push(e),
  });
  const k = keys('resque');
  const lines = (): string[] => readFileSync(signalLog, { encoding: 'utf8', flag: 'a+' }).split('\n');
  const terms = (): Record<number, number> => {
    const counts: Record<number, number> = {};
    for (const [pid] of lines().map((l) => l.split(' ')).filter(([, what]) => what === 'TERM')) counts[Number(pid)] = (counts[Number(pid)] ?? 0) + 1;
    return counts;
  };

  // Two jobs waiting: two workers. Then nothing waits and one job is in flight: one worker is enough, and as
  // both hold a job (there is no idle one), a busy worker is scaled down.
  await redis.rpush(k.queue('work'), 'a', 'b');
  await local.tick();
  const started = events.filter((e) => e.type === 'worker-started').map((e) => e.pid ?? 0);
  assert.equal(started.length, 2);
  for (const pid of started) pids.add(pid);
  await until('the workers ready for signals', () => started.every((pid) => lines().includes(`${pid} ready`)));
  await redis.del(k.queue('work'));
  for (const id of events.filter((e) => e.type === 'worker-started').map((e) => e.id ?? '')) await redis.hset(k.inflight(id), 'slot', 'job');
  await redis.hset(k.running, 'work', '1');
  await local.tick();
  const stopping = events.filter((e) => e.type === 'worker-stopping');
  assert.equal(stopping.length, 1);
  const [scaledDown] = stopping.map((e) => e.pid ?? 0);
  const [kept] = started.filter((pid) => pid !== scaledDown);
  assert.ok(scaledDown !== undefined && kept !== undefined);
  await until('the scaled-down worker\'s SIGTERM', () => terms()[scaledDown] === 1);

  const stopped = local.stop();
  await until('the kept worker\'s SIGTERM', () => terms()[kept] === 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(terms(), { [scaledDown]: 1, [kept]: 1 }, 'one SIGTERM each: no worker is told "now"');

  void local.stop();
  await stopped;
  assert.deepEqual(terms(), { [scaledDown]: 2, [kept]: 2 }, 'the second stop is a second SIGTERM to every worker');
});
