// The whole loop on the test cluster, as a user sees it: the chart installed with `helm install` (the
// operator runs locally as the chart's ServiceAccount), the example JobPool applied with kubectl,
// a burst of jobs enqueued, the pool scaling up, the queue draining with every job run, the pool
// back at zero after the delay, and no job interrupted by the scale-down. Figures are printed,
// bounds are generous (the machine is small and shared).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from '../../queue/src/index.ts';
import { examplePoolFile, readRecords, replicasOf, sleep, startE2e, tally, until, type E2eEnv } from './env.ts';

const JOBS = 2000;
const SLEEP_MS = 5;

describe('the loop: enqueue a burst, scale up, drain, scale back to zero', { timeout: 240_000 }, () => {
  let env: E2eEnv;
  before(async () => {
    env = await startE2e();
  });
  after(async () => {
    await env?.stop();
  });

  it('runs every job once the pool has scaled up, and scales to zero after the delay without interrupting a job', async () => {
    const { path, pool } = examplePoolFile(env, (p) => {
      p.spec.redis.url = `${env.redis.url}/0`;
      p.spec.scaling['minReplicas'] = 0;
      p.spec.scaling['scaleDownDelaySeconds'] = 5;
      // Four worker processes (plus their children) are what this 2-core test machine can run next to
      // the control plane; the example's 20 would only measure CPU contention.
      p.spec.scaling['maxReplicas'] = 4;
      // A fresh `node` per job costs ~100 ms of CPU here; reusing a child for 100 jobs keeps the burst short.
      p.spec.worker['jobsPerChild'] = 100;
    });
    const name = pool.metadata.name;
    const applied = await env.cluster.kubectl(['apply', '-f', path]);
    assert.equal(applied.code, 0, applied.stderr);

    // The operator makes the Deployment at zero first: nothing waits.
    await until('the pool Deployment at 0 replicas', async () => (await replicasOf(env, name)) === 0, 60_000);

    const recordFile = join(mkdtempSync(join(tmpdir(), 'forkpool-e2e-')), 'records.jsonl');
    const client = createClient({ url: `${env.redis.url}/0`, namespace: pool.spec.redis.namespace });
    const ids = Array.from({ length: JOBS }, (_, i) => `job-${i}`);
    const queues = pool.spec.queues;

    // Reaction time: first enqueue -> spec.replicas > 0, watched while the burst goes in.
    const t0 = Date.now();
    let scaledUpAt: number | undefined;
    const watchUp = (async () => {
      while (scaledUpAt === undefined && Date.now() - t0 < 60_000) {
        if (((await replicasOf(env, name)) ?? 0) > 0) scaledUpAt = Date.now();
        else await sleep(100);
      }
    })();
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map((id, j) => client.enqueue(queues[(i + j) % queues.length] ?? 'mailers', 'E2eRecord', recordFile, id, SLEEP_MS)));
    }
    const enqueuedMs = Date.now() - t0;
    await watchUp;
    assert.ok(scaledUpAt !== undefined, 'the Deployment did not scale up within 60 s of the first enqueue');
    const reactionMs = scaledUpAt - t0;

    let peakReplicas = 0;
    let peakProcesses = 0;
    const workerHosts = new Set<string>();
    await until('every job recorded as done and nothing waiting or in flight', async () => {
      peakReplicas = Math.max(peakReplicas, (await replicasOf(env, name)) ?? 0);
      peakProcesses = Math.max(peakProcesses, env.runner.running().length);
      for (const w of await client.workers()) workerHosts.add(w.host);
      const stats = await client.stats();
      if (stats.pending > 0 || stats.inFlight > 0) return false;
      return tally(ids, readRecords(recordFile)).lost === 0;
    }, 150_000, 250);
    const drainedAt = Date.now();

    await until('the Deployment back at 0 replicas and every worker process gone', async () =>
      (await replicasOf(env, name)) === 0 && env.runner.running().length === 0, 90_000, 250);
    const zeroAt = Date.now();

    const stats = await client.stats();
    const failed = await client.failed.list(0, 20);
    await client.close();
    const result = tally(ids, readRecords(recordFile));
    const handedBack = env.runner.allLogs().filter((l) => typeof l['msg'] === 'string' && /handed back|handing running jobs back/.test(l['msg']));

    console.log(
      `loop: ${JOBS} jobs enqueued in ${enqueuedMs} ms; reaction (first enqueue -> replicas > 0) ${reactionMs} ms; ` +
        `drained ${((drainedAt - t0) / 1000).toFixed(1)} s after the first enqueue; back to zero ${((zeroAt - drainedAt) / 1000).toFixed(1)} s after draining ` +
        `(scaleDownDelaySeconds 5); peak replicas ${peakReplicas}, peak worker processes ${peakProcesses}, pod processes started ${env.runner.processes.length}; ` +
        `completed ${result.completed}, duplicated ${result.duplicated}, lost ${result.lost}`,
    );

    assert.ok(reactionMs < 30_000, `reaction time ${reactionMs} ms`);
    assert.equal(result.lost, 0);
    assert.equal(result.completed, JOBS);
    assert.deepEqual(result.startedNotEnded, [], 'jobs started but never ended: interrupted');
    assert.equal(stats.failed, 0, `failures: ${JSON.stringify(failed).slice(0, 2000)}`);
    assert.equal(failed.length, 0);
    assert.deepEqual(handedBack, [], 'a worker handed jobs back: a scale-down interrupted them');
    assert.ok(peakReplicas > 0 && env.runner.processes.length > 0, 'worker pods ran as local processes');
    // Worker ids are `<pod name>:<pid>:<queues>`, which the operator's scale-down safety relies on.
    const podNames = new Set(env.runner.processes.map((p) => p.pod));
    assert.ok(workerHosts.size > 0, 'workers registered in Redis');
    for (const host of workerHosts) assert.ok(podNames.has(host), `worker host ${host} is not a pod name (${[...podNames].join(', ')})`);
    // Every worker process ended on SIGTERM (or exited by itself), none needed a SIGKILL.
    for (const p of env.runner.processes) assert.notEqual(p.exit?.signal, 'SIGKILL', `${p.pod} was SIGKILLed`);
  });
});
