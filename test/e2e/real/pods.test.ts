// The product on real pods: the images built by `npm run images` (scripts/images.ts) and imported into the
// test cluster's real node (a kubelet on containerd), the chart installed as a user installs it (the operator
// in its pod, as its ServiceAccount, reaching the API server through the `kubernetes` Service), a JobPool of
// the example worker image, and Redis on this machine, reached by the pods on the node's bridge address.
// Then chaos on real containers: worker containers killed through containerd, restarted in place by the
// kubelet; the burst is tallied as enqueued / completed / duplicated / lost, and lost must be 0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { createClient, type ForkpoolClient } from '../../../queue/src/index.ts';
import { buildImages, imagesUnavailable, type BuiltImage } from '../../../scripts/images.ts';
import { binDir, realNodeUnavailable, startCluster, type Cluster } from '../../cluster/cluster.ts';
import type { RealNode } from '../../cluster/real-node.ts';
import { helm } from '../../helm/chart.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { sleep, until } from '../../helpers/wait.ts';
import { readRecords, tally } from '../env.ts';

const run = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;

const unavailable = realNodeUnavailable(binDir) ?? imagesUnavailable();
if (unavailable !== undefined) {
  console.error(`\n*** SKIPPED test/e2e/real/pods.test.ts: ${unavailable} ***\n`);
}

const RELEASE = 'forkpool';
const OPERATOR_NS = 'forkpool-system';
const JOBS = 1000;
const SLEEP_MS = 20;
const MAX_STRIKES = 6;

function reference(built: BuiltImage[], key: string): string {
  const image = built.find((b) => b.key === key);
  if (image === undefined) throw new Error(`npm run images built no ${key} image`);
  return image.reference;
}

describe('real pods: the images, the chart, a pool, chaos on containers', { skip: unavailable ?? false, timeout: 1_800_000 }, () => {
  let cluster: Cluster;
  let node: RealNode;
  let core: CoreV1Api;
  let redis: RedisServer;
  let client: ForkpoolClient;
  let built: BuiltImage[];
  let recordsDir: string;
  const poolName = 'mailers';

  before(async () => {
    const logDir = join(root, '.images', 'logs');
    mkdirSync(logDir, { recursive: true });
    const buildLog = createWriteStream(join(logDir, 'build.log'));
    const t0 = Date.now();
    built = await buildImages(buildLog);
    buildLog.end();
    console.log(`images (${((Date.now() - t0) / 1000).toFixed(0)} s, log in ${join(logDir, 'build.log')}): ${built.map((b) => `${b.reference} ${b.seconds.toFixed(0)} s${b.archived ? '' : ' (cached)'}`).join(', ')}`);

    cluster = await startCluster({ realNode: true, log: () => undefined, keepDir: process.env['KEEP_CLUSTER_DIR'] === '1' });
    assert.ok(cluster.realNode !== undefined);
    node = cluster.realNode;
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    for (const image of built) await node.importImage(image.archive);
    redis = await startRedis({ bind: [node.hostAddress] });

    recordsDir = join(cluster.dir, 'records');
    mkdirSync(recordsDir);
    chmodSync(recordsDir, 0o777); // the workers run as uid 1000
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
    await redis?.stop();
  });

  const exec = async (namespace: string, pod: string, command: string[]): Promise<string> => {
    const result = await cluster.kubectl(['exec', '-n', namespace, pod, '--', ...command]);
    if (result.code !== 0) {
      const status = await cluster.kubectl(['get', 'pod', '-n', namespace, pod, '-o', 'jsonpath={.status.containerStatuses}']);
      const previous = await cluster.kubectl(['logs', '-n', namespace, pod, '--previous', '--tail=30']);
      assert.fail(`kubectl exec ${pod} ${command.join(' ')}: exit ${result.code} ${result.stderr}\ncontainers: ${status.stdout}\nprevious logs: ${previous.stdout}${previous.stderr}`);
    }
    return result.stdout;
  };

  /** PID 1 is tini, running the command, and the container's processes run as 1000. */
  const assertTiniAndUser = async (namespace: string, pod: string): Promise<void> => {
    const init = (await exec(namespace, pod, ['cat', '/proc/1/cmdline'])).split('\0').filter(Boolean);
    assert.equal(init[0], '/usr/bin/tini', `PID 1 of ${pod}: ${init.join(' ')}`);
    assert.equal(init[1], '--');
    assert.equal((await exec(namespace, pod, ['id', '-u'])).trim(), '1000');
    assert.equal((await exec(namespace, pod, ['id', '-g'])).trim(), '1000');
  };

  const operatorPod = async (): Promise<V1Pod> => {
    const pods = await core.listNamespacedPod({ namespace: OPERATOR_NS, labelSelector: 'app.kubernetes.io/name=forkpool' });
    const pod = pods.items.find((p) => p.status?.phase === 'Running' && p.metadata?.deletionTimestamp === undefined && p.spec?.containers.length === 1);
    assert.ok(pod?.metadata?.name !== undefined, `no running operator pod: ${JSON.stringify(pods.items.map((p) => p.status))}`);
    return pod;
  };

  it('helm install: the operator in its pod on the real node, as its ServiceAccount, holds its Lease', async () => {
    const installed = await helm(
      ['install', RELEASE, join(root, 'helm/forkpool'), '--namespace', OPERATOR_NS, '--create-namespace', '--set', 'image.pullPolicy=Never', '--wait', '--timeout', '300s'],
      { KUBECONFIG: cluster.kubeconfigPath },
    );
    assert.equal(installed.code, 0, `helm install: ${installed.stderr}`);
    const pod = await operatorPod();
    const name = pod.metadata?.name ?? '';
    assert.equal(pod.spec?.nodeName, node.name);
    assert.equal(pod.spec?.containers[0]?.image, reference(built, 'operator'));
    // The Lease is taken through the API server's Service address, with the pod's ServiceAccount token.
    await until('the operator pod holding the Lease', async () => {
      const lease = await cluster.kubectl(['get', 'lease', RELEASE, '-n', OPERATOR_NS, '-o', 'jsonpath={.spec.holderIdentity}']);
      return lease.code === 0 && lease.stdout.startsWith(`${name}_`);
    }, 120_000);
    await assertTiniAndUser(OPERATOR_NS, name);
  });

  it('the example worker image in the pool: tini as PID 1, user 1000, /readyz answers, an example job runs', async () => {
    const pool = parse(readFileSync(join(root, 'examples/jobpool.yaml'), 'utf8')) as {
      spec: { redis: { url: string; namespace: string }; template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } }; scaling: Record<string, number>; worker: Record<string, number>; retry: unknown };
    };
    pool.spec.redis.url = `redis://${node.hostAddress}:${redis.port}/0`;
    pool.spec.scaling['minReplicas'] = 1;
    pool.spec.scaling['maxReplicas'] = 2; // what this 2-core machine runs beside the control plane and the kubelet
    pool.spec.scaling['scaleDownDelaySeconds'] = 5;
    pool.spec.worker['jobsPerChild'] = 100;
    pool.spec.retry = { attempts: 5, backoffSeconds: 1 };
    const container = pool.spec.template.spec.containers[0];
    assert.ok(container !== undefined);
    assert.equal(container['image'], reference(built, 'worker-example'));
    container['imagePullPolicy'] = 'Never';
    // The chaos job, beside the example's jobs, and the folder it records in: this machine's files.
    container['env'] = [{ name: 'HEARTBEAT_INTERVAL_SECONDS', value: '1' }, { name: 'HEARTBEAT_TIMEOUT_SECONDS', value: '3' }];
    container['volumeMounts'] = [
      { name: 'e2e-job', mountPath: '/app/jobs/E2eRecord.js', readOnly: true },
      { name: 'records', mountPath: '/records' },
    ];
    pool.spec.template.spec['volumes'] = [
      { name: 'e2e-job', hostPath: { path: join(root, 'test/e2e/jobs/E2eRecord.js'), type: 'File' } },
      { name: 'records', hostPath: { path: recordsDir, type: 'Directory' } },
    ];
    const file = join(cluster.dir, 'jobpool.yaml');
    writeFileSync(file, stringify(pool));
    const applied = await cluster.kubectl(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);

    const pod = await until('a Ready worker pod on the real node', async () => {
      const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: `forkpool.io/pool=${poolName}` });
      return pods.items.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
    }, 180_000);
    const name = pod.metadata?.name ?? '';
    assert.equal(pod.spec?.nodeName, node.name);
    await assertTiniAndUser('default', name);
    // The worker's own HTTP server, from this machine through the pods' bridge.
    const readyz = await until(`${name} /readyz`, async () => {
      const res = await fetch(`http://${pod.status?.podIP}:9100/readyz`).catch(() => undefined);
      return res?.status === 200 ? res : undefined;
    }, 60_000);
    assert.equal(readyz.status, 200);

    client = createClient({ url: `${redis.url}/0`, namespace: pool.spec.redis.namespace });
    const before = (await client.stats()).processed;
    await client.enqueue('mailers', 'ResizeImage', 42, [1, 2]);
    await until('the example job processed', async () => (await client.stats()).processed > before, 60_000);
    assert.equal((await client.stats()).failed, 0);
  });

  it('chaos: worker containers SIGKILLed through containerd, restarted in place: nothing lost', async () => {
    const recordFile = join(recordsDir, 'container-kill.jsonl');
    const ids = Array.from({ length: JOBS }, (_, i) => `container-kill-${i}`);
    const restartsBefore = await restartCounts();
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map((id, j) => client.enqueue((i + j) % 2 === 0 ? 'mailers' : 'critical', 'E2eRecord', `/records/container-kill.jsonl`, id, SLEEP_MS)));
    }
    const killed: string[] = [];
    let striking = true;
    const chaos = (async () => {
      while (striking && killed.length < MAX_STRIKES) {
        await sleep(2000 + Math.random() * 2000);
        try {
          if (!striking || (await client.stats()).pending < JOBS / 3) break;
          const busy = new Set((await client.workers()).filter((w) => w.job !== undefined).map((w) => w.host));
          const pods = (await core.listNamespacedPod({ namespace: 'default', labelSelector: `forkpool.io/pool=${poolName}` })).items;
          const victims = pods.filter((p) => busy.has(p.metadata?.name ?? '') && p.metadata?.deletionTimestamp === undefined);
          const victim = victims[Math.floor(Math.random() * victims.length)];
          const id = victim?.status?.containerStatuses?.find((c) => c.name === 'worker')?.containerID?.replace(/^containerd:\/\//, '');
          if (victim === undefined || id === undefined) continue;
          await run('ctr', ['--address', node.footprint.containerdSocket, '--namespace', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', id]);
          killed.push(victim.metadata?.name ?? '');
        } catch (err) {
          console.log(`chaos (container-kill): strike failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    const t0 = Date.now();
    try {
      await until('container-kill: every job recorded as done, nothing waiting, delayed or in flight', async () => {
        const stats = await client.stats();
        if (stats.pending > 0 || stats.inFlight > 0 || stats.delayed > 0) return false;
        return tally(ids, readRecords(recordFile)).lost === 0;
      }, 600_000, 500);
    } finally {
      striking = false;
      await chaos;
    }
    const result = tally(ids, readRecords(recordFile));
    const restartsAfter = await restartCounts();
    const restarted = [...new Set(killed)].filter((pod) => (restartsAfter.get(pod) ?? 0) > (restartsBefore.get(pod) ?? 0));
    console.log(
      `chaos (container-kill): enqueued ${JOBS}, completed ${result.completed}, duplicated ${result.duplicated}, lost ${result.lost}; ` +
        `${killed.length} containers killed, ${result.startedNotEnded.length} jobs interrupted and run again, ` +
        `restarted in place: ${restarted.join(', ')}; drained in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    assert.ok(killed.length > 0, 'no container was killed: the burst ended too soon');
    // The kubelet restarted the killed containers in their pods: same pod names, a higher restartCount.
    assert.deepEqual(restarted.sort(), [...new Set(killed)].sort());
    assert.equal(result.lost, 0);
    assert.equal(result.completed, JOBS);
  });

  /** restartCount of each pool pod's worker container, by pod name. */
  async function restartCounts(): Promise<Map<string, number>> {
    const pods = (await core.listNamespacedPod({ namespace: 'default', labelSelector: `forkpool.io/pool=${poolName}` })).items;
    return new Map(pods.map((p) => [p.metadata?.name ?? '', p.status?.containerStatuses?.find((c) => c.name === 'worker')?.restartCount ?? 0]));
  }
});
