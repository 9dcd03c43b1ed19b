// forkpool up: a JobPool's workers as local processes on a real Redis, sized by the operator's autoscaler.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { JOBS_DIR, records, tempRecordFile } from '../helpers/worker.ts';
import { killStarted, runCli, startCli } from './helpers.ts';

let server: RedisServer;
let redis: Redis;
const dir = mkdtempSync(join(tmpdir(), 'forkpool-up-test-'));

before(async () => {
  server = await startRedis();
  redis = server.connect();
});
after(async () => {
  killStarted();
  await server.stop();
});

function poolFile(url: string, extra = '', scaleDownDelaySeconds = 2): string {
  const file = join(dir, `pool-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `apiVersion: forkpool.io/v1alpha1
kind: JobPool
metadata: { name: demo }
spec:
  redis: { url: "${url}" }
  queues: [work]
  template: { spec: { containers: [{ name: worker, image: example.com/jobs:1 }] } }
  scaling: { minReplicas: 0, maxReplicas: 3, jobsPerReplica: 2, pollIntervalSeconds: 1, scaleDownDelaySeconds: ${scaleDownDelaySeconds} }
${extra}`);
  return file;
}

type Event = { type: string; from?: number; to?: number; id?: string; pid?: number; inFlight?: number; expected?: boolean; schedule?: string };
const events = (stdout: string): Event[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);

describe('forkpool up', () => {
  it('scales up on a burst, stops idle workers first after the delay, goes to zero, fires a cron schedule, and drains on Ctrl-C', async () => {
    const recordFile = tempRecordFile();
    // A scale-down delay long enough for the short jobs to end on a loaded machine (their children may take a
    // second each to start): the scale-down to 1 comes when only the long job is left.
    const file = poolFile(server.url, '  schedules:\n    - { name: every-second, cron: "* * * * * *", queue: ticks, class: Record, args: [1] }\n', 5);
    const up = startCli(['up', file, '--jobs', JOBS_DIR, '--json', '--log-file', join(dir, 'workers.log')], { RECORD_FILE: recordFile });
    await until('the first status', () => events(up.stdout()).some((e) => e.type === 'status'), 20_000);
    assert.match(up.stderr(), /^forkpool up: pool demo on redis:\/\/127\.0\.0\.1:\d+ \(namespace resque\), queues work, 0-3 workers/m);
    assert.ok(!events(up.stdout()).some((e) => e.type === 'worker-started'), 'nothing waits: no worker');

    // One long job first, taken by the first worker up, then a burst of short ones: 6 jobs / 2 per worker = 3 workers.
    const pipe = redis.pipeline().sadd('resque:queues', 'work').rpush('resque:queue:work', JSON.stringify({ class: 'Sleep', args: [14, 'long'] }));
    for (let i = 0; i < 5; i++) pipe.rpush('resque:queue:work', JSON.stringify({ class: 'Sleep', args: [0.2, `short-${i}`] }));
    await pipe.exec();
    await until('a scale-up to 3', () => events(up.stdout()).some((e) => e.type === 'scale' && e.to === 3), 10_000);
    await until('three workers started', () => events(up.stdout()).filter((e) => e.type === 'worker-started').length === 3);

    // The short jobs done, only the long one in flight: after scaleDownDelaySeconds, down to 1, the idle two
    // stopped. A poll that saw two workers' worth of jobs makes it 3 -> 2 -> 1: the window keeps its highest
    // recommendation, as an HPA's does.
    await until('a scale-down to 1', () => events(up.stdout()).some((e) => e.type === 'scale' && (e.from ?? 0) > 1 && e.to === 1), 20_000);
    await until('two workers stopping', () => events(up.stdout()).filter((e) => e.type === 'worker-stopping').length >= 2);
    const all = events(up.stdout());
    const stopping = all.filter((e) => e.type === 'worker-stopping');
    assert.equal(stopping.length, 2);
    assert.deepEqual(stopping.map((e) => e.inFlight), [0, 0], 'only idle workers are stopped');
    const survivor = all.filter((e) => e.type === 'worker-started').map((e) => e.id).find((id) => !stopping.some((s) => s.id === id));
    assert.equal(await redis.hlen(`resque:forkpool:inflight:${survivor}`), 1, 'the worker kept is the one running the long job');
    assert.ok(!records(recordFile).some((r) => r.id === 'long' && r.event === 'end'), 'the long job still runs');

    // The long job finishes; nothing waits, nothing runs: to zero.
    await until('a scale-down to 0', () => events(up.stdout()).some((e) => e.type === 'scale' && e.from === 1 && e.to === 0), 30_000);
    assert.deepEqual(records(recordFile).filter((r) => r.event === 'end').map((r) => r.id).sort(), ['long', 'short-0', 'short-1', 'short-2', 'short-3', 'short-4']);
    await until('every worker gone', async () => events(up.stdout()).filter((e) => e.type === 'worker-exited').length === 3 && (await redis.scard('resque:workers')) === 0, 15_000);
    assert.ok(events(up.stdout()).filter((e) => e.type === 'worker-exited').every((e) => e.expected));
    assert.equal(await redis.llen('resque:failed'), 0);

    // The cron schedule, run by the operator's scheduler: one job per fire time.
    assert.ok(events(up.stdout()).some((e) => e.type === 'schedule-fired' && e.schedule === 'every-second'));
    assert.ok((await redis.llen('resque:queue:ticks')) >= 1);
    assert.equal(await redis.lindex('resque:queue:ticks', 0), '{"class":"Record","args":[1]}');

    up.proc.kill('SIGINT');
    assert.equal(await up.exited, 0);
    assert.match(up.stderr(), /forkpool up: all workers stopped/);
  });

  it('starts a redis-server for the session when the pool\'s Redis is unreachable, and says so', async () => {
    const port = await freePort();
    const up = startCli(['up', poolFile(`redis://127.0.0.1:${port}/0`), '--jobs', JOBS_DIR, '--log-file', join(dir, 'session.log')]);
    await until('the session note', () => /started .*redis-server at redis:\/\/127\.0\.0\.1:\d+\/0 for this session/.test(up.stderr()), 20_000);
    assert.match(up.stderr(), new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port}/0 is unreachable: started .*redis-server at redis://127\\.0\\.0\\.1:${port}/0`));
    await until('the status line', () => /demo: 0 workers, 0 waiting, 0 in flight; enough workers$/m.test(up.stderr()));
    const stats = await runCli(['stats', '--json', '--redis', `redis://127.0.0.1:${port}/0`]);
    assert.equal(stats.code, 0, stats.stderr);
    up.proc.kill('SIGINT');
    assert.equal(await up.exited, 0);
    assert.match(up.stderr(), /stopped the session's redis-server/);
    assert.equal((await runCli(['stats', '--redis', `redis://127.0.0.1:${port}/0`])).code, 3);
  });

  it('never starts a redis-server for a Redis on another host, nor with --no-redis', async () => {
    const port = await freePort();
    const [remote, noRedis] = await Promise.all([
      runCli(['up', poolFile('redis://redis.invalid:6379/0'), '--jobs', JOBS_DIR, '--log-file', join(dir, 'remote.log')], {}, 30_000),
      runCli(['up', poolFile(`redis://127.0.0.1:${port}/0`), '--jobs', JOBS_DIR, '--no-redis', '--log-file', join(dir, 'no-redis.log')], {}, 30_000),
    ]);
    assert.equal(remote.code, 3, remote.stderr);
    assert.match(remote.stderr, /cannot reach Redis at redis:\/\/redis\.invalid:6379\/0/);
    assert.equal(noRedis.code, 3, noRedis.stderr);
    assert.match(noRedis.stderr, new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0`));
    for (const r of [remote, noRedis]) assert.doesNotMatch(r.stderr, /redis-server|for this session/);
  });

  it('refuses a bad JobPool or jobs folder with exit 2 before starting anything', async () => {
    const bad = poolFile(server.url).replace(/$/, '');
    writeFileSync(bad, 'apiVersion: forkpool.io/v1alpha1\nkind: JobPool\nmetadata: { name: demo }\nspec:\n  redis: { url: "redis://x" }\n  queues: [work]\n  template: { spec: { containers: [{ name: w, image: i }] } }\n  scaling: { minReplicas: 5, maxReplicas: 2 }\n');
    const [invalid, noJobs] = await Promise.all([
      runCli(['up', bad, '--jobs', JOBS_DIR]),
      runCli(['up', poolFile(server.url), '--jobs', join(dir, 'nope')]),
    ]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /invalid JobPool: spec\.scaling: spec\.scaling\.minReplicas must not exceed spec\.scaling\.maxReplicas/);
    assert.equal(noJobs.code, 2);
    assert.match(noJobs.stderr, /jobs folder .*nope does not exist/);
  });
});
