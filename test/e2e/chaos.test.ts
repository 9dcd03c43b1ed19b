// Chaos, with nothing lost: worker masters are SIGKILLed at random while a burst runs. The pod
// runner restarts a container that died (as the kubelet does), and the jobs a killed master held in
// flight go back to their queues once its heartbeat expires. Every job must end at least once.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from '../../queue/src/index.ts';
import { examplePoolFile, readRecords, replicasOf, sleep, startE2e, tally, until, type E2eEnv } from './env.ts';

const JOBS = 1500;
const SLEEP_MS = 20;

describe('chaos: worker masters SIGKILLed at random during a burst', { timeout: 240_000 }, () => {
  let env: E2eEnv;
  before(async () => {
    // The operator does not set heartbeat timings (the worker's defaults are 5 s / 30 s): the runner
    // shortens them in the local processes' environment so that a killed master's jobs come back in
    // seconds and the test stays short.
    env = await startE2e({ workerEnv: { HEARTBEAT_INTERVAL_SECONDS: '1', HEARTBEAT_TIMEOUT_SECONDS: '3' } });
  });
  after(async () => {
    await env?.stop();
  });

  it('processes every job at least once and loses none', async () => {
    const { path, pool } = examplePoolFile(env, (p) => {
      p.spec.redis.url = `${env.redis.url}/0`;
      p.spec.scaling['minReplicas'] = 0;
      p.spec.scaling['scaleDownDelaySeconds'] = 5;
      p.spec.scaling['maxReplicas'] = 4; // what this 2-core machine runs beside the control plane
      p.spec.worker['jobsPerChild'] = 100; // a fresh `node` per job would make the burst CPU-bound
    });
    const name = pool.metadata.name;
    const applied = await env.cluster.kubectl(['apply', '-f', path]);
    assert.equal(applied.code, 0, applied.stderr);
    await until('the pool Deployment at 0 replicas', async () => (await replicasOf(env, name)) === 0, 60_000);

    const recordFile = join(mkdtempSync(join(tmpdir(), 'forkpool-chaos-')), 'records.jsonl');
    const client = createClient({ url: `${env.redis.url}/0`, namespace: pool.spec.redis.namespace });
    const ids = Array.from({ length: JOBS }, (_, i) => `job-${i}`);
    const queues = pool.spec.queues;
    const t0 = Date.now();
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map((id, j) => client.enqueue(queues[(i + j) % queues.length] ?? 'mailers', 'E2eRecord', recordFile, id, SLEEP_MS)));
    }

    // The killer: every 1-2.5 s, SIGKILL a random worker master that has been up for a second,
    // until a third of the jobs are left (so the end of the burst can drain and be checked).
    let kills = 0;
    let killing = true;
    const killer = (async () => {
      while (killing) {
        await sleep(1000 + Math.random() * 1500);
        const left = (await client.stats()).pending;
        if (left < JOBS / 3) break;
        const victims = env.runner.running().filter((p) => p.terminatingSince === undefined && Date.now() - p.startedAt > 1000);
        const victim = victims[Math.floor(Math.random() * victims.length)];
        if (victim === undefined) continue;
        victim.proc.kill('SIGKILL');
        kills++;
      }
    })();

    let peakReplicas = 0;
    try {
      await until('every job recorded as done and nothing waiting or in flight', async () => {
        peakReplicas = Math.max(peakReplicas, (await replicasOf(env, name)) ?? 0);
        const stats = await client.stats();
        if (stats.pending > 0 || stats.inFlight > 0) return false;
        return tally(ids, readRecords(recordFile)).lost === 0;
      }, 170_000, 250);
    } finally {
      killing = false;
      await killer;
    }
    const drainedMs = Date.now() - t0;
    const stats = await client.stats();
    await client.close();
    const result = tally(ids, readRecords(recordFile));
    console.log(
      `chaos (SIGKILL of worker masters): enqueued ${JOBS}, completed ${result.completed}, duplicated ${result.duplicated}, lost ${result.lost}; ` +
        `${kills} masters killed, ${env.runner.processes.length} worker processes started, peak replicas ${peakReplicas}, ` +
        `drained in ${(drainedMs / 1000).toFixed(1)} s, failure records ${stats.failed}`,
    );
    assert.ok(kills > 0, 'no master was killed: the burst ended too soon');
    assert.equal(result.lost, 0);
    assert.equal(result.completed, JOBS);
  });
});
