// A leader whose API server stops answering without closing anything (an API server instance that
// hangs while another serves, a partition): its Lease calls hang, so only their deadline can tell it to
// stop. Two forkpool-operator processes run; the leader's API traffic goes through a TCP proxy that
// terminates TLS and that the test freezes, so that requests hang after the handshake. The leader must
// stop acting (scaling, firing schedules) before the other replica takes over, which then acts alone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { createNamespace, createPool, operatorLog, poolSpec, replicasOf, sleep, spawnOperator, startEnv, until, type Env } from './harness.ts';

const k = keys('resque');

interface LogLine {
  time: number;
  msg: string;
}

/** The pino lines of an operator's log. */
function logLines(env: Env, name: string): LogLine[] {
  return operatorLog(env, name)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

describe('a leader cut off from the API server', { timeout: 300_000 }, () => {
  let env: Env;
  let redis: Redis;
  let proxy: TcpProxy | undefined;
  const procs = new Map<string, ChildProcess>();

  before(async () => {
    env = await startEnv();
    redis = env.redis.connect();
  });
  after(async () => {
    for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await proxy?.close();
    await env?.stop();
  });

  const lease = async (): Promise<{ holder: string; transitions: number } | undefined> => {
    try {
      const l = await env.coordination.readNamespacedLease({ namespace: 'default', name: 'forkpool-operator' });
      return { holder: l.spec?.holderIdentity?.split('_')[0] ?? '', transitions: l.spec?.leaseTransitions ?? 0 };
    } catch {
      return undefined;
    }
  };

  it('stops acting before the other replica takes over, which then acts alone', async () => {
    // op-a reaches the API server only through the proxy.
    const pki = (file: string): string => readFileSync(join(env.cluster.dir, 'pki', file), 'utf8');
    proxy = await startTcpProxy(Number(new URL(env.cluster.server).port), { tls: { cert: pki('apiserver.crt'), key: pki('apiserver.key'), ca: env.cluster.caPem } });
    const proxied = join(env.cluster.dir, 'proxied.kubeconfig');
    writeFileSync(proxied, readFileSync(env.cluster.kubeconfigPath, 'utf8').replaceAll(env.cluster.server, `https://127.0.0.1:${proxy.port}`));

    await createNamespace(env, 'cut');
    await createPool(env, 'cut', 'pool', poolSpec(env.redis.url, {
      queues: ['cut'],
      scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 600 },
      schedules: [{ name: 'tick', cron: '* * * * * *', timeZone: 'UTC', queue: 'cron', class: 'TickJob', args: [] }],
    }));
    const a = spawnOperator(env, 'op-a', { KUBECONFIG: proxied });
    procs.set('op-a', a);
    await until('op-a leads', async () => (await lease())?.holder === 'op-a', 30_000);
    procs.set('op-b', spawnOperator(env, 'op-b'));
    await redis.rpush(k.queue('cut'), ...Array.from({ length: 15 }, (_, i) => JSON.stringify({ class: 'X', args: [i] })));
    await until('op-a scales to 2', async () => (await replicasOf(env, 'cut', 'pool')) === 2, 30_000);
    await until('op-a fires the schedule', () => logLines(env, 'op-a').some((l) => l.msg === 'enqueued a scheduled job'), 10_000);
    // op-a renews: it still leads one renew deadline after it took the lease.
    const tookAt = logLines(env, 'op-a').find((l) => l.msg === 'became the leader')?.time ?? 0;
    await until('op-a led past one renew deadline', () => Date.now() > tookAt + 11_000, 15_000, 200);
    const before = await lease();
    assert.equal(before?.holder, 'op-a');
    assert.ok(!logLines(env, 'op-a').some((l) => l.msg.startsWith('lost the lease')), 'op-a lost the lease before the freeze');

    proxy.freeze();
    const frozenAt = Date.now();
    await redis.rpush(k.queue('cut'), ...Array.from({ length: 20 }, (_, i) => JSON.stringify({ class: 'X', args: [i] })));
    await until('op-b leads', async () => (await lease())?.holder === 'op-b', 60_000);
    await until('op-b scales to 4', async () => (await replicasOf(env, 'cut', 'pool')) === 4, 30_000);
    // Long enough for a leader that missed its deadline and went on to show it.
    await sleep(4000);

    const aLines = logLines(env, 'op-a');
    const bLines = logLines(env, 'op-b');
    const lost = aLines.find((l) => l.msg.startsWith('lost the lease'));
    assert.ok(lost !== undefined, `op-a never noticed it lost the lease; its last lines:\n${aLines.slice(-5).map((l) => l.msg).join('\n')}`);
    const led = bLines.find((l) => l.msg === 'became the leader');
    assert.ok(led !== undefined);
    assert.ok(lost.time < led.time, `op-a stopped ${lost.time - frozenAt} ms after the freeze, op-b led ${led.time - frozenAt} ms after it`);
    const aFires = aLines.filter((l) => l.msg === 'enqueued a scheduled job');
    const lastAFire = aFires.at(-1)?.time ?? 0;
    assert.ok(lastAFire <= lost.time, `op-a fired a schedule ${lastAFire - lost.time} ms after it lost the lease`);
    assert.ok(bLines.some((l) => l.msg === 'enqueued a scheduled job' && l.time > led.time), 'op-b fires the schedule');
    await until('op-a exits', () => a.exitCode !== null || a.signalCode !== null, 10_000);

    // The Lease changed hands once; every scale Event of op-a comes before op-b took over, op-b's after.
    const after = await lease();
    assert.equal(after?.transitions, (before?.transitions ?? 0) + 1);
    const events = (await env.core.listNamespacedEvent({ namespace: 'cut', fieldSelector: 'involvedObject.name=pool,reason=ScaledUp' })).items;
    const byA = events.filter((e) => e.reportingInstance?.startsWith('op-a_'));
    const byB = events.filter((e) => e.reportingInstance?.startsWith('op-b_'));
    assert.deepEqual(byA.map((e) => e.message), ['Scaled up from 0 to 2: 15 jobs waiting, 0 in flight']);
    assert.deepEqual(byB.map((e) => e.message), ['Scaled up from 2 to 4: 35 jobs waiting, 0 in flight']);
    assert.ok(new Date(byB[0]?.metadata?.creationTimestamp ?? 0).getTime() >= Math.floor(led.time / 1000) * 1000);
  });
});
