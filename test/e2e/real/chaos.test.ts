// Chaos on real containers (the set-up is real-env.ts; container kills are in pods.test.ts): memory limits (a
// job's child over the container's limit, OOM-killed by the kernel; a worker that does not fit its limit, the
// container OOMKilled until the limit is raised); busy pods deleted, stopped by the kubelet within their grace
// period; the node's containerd restarted under running pods. Each scenario runs during a burst of recording
// jobs, prints enqueued / completed / duplicated / lost, and asserts lost = 0.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { V1ContainerStatus } from '@kubernetes/client-node';
import { tally } from '../env.ts';
import {
  drain, enqueueBurst, POOL_NS, realPodsUnavailable, report, restartCounts, sleep, startRealEnv, until, type RealEnv,
} from './real-env.ts';

const unavailable = realPodsUnavailable();
if (unavailable !== undefined) {
  console.error(`\n*** SKIPPED test/e2e/real/chaos.test.ts: ${unavailable} ***\n`);
}

const JOBS = 600;
const SLEEP_MS = 20;
const POOL = 'mailers';
const HOGS = 'hogs';
/** The hogs pool's container memory limit, and what one E2e::MemoryHog job touches: more than the limit. */
const HOG_LIMIT_MIB = 256;
const HOG_MIB = 400;
/** A pool whose limit its worker (Node, tini) does not fit in. */
const TINY = 'tiny';
const TINY_LIMIT_MIB = 24;

describe('chaos on real containers: memory limit, pod deleted, containerd restarted', { skip: unavailable ?? false, timeout: 2_400_000 }, () => {
  let env: RealEnv;

  before(async () => {
    env = await startRealEnv();
    // Two pods from the start: one can be deleted while the other works.
    await env.applyPool(POOL, (pool) => {
      pool.spec.scaling['minReplicas'] = 2;
    });
    await until('two Ready pods of the pool', async () => {
      const pods = await env.poolPods(POOL);
      return pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true).length === 2;
    }, 240_000, 500);
  });
  after(async () => {
    await env?.stop();
  });

  const workerStatus = async (pool: string): Promise<Map<string, V1ContainerStatus>> => {
    const statuses = new Map<string, V1ContainerStatus>();
    for (const pod of await env.poolPods(pool)) {
      const status = pod.status?.containerStatuses?.find((c) => c.name === 'worker');
      if (status !== undefined) statuses.set(pod.metadata?.name ?? '', status);
    }
    return statuses;
  };

  it('a job over the container memory limit: OOM-killed by the kernel, nothing else lost', async () => {
    await env.applyPool(HOGS, (pool) => {
      pool.spec.queues = [HOGS];
      pool.spec.scaling['minReplicas'] = 1;
      pool.spec.scaling['maxReplicas'] = 1;
      pool.spec.worker['maxChildMemoryMiB'] = 4096; // the kernel acts first
      pool.spec.retry = { attempts: 2, backoffSeconds: 1 };
      const template = pool.spec['template'] as { spec: { containers: { resources: { requests: Record<string, string>; limits: Record<string, string> } }[] } };
      const container = template.spec.containers[0];
      assert.ok(container !== undefined);
      container.resources = { requests: { cpu: '100m', memory: `${HOG_LIMIT_MIB}Mi` }, limits: { memory: `${HOG_LIMIT_MIB}Mi` } };
    });
    const pod = await env.readyPod(HOGS);
    const name = pod.metadata?.name ?? '';
    const ids = Array.from({ length: JOBS / 2 }, (_, i) => `oom-${i}`);
    await enqueueBurst(env, 'oom', ids.slice(0, ids.length / 2), [HOGS], SLEEP_MS);
    await env.client.enqueue(HOGS, 'E2e::MemoryHog', HOG_MIB, 1000);
    await enqueueBurst(env, 'oom', ids.slice(ids.length / 2), [HOGS], SLEEP_MS);
    const result = await drain(env, 'oom', ids);
    const after = (await workerStatus(HOGS)).get(name);
    const failures = (await env.client.failed.list(0, 100)).map((f) => f.record).filter((f) => f?.queue === HOGS);
    // cgroup v1: the container's memory cgroup counts the kernel's OOM kills in it.
    const oomKills = Number(/oom_kill (\d+)/.exec(await env.exec(POOL_NS, name, ['cat', '/sys/fs/cgroup/memory/memory.oom_control']))?.[1]);
    report('memory-limit', ids.length, result, `${oomKills} processes OOM-killed in ${name}; the hog's failure: ${failures.map((f) => `${f?.exception}: ${f?.error}`).join('; ')}`);
    assert.equal(result.lost, 0);
    assert.equal(result.completed, ids.length);
    // The kernel killed the job's child (the largest process of the container), not the worker: the hog failed
    // with SIGKILL, the container ran on, and the rest of the burst ran there.
    assert.ok(oomKills >= 1, `oom_kill ${oomKills}`);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.exception, 'Resque::DirtyExit');
    assert.match(failures[0]?.error ?? '', /SIGKILL/);
    assert.equal(after?.restartCount, 0);
    assert.ok(after?.state?.running !== undefined);
    await env.cluster.kubectl(['delete', 'jobpool', HOGS, '-n', POOL_NS, '--wait=false']);
  });

  it('a container whose worker does not fit its memory limit: OOMKilled, restarted; raised, its jobs all run', async () => {
    await env.applyPool(TINY, (pool) => {
      pool.spec.queues = [TINY];
      pool.spec.scaling['minReplicas'] = 1;
      pool.spec.scaling['maxReplicas'] = 1;
      const template = pool.spec['template'] as { spec: { containers: { resources: unknown }[] } };
      const container = template.spec.containers[0];
      assert.ok(container !== undefined);
      container.resources = { requests: { cpu: '100m', memory: `${TINY_LIMIT_MIB}Mi` }, limits: { memory: `${TINY_LIMIT_MIB}Mi` } };
    });
    const ids = Array.from({ length: JOBS / 4 }, (_, i) => `tiny-${i}`);
    await enqueueBurst(env, 'tiny', ids, [TINY], SLEEP_MS);
    const oomKilled = await until(`a ${TINY} container's last termination OOMKilled`, async () => {
      const status = [...(await workerStatus(TINY)).values()].find((s) => s.lastState?.terminated?.reason === 'OOMKilled');
      return status;
    }, 180_000, 500);
    const recordedWhileTooSmall = tally(ids, env.recorder.records('tiny')).completed;
    const raised = await env.cluster.kubectl([
      'patch', 'jobpool', TINY, '-n', POOL_NS, '--type=json',
      '-p', JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/resources', value: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '256Mi' } } }]),
    ]);
    assert.equal(raised.code, 0, raised.stderr);
    const result = await drain(env, 'tiny', ids);
    report('too-small', ids.length, result, `limit ${TINY_LIMIT_MIB} MiB: last termination ${oomKilled.lastState?.terminated?.reason} (exit ${oomKilled.lastState?.terminated?.exitCode}), restartCount ${oomKilled.restartCount}, ${recordedWhileTooSmall} jobs done before the limit was raised to 256 MiB`);
    assert.equal(oomKilled.lastState?.terminated?.reason, 'OOMKilled');
    assert.equal(result.lost, 0);
    assert.equal(result.completed, ids.length);
    await env.cluster.kubectl(['delete', 'jobpool', TINY, '-n', POOL_NS, '--wait=false']);
  });

  it('busy pods deleted: the kubelet stops them within their grace period, running jobs finish, nothing lost', async () => {
    const ids = Array.from({ length: JOBS }, (_, i) => `pod-delete-${i}`);
    await enqueueBurst(env, 'pod-delete', ids, ['mailers', 'critical'], SLEEP_MS);
    const deleted: { pod: string; grace: number; seconds: number }[] = [];
    let striking = true;
    const chaos = (async () => {
      while (striking && deleted.length < 2) {
        await sleep(3000 + Math.random() * 2000);
        try {
          if (!striking || (await env.client.stats()).pending < JOBS / 4) break;
          const busy = new Set((await env.client.workers()).filter((w) => w.job !== undefined).map((w) => w.host));
          const victim = (await env.poolPods(POOL)).find((p) => busy.has(p.metadata?.name ?? ''));
          const name = victim?.metadata?.name;
          if (name === undefined) continue;
          const t0 = Date.now();
          const gone = await env.cluster.kubectl(['delete', 'pod', '-n', POOL_NS, name, '--wait=true', '--timeout=600s']);
          assert.equal(gone.code, 0, gone.stderr);
          deleted.push({ pod: name, grace: victim?.spec?.terminationGracePeriodSeconds ?? 30, seconds: (Date.now() - t0) / 1000 });
        } catch (err) {
          console.log(`chaos (pod-delete): strike failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    let result;
    try {
      result = await drain(env, 'pod-delete', ids);
    } finally {
      striking = false;
      await chaos;
    }
    report('pod-delete', JOBS, result, `${deleted.length} busy pods deleted (${deleted.map((d) => `${d.pod} gone in ${d.seconds.toFixed(1)} s of its ${d.grace} s grace`).join(', ')})`);
    assert.ok(deleted.length > 0, 'no pod was deleted: the burst ended too soon');
    // Each went by itself once its running jobs were done, not by the kubelet's SIGKILL at the end of the grace period.
    for (const d of deleted) assert.ok(d.seconds < d.grace, `${d.pod} took ${d.seconds} s, its grace period is ${d.grace} s`);
    // A graceful stop lets a running job finish: none was interrupted.
    assert.deepEqual(result.startedNotEnded, []);
    assert.equal(result.lost, 0);
    assert.equal(result.completed, JOBS);
    // The ReplicaSet replaced them.
    await until('two Ready pods of the pool again', async () => {
      const pods = await env.poolPods(POOL);
      return pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true).length === 2;
    }, 240_000, 500);
  });

  it('the node\'s containerd restarted during a burst: the containers keep running, nothing lost', async () => {
    const before = await workerStatus(POOL);
    const ids = Array.from({ length: JOBS }, (_, i) => `containerd-restart-${i}`);
    await enqueueBurst(env, 'containerd-restart', ids, ['mailers', 'critical'], SLEEP_MS);
    await until('the burst under way', async () => (await env.client.stats()).processed > 0 && (await env.client.workers()).some((w) => w.job !== undefined), 60_000, 200);
    const t0 = Date.now();
    await env.node.restartContainerd();
    const restartSeconds = (Date.now() - t0) / 1000;
    const result = await drain(env, 'containerd-restart', ids);
    const afterRestart = await workerStatus(POOL);
    report('containerd-restart', JOBS, result, `containerd restarted in ${restartSeconds.toFixed(1)} s`);
    assert.equal(result.lost, 0);
    assert.equal(result.completed, JOBS);
    // The same containers, never restarted: containerd found their shims again.
    for (const [pod, status] of before) {
      assert.equal(afterRestart.get(pod)?.containerID, status.containerID, `${pod}'s worker container`);
      assert.equal(afterRestart.get(pod)?.restartCount, status.restartCount, `${pod}'s restartCount`);
    }
    assert.deepEqual([...(await restartCounts(env, POOL)).keys()].sort(), [...before.keys()].sort());
    // The node works through the new containerd: exec reaches a container, and a new pod starts.
    const [first] = [...before.keys()];
    assert.ok(first !== undefined);
    assert.equal((await env.exec(POOL_NS, first, ['id', '-u'])).trim(), '1000');
    const replaced = await env.cluster.kubectl(['delete', 'pod', '-n', POOL_NS, first, '--wait=true', '--timeout=600s']);
    assert.equal(replaced.code, 0, replaced.stderr);
    await until('a new pod started through the restarted containerd, Ready', async () => {
      const pods = await env.poolPods(POOL);
      return pods.filter((p) => p.metadata?.name !== first && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true).length === 2;
    }, 240_000, 500);
  });
});
