// Chaos, with nothing lost: while a burst runs, (1) worker masters are SIGKILLed at random, (2) busy
// worker pods are deleted, (3) job children are SIGKILLed at random, (4) the API server is
// restarted, (5) Redis (AOF on) is SIGKILLed and started again, (6) the operator's leader is
// SIGKILLed and the standby takes over. The pod runner restarts a
// container that died (as the kubelet does); the jobs a killed master held in flight go back to
// their queues once its heartbeat expires; a deleted pod's worker finishes its job on SIGTERM; a
// killed child's job fails as Resque::DirtyExit and is retried. Every job must end at least once.
// Each scenario prints enqueued / completed / duplicated / lost; lost must be 0.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import { examplePoolFile, readRecords, replicasOf, sleep, startE2e, tally, until, type E2eEnv, type ExamplePool } from './env.ts';

const JOBS = 1500;
const SLEEP_MS = 20;
/**
 * Strikes per scenario at most. Each strike costs the pool a worker start (a second or more of CPU on this
 * 2-core machine); unbounded, strikes every 1-2.5 s on a loaded machine kill workers faster than they
 * start, and the burst never drains: a test of the machine's speed, not of what is lost.
 */
const MAX_STRIKES = 12;

describe('chaos during a burst: every job processed at least once, none lost', { timeout: 600_000 }, () => {
  let env: E2eEnv;
  let client: ForkpoolClient;
  let pool: ExamplePool;
  let name: string;
  before(async () => {
    // The operator does not set heartbeat timings (the worker's defaults are 5 s / 30 s): the runner
    // shortens them in the local processes' environment so that a killed master's jobs come back in
    // seconds and the test stays short. Strikes land on workers at random, and a job recovered from a
    // struck worker goes to the head of its queue, where the next strike may find it again: here a job is
    // never at fault for its worker's death, so the poison guard (a job recovered more than MAX_RECOVERIES
    // times becomes a failure; test/worker/faults.test.ts) is set past what the strikes can reach.
    env = await startE2e({
      redisAppendonly: true,
      standbyOperator: true,
      workerEnv: { HEARTBEAT_INTERVAL_SECONDS: '1', HEARTBEAT_TIMEOUT_SECONDS: '3', MAX_RECOVERIES: String(MAX_STRIKES) },
    });
    const file = examplePoolFile(env, (p) => {
      p.spec.redis.url = `${env.redis.url}/0`;
      p.spec.scaling['minReplicas'] = 0;
      p.spec.scaling['scaleDownDelaySeconds'] = 5;
      p.spec.scaling['maxReplicas'] = 4; // what this 2-core machine runs beside the control plane
      p.spec.worker['jobsPerChild'] = 100; // a fresh `node` per job would make the burst CPU-bound
      // A killed child's job is retried through the delayed set: 1 s rather than the example's 15 s.
      p.spec.retry = { attempts: 5, backoffSeconds: 1 };
    });
    pool = file.pool;
    name = pool.metadata.name;
    const applied = await env.cluster.kubectl(['apply', '-f', file.path]);
    assert.equal(applied.code, 0, applied.stderr);
    await until('the pool Deployment at 0 replicas', async () => (await replicasOf(env, name)) === 0, 60_000);
    client = createClient({ url: `${env.redis.url}/0`, namespace: pool.spec.redis.namespace });
  });
  after(async () => {
    await client?.close();
    await env?.stop();
  });

  /** A strike that happens once: the first call runs `action`, later ones do nothing. */
  const once = (action: () => Promise<void> | void): (() => Promise<boolean>) => {
    let done = false;
    return async () => {
      if (done) return false;
      done = true;
      await action();
      return true;
    };
  };

  /**
   * Enqueues a burst, runs `strike` every 1-2.5 s (at most MAX_STRIKES times) until a third of the jobs are left (so the end of
   * the burst drains undisturbed), waits until every job ended, and prints the tally.
   */
  const burst = async (scenario: string, strike: () => Promise<boolean> | boolean): Promise<void> => {
    const recordFile = join(mkdtempSync(join(tmpdir(), 'forkpool-chaos-')), 'records.jsonl');
    const ids = Array.from({ length: JOBS }, (_, i) => `${scenario}-${i}`);
    const queues = pool.spec.queues;
    const failedBefore = (await client.stats()).failed;
    const startedBefore = env.runner.processes.length;
    const t0 = Date.now();
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map((id, j) => client.enqueue(queues[(i + j) % queues.length] ?? 'mailers', 'E2eRecord', recordFile, id, SLEEP_MS)));
    }
    let strikes = 0;
    let striking = true;
    const chaos = (async () => {
      while (striking) {
        await sleep(1000 + Math.random() * 1500);
        try {
          if (!striking || strikes >= MAX_STRIKES || (await client.stats()).pending < JOBS / 3) break;
          if (await strike()) strikes++;
        } catch (err) {
          console.log(`chaos (${scenario}): strike failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    try {
      await until(`${scenario}: every job recorded as done, nothing waiting, delayed or in flight`, async () => {
        const stats = await client.stats();
        if (stats.pending > 0 || stats.inFlight > 0 || stats.delayed > 0) return false;
        return tally(ids, readRecords(recordFile)).lost === 0;
      }, 170_000, 250).catch(async (err: unknown) => {
        // What is left, as a user would look for it: the counts, and the failures recorded meanwhile.
        const stats = await client.stats();
        const failures = (await client.failed.list(0, 20)).map((f) => f.record ? `${f.record.exception}: ${f.record.error}` : f.raw);
        const left = tally(ids, readRecords(recordFile));
        throw new Error(
          `${err instanceof Error ? err.message : String(err)}; pending ${stats.pending}, in flight ${stats.inFlight}, ` +
            `delayed ${stats.delayed}, completed ${left.completed} of ${JOBS}; failures recorded ${stats.failed - failedBefore}:\n${failures.join('\n')}`,
        );
      });
    } finally {
      striking = false;
      await chaos;
    }
    const result = tally(ids, readRecords(recordFile));
    const failures = (await client.stats()).failed - failedBefore;
    console.log(
      `chaos (${scenario}): enqueued ${JOBS}, completed ${result.completed}, duplicated ${result.duplicated}, lost ${result.lost}; ` +
        `${strikes} strikes, ${result.startedNotEnded.length} jobs interrupted and run again, ` +
        `${env.runner.processes.length - startedBefore} worker processes started, ` +
        `drained in ${((Date.now() - t0) / 1000).toFixed(1)} s, failure records ${failures}`,
    );
    assert.ok(strikes > 0, 'nothing was struck: the burst ended too soon');
    assert.equal(result.lost, 0);
    assert.equal(result.completed, JOBS);
  };

  /** A worker process (of a pod not being deleted) that has started taking jobs, at random. */
  const randomWorker = () => {
    const victims = env.runner.running().filter((p) => p.terminatingSince === undefined && p.logs.some((l) => l.msg === 'worker started'));
    return victims[Math.floor(Math.random() * victims.length)];
  };

  it('SIGKILL of worker masters at random', async () => {
    await burst('master-kill', () => {
      const victim = randomWorker();
      if (victim === undefined) return false;
      victim.proc.kill('SIGKILL');
      return true;
    });
  });

  it('deletion of busy pods', async () => {
    await burst('pod-delete', async () => {
      const busy = new Set((await client.workers()).filter((w) => w.job !== undefined).map((w) => w.host));
      const victims = env.runner.running().filter((p) => p.terminatingSince === undefined && busy.has(p.pod));
      const victim = victims[Math.floor(Math.random() * victims.length)];
      if (victim === undefined) return false;
      await env.core.deleteNamespacedPod({ namespace: victim.namespace, name: victim.pod });
      return true;
    });
  });

  it('SIGKILL of job children at random', async () => {
    await burst('child-kill', async () => {
      // A master with a job running, so that the kill lands on a job rather than on a warm idle child.
      const busy = (await client.workers()).filter((w) => w.job !== undefined);
      const master = busy[Math.floor(Math.random() * busy.length)];
      if (master === undefined) return false;
      let children: number[];
      try {
        children = execFileSync('pgrep', ['-P', String(master.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
      } catch {
        return false; // no child right now
      }
      const child = children[Math.floor(Math.random() * children.length)];
      if (child === undefined) return false;
      try {
        process.kill(child, 'SIGKILL');
        return true;
      } catch {
        return false;
      }
    });
  });

  it('restart of the API server', async () => {
    await burst('apiserver-restart', once(() => env.cluster.restartApiServer()));
  });

  it('restart of Redis (SIGKILL, AOF on)', async () => {
    await burst('redis-restart', once(async () => {
      await env.redis.kill();
      await sleep(500);
      await env.redis.start();
    }));
  });

  it("the operator's leader SIGKILLed (the standby takes over)", async () => {
    // Whichever replica leads now: a slow renewal earlier in the suite may already have moved the Lease.
    const holder = await env.leaseHolder();
    const leaderName = holder.slice(0, holder.indexOf('_'));
    const leader = env.operators.get(leaderName);
    assert.ok(leader !== undefined, `the Lease is held by ${holder || 'nobody'}, not by an operator of this test`);
    const standby = [...env.operators.keys()].find((n) => n !== leaderName) ?? '';
    await burst('leader-kill', once(() => { leader.kill('SIGKILL'); }));
    // Only a leader scales: the pool back at zero proves the standby took over (Lease of 15 s).
    await until('the standby holding the Lease', async () => (await env.leaseHolder()).startsWith(`${standby}_`), 60_000);
    await until('the pool back at zero under the new leader', async () => (await replicasOf(env, name)) === 0, 60_000);
  });
});
