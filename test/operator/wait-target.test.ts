// spec.scaling.targetWaitSeconds against a real control plane and a real Redis: real worker processes run
// a steady stream of jobs of known duration, the operator estimates the arrival and service rates from the
// counters the workers keep and sizes the pool as the wait model predicts, before any backlog builds; the
// status and `kubectl get jobpools` show the estimates; with no more arrivals the pool goes back to zero.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import { POD_START_SECONDS, replicasForWait } from '../../operator/src/wait-estimator.ts';
import { startWorker, stopWorker, tempRecordFile, type WorkerProcess } from '../helpers/worker.ts';
import { condition, createNamespace, createPool, getPool, poolSpec, replicasOf, runOperator, startEnv, until, type Env } from './harness.ts';

// 3 jobs/s of 1 s each on pods of one slot, target 3 s, poll 1 s (a 4 s horizon): on 3 slots, exactly saturated
// (a = λ/μ = 3), a job arriving within the horizon finds at most 1.645·√(3·4) ≈ 5.7 jobs ahead, 1.9 s of
// waiting; on 2 it would find 4 + 5.7, 4.9 s. The answer stays 3 for arrival estimates from 2.3 to 3.6 jobs/s.
// jobsPerReplica (10) would ask for ceil(3 in flight / 10) = 1 pod.
const ARRIVALS_PER_SECOND = 3;
const JOB_SECONDS = 1;
const TARGET_SECONDS = 3;

describe('sizing by a wait-time target', { timeout: 300_000 }, () => {
  let env: Env;
  let operator: RunningOperator;
  let client: ForkpoolClient;
  const workers: WorkerProcess[] = [];

  before(async () => {
    env = await startEnv();
    operator = await runOperator(env, 'wait');
    client = createClient({ url: env.redis.url });
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopWorker(w)));
    await client?.close();
    await operator?.stop();
    await env?.stop();
  });

  it('scales to the replicas the wait model needs before a backlog builds, shows the estimates, and goes to zero when arrivals stop', async () => {
    const predicted = replicasForWait(
      { arrivalPerSecond: ARRIVALS_PER_SECOND, serviceSeconds: JOB_SECONDS },
      { targetWaitSeconds: TARGET_SECONDS, concurrency: 1, waiting: 0, horizonSeconds: 1 + POD_START_SECONDS },
    ).replicas;
    assert.equal(predicted, 3, 'the model\'s answer for this load');

    await createNamespace(env, 'wait');
    await createPool(env, 'wait', 'steady', poolSpec(env.redis.url, {
      scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 3, targetWaitSeconds: TARGET_SECONDS },
    }));
    // The jobs run in worker processes of this test (pods on the test cluster run nothing); enough slots
    // that no backlog forms whatever the Deployment's size, so only the arrival rate can drive the pool.
    const recordFile = tempRecordFile();
    for (let i = 0; i < 5; i++) {
      workers.push(await startWorker({ REDIS_URL: env.redis.url, QUEUES: 'default', CONCURRENCY: '1', JOBS_PER_CHILD: '100000', RECORD_FILE: recordFile }));
    }

    let maxDepth = 0;
    let enqueued = 0;
    const started = Date.now();
    const feeder = setInterval(() => {
      // Evenly spaced by the clock, so a late timer catches up rather than lowering the rate.
      const due = Math.floor(((Date.now() - started) / 1000) * ARRIVALS_PER_SECOND);
      for (; enqueued < due; enqueued++) void client.enqueue('default', 'Sleep', JOB_SECONDS, enqueued);
    }, 50);
    try {
      const pool = await until('the pool at the predicted size', async () => {
        maxDepth = Math.max(maxDepth, (await client.queueSizes(['default']))['default'] ?? 0);
        const p = await getPool(env, 'wait', 'steady');
        return p.status?.desiredReplicas === predicted && typeof p.status.autoscaling?.expectedWaitSeconds === 'number' ? p : undefined;
      }, 90_000, 250);
      assert.equal(await replicasOf(env, 'wait', 'steady'), predicted);
      assert.ok(maxDepth <= 3, `no backlog built on the way: the deepest queue seen held ${maxDepth} jobs`);

      const est = pool.status?.autoscaling;
      assert.equal(est?.targetWaitSeconds, TARGET_SECONDS);
      const near = (got: number | null | undefined, want: number, what: string): void => {
        assert.ok(typeof got === 'number' && Math.abs(got - want) <= 0.25 * want, `${what}: ${got}, about ${want}`);
      };
      near(est?.arrivalPerSecond, ARRIVALS_PER_SECOND, 'arrivals per second');
      near(est?.servicePerSecondPerReplica, 1 / JOB_SECONDS, 'jobs per second one replica finishes');
      assert.ok((est?.expectedWaitSeconds ?? Infinity) <= TARGET_SECONDS, `expected wait ${est?.expectedWaitSeconds} s within the target`);
      assert.match(condition(pool, 'Scaling')?.message ?? '', new RegExp(`jobs/s arriving, [\\d.]+ s each, target wait ${TARGET_SECONDS} s`));

      const table = await env.cluster.kubectl(['get', 'jobpools', '-n', 'wait']);
      const [header = '', row = ''] = table.stdout.trim().split('\n');
      const column = header.split(/\s{2,}/).indexOf('WAIT');
      assert.ok(column > 0, `a WAIT column: ${header}`);
      assert.match(row.split(/\s{2,}/)[column] ?? '', /^\d+(\.\d+)?$/, `the expected wait in it: ${row}`);
    } finally {
      clearInterval(feeder);
    }

    // No more arrivals: after the quiet time and the scale-down delay, nothing is needed.
    await until('the pool at zero', async () => (await getPool(env, 'wait', 'steady')).status?.desiredReplicas === 0, 90_000);
    assert.equal((await getPool(env, 'wait', 'steady')).status?.autoscaling?.arrivalPerSecond, 0);
  });
});
