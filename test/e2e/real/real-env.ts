// What the tests on real pods share: the images built by `npm run images` (scripts/images.ts) and imported into
// the test cluster's real node (a kubelet on containerd), the chart installed as a user installs it (the operator
// in its pod, as its ServiceAccount, reaching the API server through the `kubernetes` Service), Redis on this
// machine reached by the pods on the node's bridge address, and a namespace `jobs` that enforces the restricted
// Pod Security Standard, where the JobPools run with nothing but the operator's hardened defaults.
//
// The pods of a restricted namespace may mount no folder of the host, so the test's jobs come in a ConfigMap
// (test/e2e/real/jobs, mounted at /app/jobs/E2e) and E2e::Record reports to the recorder: an HTTP server of the
// test process on the bridge address that keeps every line it is sent, the tally's only source.
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { createClient, type ForkpoolClient } from '../../../queue/src/index.ts';
import { buildImages, imagesUnavailable, type BuiltImage } from '../../../scripts/images.ts';
import { binDir, realNodeUnavailable, startCluster, type Cluster } from '../../cluster/cluster.ts';
import type { RealNode } from '../../cluster/real-node.ts';
import { helm } from '../../helm/chart.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { sleep, until } from '../../helpers/wait.ts';
import { tally, type ExamplePool, type RecordLine } from '../env.ts';

export const root = new URL('../../../', import.meta.url).pathname;
export const RELEASE = 'forkpool';
export const OPERATOR_NS = 'forkpool-system';
/** The namespace of the JobPools: it enforces the restricted Pod Security Standard. */
export const POOL_NS = 'jobs';
/** The recording job, from test/e2e/real/jobs/E2e/Record.js. */
export const RECORD_JOB = 'E2e::Record';

/** Why the tests on real pods cannot run here (printed in a SKIPPED line), or undefined. */
export function realPodsUnavailable(): string | undefined {
  return realNodeUnavailable(binDir) ?? imagesUnavailable();
}

/** The recorder: every line the recording jobs sent, by the name in their URL. */
export interface Recorder {
  /** The URL a recording job in a pod POSTs its lines to, for records named `name`. */
  url(name: string): string;
  records(name: string): RecordLine[];
  close(): Promise<void>;
}

const recordLine = z.object({ id: z.string(), event: z.enum(['start', 'end']), pid: z.number().int() });

async function startRecorder(host: string, logFile: string): Promise<Recorder> {
  const records = new Map<string, RecordLine[]>();
  const log = createWriteStream(logFile, { flags: 'a' });
  const server: Server = createServer((req, res) => {
    const name = /^\/records\/([\w-]+)$/.exec(req.url ?? '')?.[1];
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const line = name === undefined || req.method !== 'POST' ? undefined : recordLine.safeParse(safeJson(body));
      if (name === undefined || line === undefined || !line.success) {
        res.writeHead(400).end(`POST /records/NAME {"id","event","pid"}: got ${req.method} ${req.url} ${body.slice(0, 200)}`);
        return;
      }
      const list = records.get(name) ?? [];
      list.push(line.data);
      records.set(name, list);
      log.write(`${name} ${body}\n`);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: (name) => `http://${host}:${port}/records/${name}`,
    records: (name) => [...(records.get(name) ?? [])],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => log.end(resolve));
      }),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export interface RealEnv {
  cluster: Cluster;
  node: RealNode;
  core: CoreV1Api;
  redis: RedisServer;
  /** A client of the pools' Redis namespace (examples/jobpool.yaml's). */
  client: ForkpoolClient;
  recorder: Recorder;
  built: BuiltImage[];
  /** The image reference `npm run images` built for `key` (worker, worker-example, operator). */
  reference(key: string): string;
  /** `kubectl exec`; fails the test with the container's state and previous logs when it fails. */
  exec(namespace: string, pod: string, command: string[]): Promise<string>;
  /** Applies examples/jobpool.yaml in POOL_NS as `name`, on the example image, with the test's changes. */
  applyPool(name: string, change?: (pool: ExamplePool) => void): Promise<ExamplePool>;
  /** The pool's pods that are not being deleted. */
  poolPods(name: string): Promise<V1Pod[]>;
  /** A Ready pod of the pool, once there is one. */
  readyPod(name: string, timeoutMs?: number): Promise<V1Pod>;
  stop(): Promise<void>;
}

/**
 * Builds the images (cached), starts a cluster with a real node, imports the images, starts Redis and the
 * recorder on the node's bridge address, installs the chart, and makes POOL_NS with the test's jobs.
 */
export async function startRealEnv(): Promise<RealEnv> {
  const logDir = join(root, '.images', 'logs');
  mkdirSync(logDir, { recursive: true });
  const buildLog = createWriteStream(join(logDir, 'build.log'));
  const t0 = Date.now();
  const built = await buildImages(buildLog);
  buildLog.end();
  console.log(`images (${((Date.now() - t0) / 1000).toFixed(0)} s, log in ${join(logDir, 'build.log')}): ${built.map((b) => `${b.reference} ${b.seconds.toFixed(0)} s${b.archived ? '' : ' (cached)'}`).join(', ')}`);
  const reference = (key: string): string => {
    const image = built.find((b) => b.key === key);
    if (image === undefined) throw new Error(`npm run images built no ${key} image`);
    return image.reference;
  };

  const cluster = await startCluster({ realNode: true, log: () => undefined, keepDir: process.env['KEEP_CLUSTER_DIR'] === '1' });
  let redis: RedisServer | undefined;
  let recorder: Recorder | undefined;
  let client: ForkpoolClient | undefined;
  const stop = async (): Promise<void> => {
    await client?.close();
    await cluster.stop();
    await recorder?.close();
    await redis?.stop();
  };
  try {
    const node = cluster.realNode;
    assert.ok(node !== undefined);
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    for (const image of built) await node.importImage(image.archive);
    redis = await startRedis({ bind: [node.hostAddress] });
    recorder = await startRecorder(node.hostAddress, join(cluster.dir, 'records.log'));
    const pool0 = parse(readFileSync(join(root, 'examples/jobpool.yaml'), 'utf8')) as ExamplePool;
    client = createClient({ url: `${redis.url}/0`, namespace: pool0.spec.redis.namespace });

    const installed = await helm(
      ['install', RELEASE, join(root, 'helm/forkpool'), '--namespace', OPERATOR_NS, '--create-namespace', '--set', 'image.pullPolicy=Never', '--wait', '--timeout', '300s'],
      { KUBECONFIG: cluster.kubeconfigPath },
    );
    if (installed.code !== 0) throw new Error(`helm install: ${installed.stderr}`);

    const nsFile = join(cluster.dir, 'pool-namespace.yaml');
    writeFileSync(nsFile, stringify({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: POOL_NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } },
    }));
    for (const args of [
      ['apply', '-f', nsFile],
      ['create', 'configmap', 'e2e-jobs', '-n', POOL_NS, `--from-file=${join(root, 'test/e2e/real/jobs/E2e')}`],
    ]) {
      const done = await cluster.kubectl(args);
      if (done.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${done.stderr}`);
    }

    const r = redis;
    const env: RealEnv = {
      cluster,
      node,
      core,
      redis: r,
      client,
      recorder,
      built,
      reference,
      async exec(namespace, pod, command) {
        const result = await cluster.kubectl(['exec', '-n', namespace, pod, '--', ...command]);
        if (result.code !== 0) {
          const status = await cluster.kubectl(['get', 'pod', '-n', namespace, pod, '-o', 'jsonpath={.status.containerStatuses}']);
          const previous = await cluster.kubectl(['logs', '-n', namespace, pod, '--previous', '--tail=30']);
          assert.fail(`kubectl exec ${pod} ${command.join(' ')}: exit ${result.code} ${result.stderr}\ncontainers: ${status.stdout}\nprevious logs: ${previous.stdout}${previous.stderr}`);
        }
        return result.stdout;
      },
      async applyPool(name, change) {
        const pool = structuredClone(pool0);
        pool.metadata = { name, namespace: POOL_NS };
        pool.spec.redis.url = `redis://${node.hostAddress}:${r.port}/0`;
        pool.spec.scaling['minReplicas'] = 1;
        pool.spec.scaling['maxReplicas'] = 2; // what this 2-core machine runs beside the control plane and the kubelet
        pool.spec.scaling['scaleDownDelaySeconds'] = 5;
        pool.spec.worker['jobsPerChild'] = 100;
        pool.spec.retry = { attempts: 5, backoffSeconds: 1 };
        const template = pool.spec['template'] as { spec: { containers: Record<string, unknown>[]; volumes?: unknown[] } };
        const container = template.spec.containers[0];
        assert.ok(container !== undefined);
        assert.equal(container['image'], reference('worker-example'));
        container['imagePullPolicy'] = 'Never';
        container['env'] = [{ name: 'HEARTBEAT_INTERVAL_SECONDS', value: '1' }, { name: 'HEARTBEAT_TIMEOUT_SECONDS', value: '3' }];
        // The test's jobs beside the example's; nothing else: the securityContext is the operator's.
        container['volumeMounts'] = [{ name: 'e2e-jobs', mountPath: '/app/jobs/E2e', readOnly: true }];
        template.spec.volumes = [{ name: 'e2e-jobs', configMap: { name: 'e2e-jobs' } }];
        change?.(pool);
        const file = join(cluster.dir, `jobpool-${name}.yaml`);
        writeFileSync(file, stringify(pool));
        const applied = await cluster.kubectl(['apply', '-f', file]);
        if (applied.code !== 0) throw new Error(`kubectl apply ${file}: ${applied.stderr}`);
        return pool;
      },
      async poolPods(name) {
        const pods = await core.listNamespacedPod({ namespace: POOL_NS, labelSelector: `forkpool.io/pool=${name}` });
        return pods.items.filter((p) => p.metadata?.deletionTimestamp == null);
      },
      async readyPod(name, timeoutMs = 180_000) {
        return until(`a Ready pod of ${name} on the real node`, async () => {
          const pods = await env.poolPods(name);
          return pods.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
        }, timeoutMs, 500);
      },
      stop,
    };
    return env;
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Enqueues E2e::Record jobs for `ids` (recording under `name`), alternating over `queues`, 200 at a time. */
export async function enqueueBurst(env: RealEnv, name: string, ids: readonly string[], queues: readonly string[], sleepMs: number): Promise<void> {
  const url = env.recorder.url(name);
  for (let i = 0; i < ids.length; i += 200) {
    await Promise.all(ids.slice(i, i + 200).map((id, j) => env.client.enqueue(queues[(i + j) % queues.length] ?? 'mailers', RECORD_JOB, url, id, sleepMs)));
  }
}

/** How a burst went, from the recorder's lines. */
export type Tally = ReturnType<typeof tally>;

/**
 * Waits until every job of the burst is recorded as done and nothing waits, is delayed or in flight; returns the
 * tally and how long it took.
 */
export async function drain(env: RealEnv, name: string, ids: readonly string[], timeoutMs = 600_000): Promise<Tally & { seconds: number }> {
  const t0 = Date.now();
  await until(`${name}: every job recorded as done, nothing waiting, delayed or in flight`, async () => {
    const stats = await env.client.stats();
    if (stats.pending > 0 || stats.inFlight > 0 || stats.delayed > 0) return false;
    return tally(ids, env.recorder.records(name)).lost === 0;
  }, timeoutMs, 500).catch((err: unknown) => {
    const t = tally(ids, env.recorder.records(name));
    throw new Error(`${err instanceof Error ? err.message : String(err)}; completed ${t.completed}, lost ${t.lost}`);
  });
  return { ...tally(ids, env.recorder.records(name)), seconds: (Date.now() - t0) / 1000 };
}

/** The line every chaos scenario prints. */
export function report(scenario: string, enqueued: number, t: Tally & { seconds: number }, details: string): void {
  console.log(
    `chaos (${scenario}): enqueued ${enqueued}, completed ${t.completed}, duplicated ${t.duplicated}, lost ${t.lost}; ` +
      `${t.startedNotEnded.length} jobs interrupted and run again; ${details}; drained in ${t.seconds.toFixed(1)} s`,
  );
}

/** restartCount of each pool pod's worker container, by pod name. */
export async function restartCounts(env: RealEnv, pool: string): Promise<Map<string, number>> {
  return new Map((await env.poolPods(pool)).map((p) => [p.metadata?.name ?? '', p.status?.containerStatuses?.find((c) => c.name === 'worker')?.restartCount ?? 0]));
}

/** PID 1 is tini, running the command, and the container's processes run as 1000. */
export async function assertTiniAndUser(env: RealEnv, namespace: string, pod: string): Promise<void> {
  const init = (await env.exec(namespace, pod, ['cat', '/proc/1/cmdline'])).split('\0').filter(Boolean);
  assert.equal(init[0], '/usr/bin/tini', `PID 1 of ${pod}: ${init.join(' ')}`);
  assert.equal(init[1], '--');
  assert.equal((await env.exec(namespace, pod, ['id', '-u'])).trim(), '1000');
  assert.equal((await env.exec(namespace, pod, ['id', '-g'])).trim(), '1000');
}

export { sleep, until };
