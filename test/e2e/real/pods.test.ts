// The product on real pods (the set-up is real-env.ts): the chart installed as a user installs it, the operator
// in its pod on the real node; examples/jobpool.yaml on the example worker image in a namespace that enforces the
// restricted Pod Security Standard, its pods hardened by the operator's defaults alone (read-only root
// filesystem, uid 1000); then chaos on real containers: worker containers killed through containerd, restarted
// in place by the kubelet; the burst is tallied as enqueued / completed / duplicated / lost, and lost must be 0.
// The other chaos scenarios on real containers are in chaos.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import {
  assertTiniAndUser, drain, enqueueBurst, OPERATOR_NS, POOL_NS, RECORD_JOB, realPodsUnavailable, RELEASE, report, restartCounts, sleep, startRealEnv, until, type RealEnv,
} from './real-env.ts';

const run = promisify(execFile);

const unavailable = realPodsUnavailable();
if (unavailable !== undefined) {
  console.error(`\n*** SKIPPED test/e2e/real/pods.test.ts: ${unavailable} ***\n`);
}

const JOBS = 1000;
const SLEEP_MS = 20;
const MAX_STRIKES = 6;

describe('real pods: the images, the chart, a pool, chaos on containers', { skip: unavailable ?? false, timeout: 1_800_000 }, () => {
  let env: RealEnv;
  const poolName = 'mailers';

  before(async () => {
    env = await startRealEnv();
  });
  after(async () => {
    await env?.stop();
  });

  const operatorPod = async (): Promise<V1Pod> => {
    const pods = await env.core.listNamespacedPod({ namespace: OPERATOR_NS, labelSelector: 'app.kubernetes.io/name=forkpool' });
    const pod = pods.items.find((p) => p.status?.phase === 'Running' && p.metadata?.deletionTimestamp == null && p.spec?.containers.length === 1);
    assert.ok(pod?.metadata?.name !== undefined, `no running operator pod: ${JSON.stringify(pods.items.map((p) => p.status))}`);
    return pod;
  };

  it('helm install: the operator in its pod on the real node, as its ServiceAccount, holds its Lease', async () => {
    const pod = await operatorPod();
    const name = pod.metadata?.name ?? '';
    assert.equal(pod.spec?.nodeName, env.node.name);
    assert.equal(pod.spec?.containers[0]?.image, env.reference('operator'));
    // The Lease is taken through the API server's Service address, with the pod's ServiceAccount token.
    await until('the operator pod holding the Lease', async () => {
      const lease = await env.cluster.kubectl(['get', 'lease', RELEASE, '-n', OPERATOR_NS, '-o', 'jsonpath={.spec.holderIdentity}']);
      return lease.code === 0 && lease.stdout.startsWith(`${name}_`);
    }, 120_000);
    await assertTiniAndUser(env, OPERATOR_NS, name);
  });

  it('the example pool in a restricted namespace: hardened by the operator, tini as PID 1, user 1000, read-only root, /readyz, a job runs', async () => {
    const ns = await env.cluster.kubectl(['get', 'namespace', POOL_NS, '-o', 'jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}']);
    assert.equal(ns.stdout, 'restricted');
    await env.applyPool(poolName);
    const pod = await env.readyPod(poolName);
    const name = pod.metadata?.name ?? '';
    assert.equal(pod.spec?.nodeName, env.node.name);
    // The template says nothing of security: what the pod runs with is the operator's.
    const security = pod.spec?.containers.find((c) => c.name === 'worker')?.securityContext;
    assert.equal(security?.readOnlyRootFilesystem, true);
    assert.equal(security?.runAsUser, 1000);
    assert.equal(security?.allowPrivilegeEscalation, false);
    await assertTiniAndUser(env, POOL_NS, name);
    // The root filesystem is read-only in the worker container; /tmp (the operator's emptyDir) is not.
    const write = await env.cluster.kubectl(['exec', '-n', POOL_NS, name, '--', 'node', '-e', "require('fs').writeFileSync('/app/x', 'x')"]);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /EROFS: read-only file system/);
    assert.equal((await env.exec(POOL_NS, name, ['node', '-e', "require('fs').writeFileSync('/tmp/x', 'x'); console.log('ok')"])).trim(), 'ok');
    // The worker's own HTTP server, from this machine through the pods' bridge.
    const readyz = await until(`${name} /readyz`, async () => {
      const res = await fetch(`http://${pod.status?.podIP}:9100/readyz`).catch(() => undefined);
      return res?.status === 200 ? res : undefined;
    }, 60_000);
    assert.equal(readyz.status, 200);

    const before = (await env.client.stats()).processed;
    await env.client.enqueue('mailers', 'ResizeImage', 42, [1, 2]);
    await env.client.enqueue('mailers', RECORD_JOB, env.recorder.url('first'), 'first', 1);
    await until('the example job and a recording job processed', async () => (await env.client.stats()).processed >= before + 2, 60_000);
    assert.equal((await env.client.stats()).failed, 0);
    assert.deepEqual(env.recorder.records('first').map((r) => r.event), ['start', 'end']);
  });

  it('chaos: worker containers SIGKILLed through containerd, restarted in place: nothing lost', async () => {
    const ids = Array.from({ length: JOBS }, (_, i) => `container-kill-${i}`);
    const restartsBefore = await restartCounts(env, poolName);
    await enqueueBurst(env, 'container-kill', ids, ['mailers', 'critical'], SLEEP_MS);
    const killed: string[] = [];
    let striking = true;
    const chaos = (async () => {
      while (striking && killed.length < MAX_STRIKES) {
        await sleep(2000 + Math.random() * 2000);
        try {
          if (!striking || (await env.client.stats()).pending < JOBS / 3) break;
          const busy = new Set((await env.client.workers()).filter((w) => w.job !== undefined).map((w) => w.host));
          const victims = (await env.poolPods(poolName)).filter((p) => busy.has(p.metadata?.name ?? ''));
          const victim = victims[Math.floor(Math.random() * victims.length)];
          const id = victim?.status?.containerStatuses?.find((c) => c.name === 'worker')?.containerID?.replace(/^containerd:\/\//, '');
          if (victim === undefined || id === undefined) continue;
          await run('ctr', ['--address', env.node.footprint.containerdSocket, '--namespace', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', id]);
          killed.push(victim.metadata?.name ?? '');
        } catch (err) {
          console.log(`chaos (container-kill): strike failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    let result;
    try {
      result = await drain(env, 'container-kill', ids);
    } finally {
      striking = false;
      await chaos;
    }
    const restartsAfter = await restartCounts(env, poolName);
    const restarted = [...new Set(killed)].filter((pod) => (restartsAfter.get(pod) ?? 0) > (restartsBefore.get(pod) ?? 0));
    report('container-kill', JOBS, result, `${killed.length} containers killed, restarted in place: ${restarted.join(', ')}`);
    assert.ok(killed.length > 0, 'no container was killed: the burst ended too soon');
    // The kubelet restarted the killed containers in their pods: same pod names, a higher restartCount.
    assert.deepEqual(restarted.sort(), [...new Set(killed)].sort());
    assert.equal(result.lost, 0);
    assert.equal(result.completed, JOBS);
  });
});
