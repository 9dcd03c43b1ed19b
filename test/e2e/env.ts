// What the end-to-end tests share: the test control plane, a real Redis, the operator installed by
// `helm install` of the chart (its pod only pretends to run on a fake node, so the operator runs here
// as a local process with the chart's ServiceAccount token and the chart's container environment, as
// test/helm does) or, simpler, the CRD applied by hand and the operator run with the admin kubeconfig;
// the pod runner; and the example JobPool adjusted to the test Redis.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { helm } from '../helm/chart.ts';
import { startPodRunner, type PodRunner } from './pod-runner.ts';
import { sleep, until } from '../helpers/wait.ts';
import { startTogether } from '../helpers/start-together.ts';

export const root = new URL('../../', import.meta.url).pathname;
export const E2E_JOBS_DIR = join(import.meta.dirname, 'jobs');

export { sleep, until };

export interface E2eEnv {
  cluster: Cluster;
  redis: RedisServer;
  apps: AppsV1Api;
  core: CoreV1Api;
  runner: PodRunner;
  /** The operator (the leader, with the chart). */
  operator: ChildProcess;
  /** Every operator process by its POD_NAME: `e2e-operator`, and `e2e-operator-b` with `standbyOperator`. */
  operators: Map<string, ChildProcess>;
  /** The Lease's holderIdentity (`<POD_NAME>_<pid>_<random>`), or '' (chart mode only). */
  leaseHolder(): Promise<string>;
  /** Where logs go (operator, every pod process); kept with KEEP_CLUSTER_DIR=1. */
  logDir: string;
  operatorLog(): string;
  stop(): Promise<void>;
}

export interface E2eOptions {
  /** `chart` (default): helm install, the operator as the chart's ServiceAccount; `admin`: CRD by kubectl, admin operator. */
  operator?: 'chart' | 'admin';
  /** With the chart: a second operator process that waits for the Lease (leader-election tests). */
  standbyOperator?: boolean;
  /** Redis with AOF (fsync always), so that a killed and restarted Redis keeps its data. */
  redisAppendonly?: boolean;
  /** Added to every worker process's environment. */
  workerEnv?: Record<string, string>;
  log?: (m: string) => void;
}

const RELEASE = 'forkpool';
const OPERATOR_NS = 'forkpool-system';

export async function startE2e(options: E2eOptions = {}): Promise<E2eEnv> {
  const keepDir = process.env['KEEP_CLUSTER_DIR'] === '1';
  const [cluster, redis] = await startTogether(startCluster({ log: () => undefined, keepDir }), startRedis({ appendonly: options.redisAppendonly === true }));
  const operators = new Map<string, ChildProcess>();
  let runner: PodRunner | undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    stopping = true;
    await Promise.all([...operators.values()].map(async (op) => {
      if (op.exitCode !== null || op.signalCode !== null) return;
      const exited = new Promise((r) => op.once('exit', r));
      op.kill('SIGTERM');
      const timer = setTimeout(() => op.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }));
    await runner?.stop();
    await Promise.all([cluster.stop(), redis.stop()]);
  };
  try {
    const viaChart = (options.operator ?? 'chart') === 'chart';
    let env: NodeJS.ProcessEnv;
    if (viaChart) {
      const installed = await helm(
        ['install', RELEASE, join(root, 'helm/forkpool'), '--namespace', OPERATOR_NS, '--create-namespace', '--set', 'logLevel=debug', '--wait', '--timeout', '120s'],
        { KUBECONFIG: cluster.kubeconfigPath },
      );
      if (installed.code !== 0) throw new Error(`helm install failed: ${installed.stderr}`);
      // The chart's container environment, with the downward API filled in as the kubelet would.
      const got = await cluster.kubectl(['get', 'deployment', RELEASE, '-n', OPERATOR_NS, '-o', 'json']);
      if (got.code !== 0) throw new Error(`the chart's operator Deployment: ${got.stderr}`);
      type EnvVar = { name: string; value?: string };
      const deployment = JSON.parse(got.stdout) as { spec: { template: { spec: { serviceAccountName?: string; containers: { env?: EnvVar[] }[] } } } };
      const chartEnv = Object.fromEntries((deployment.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']));
      const identity = await cluster.serviceAccountAccess(OPERATOR_NS, deployment.spec.template.spec.serviceAccountName ?? RELEASE);
      env = { ...process.env, ...chartEnv, POD_NAME: 'e2e-operator', POD_NAMESPACE: OPERATOR_NS, PORT: '0', KUBECONFIG: identity.kubeconfigPath };
    } else {
      const applied = await cluster.kubectl(['apply', '--server-side', '-f', join(root, 'crds/jobpool.yaml')]);
      if (applied.code !== 0) throw new Error(`CRD apply failed: ${applied.stderr}`);
      env = { ...process.env, KUBECONFIG: cluster.kubeconfigPath, LEADER_ELECTION: 'false', PORT: '0', LOG_LEVEL: 'debug', POD_NAME: 'e2e-operator' };
    }
    const established = await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/jobpools.forkpool.io']);
    if (established.code !== 0) throw new Error(`CRD not established: ${established.stderr}`);
    const logDir = join(cluster.dir, 'e2e-logs');
    mkdirSync(logDir, { recursive: true });
    const operatorLogFile = join(logDir, 'operator.log');
    delete env['NODE_OPTIONS'];
    delete env['NODE_TEST_CONTEXT'];
    const spawnOperator = (podName: string): ChildProcess => {
      const file = podName === 'e2e-operator' ? operatorLogFile : join(logDir, `${podName}.log`);
      const out = openSync(file, 'a');
      const op = spawn(process.execPath, [join(root, 'operator/src/bin.ts')], { env: { ...env, POD_NAME: podName }, stdio: ['ignore', out, out] });
      process.once('exit', () => op.kill('SIGKILL'));
      operators.set(podName, op);
      // As the kubelet restarts the operator's container: an operator that exits by itself (a leader that
      // lost its Lease stops acting and exits) starts again as a candidate. One the test kills stays dead.
      op.once('exit', (code) => {
        if (!stopping && code !== null && operators.get(podName) === op) setTimeout(() => { if (!stopping) spawnOperator(podName); }, 1000);
      });
      return op;
    };
    const leaseName = env['LEADER_ELECTION_ID'] ?? RELEASE;
    const leaseHolder = async (): Promise<string> => {
      const lease = await cluster.kubectl(['get', 'lease', leaseName, '-n', OPERATOR_NS, '-o', 'jsonpath={.spec.holderIdentity}']);
      return lease.code === 0 ? lease.stdout : '';
    };
    const op = spawnOperator('e2e-operator');
    if (viaChart && env['LEADER_ELECTION'] !== 'false') {
      // Acting only once it leads: wait for the Lease, so that the test's clock starts on a working operator.
      await until('the operator holding its Lease', async () => {
        if (op.exitCode !== null) throw new Error(`the operator exited: ${readFileSync(operatorLogFile, 'utf8').slice(-2000)}`);
        return (await leaseHolder()).startsWith('e2e-operator_');
      }, 60_000);
      if (options.standbyOperator === true) spawnOperator('e2e-operator-b');
    }
    const kc = cluster.kubeConfig();
    runner = await startPodRunner({
      kubeConfig: kc,
      nodeNames: cluster.nodeNames,
      jobsDir: E2E_JOBS_DIR,
      logDir: join(logDir, 'pods'),
      extraEnv: options.workerEnv ?? {},
      log: options.log ?? (() => undefined),
    });
    return {
      cluster,
      redis,
      apps: kc.makeApiClient(AppsV1Api),
      core: kc.makeApiClient(CoreV1Api),
      runner,
      operator: op,
      operators,
      leaseHolder,
      logDir,
      operatorLog: () => (existsSync(operatorLogFile) ? readFileSync(operatorLogFile, 'utf8') : ''),
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * examples/jobpool.yaml with the test's changes, written next to the logs for `kubectl apply -f`.
 * `change` edits the parsed object.
 */
export function examplePoolFile(env: E2eEnv, change: (pool: ExamplePool) => void): { path: string; pool: ExamplePool } {
  const pool = parse(readFileSync(join(root, 'examples/jobpool.yaml'), 'utf8')) as ExamplePool;
  change(pool);
  const path = join(env.logDir, 'jobpool.yaml');
  writeFileSync(path, stringify(pool));
  return { path, pool };
}

export interface ExamplePool {
  metadata: { name: string; namespace?: string };
  spec: {
    redis: { url?: string; namespace: string };
    queues: string[];
    worker: Record<string, number | string>;
    scaling: Record<string, number>;
    retry?: { attempts: number; backoffSeconds: number };
    [field: string]: unknown;
  };
}

export async function replicasOf(env: E2eEnv, name: string, namespace = 'default'): Promise<number | undefined> {
  try {
    return (await env.apps.readNamespacedDeployment({ name, namespace })).spec?.replicas;
  } catch {
    return undefined;
  }
}

export interface RecordLine {
  id: string;
  event: 'start' | 'end';
  pid: number;
}

export function readRecords(file: string): RecordLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as RecordLine];
      } catch {
        return []; // a line cut by a SIGKILL mid-write
      }
    });
}

/** How the jobs went: per id, how many times each job started and ended. */
export function tally(ids: readonly string[], records: readonly RecordLine[]): { completed: number; duplicated: number; lost: number; startedNotEnded: string[] } {
  const starts = new Map<string, number>();
  const ends = new Map<string, number>();
  for (const r of records) {
    const m = r.event === 'start' ? starts : ends;
    m.set(r.id, (m.get(r.id) ?? 0) + 1);
  }
  let completed = 0;
  let duplicated = 0;
  let lost = 0;
  const startedNotEnded: string[] = [];
  for (const id of ids) {
    const e = ends.get(id) ?? 0;
    if (e > 0) completed++;
    else lost++;
    if (e > 1) duplicated++;
    if ((starts.get(id) ?? 0) > e) startedNotEnded.push(id);
  }
  return { completed, duplicated, lost, startedNotEnded };
}

/**
 * Runs a benchmark on the end-to-end environment: builds the control plane (a stamp check once built), starts
 * the environment, runs `body`, and stops it, also on Ctrl-C. Exits 0 when `body` returns true (nothing lost),
 * 1 when it returns false or fails.
 */
export async function runE2eBench(say: (message: string) => void, body: (env: E2eEnv) => Promise<boolean>): Promise<never> {
  let env: E2eEnv | undefined;
  process.once('SIGINT', () => {
    void env?.stop().finally(() => process.exit(130));
  });
  try {
    execFileSync('bash', [join(root, 'test/cluster/build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    say('starting the cluster, redis-server, helm install of the chart, the operator as its ServiceAccount, the pod runner...');
    env = await startE2e();
    const ok = await body(env);
    await env.stop();
    process.exit(ok ? 0 : 1);
  } catch (err) {
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await env?.stop().catch(() => undefined);
    process.exit(1);
  }
}
