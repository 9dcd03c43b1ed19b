// What the operator's integration tests share: the real control plane with the CRD installed, a real
// Redis, the operator in this process or as a child process, and small readers of the cluster state.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CoordinationV1Api, CustomObjectsApi, type KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator.ts';
import type { OperatorConfig } from '../../operator/src/config.ts';
import { DEFAULT_TEMPLATE_POLICY } from '../../operator/src/template-policy.ts';
import type { JobPoolSpecInput, JobPoolStatus } from '../../operator/src/jobpool.ts';
import { sleep, until } from '../helpers/wait.ts';
import { startTogether } from '../helpers/start-together.ts';

const root = new URL('../../', import.meta.url).pathname;

export { sleep, until };

export interface Env {
  cluster: Cluster;
  redis: RedisServer;
  kc: KubeConfig;
  apps: AppsV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  logDir: string;
  stop(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  // KEEP_CLUSTER_DIR=1 keeps the cluster's dir, operator logs included, for reading after a run.
  const keepDir = process.env['KEEP_CLUSTER_DIR'] === '1';
  const [cluster, redis] = await startTogether(startCluster({ log: () => undefined, keepDir }), startRedis());
  const kc = cluster.kubeConfig();
  try {
    const applied = await cluster.kubectl(['apply', '--server-side', '-f', join(root, 'crds/jobpool.yaml')]);
    if (applied.code !== 0) throw new Error(`CRD apply failed: ${applied.stderr}`);
    const established = await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/jobpools.forkpool.io']);
    if (established.code !== 0) throw new Error(`CRD not established: ${established.stderr}`);
  } catch (err) {
    await Promise.all([cluster.stop(), redis.stop()]);
    throw err;
  }
  const logDir = join(cluster.dir, 'operator-logs');
  mkdirSync(logDir, { recursive: true });
  return {
    cluster,
    redis,
    kc,
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    coordination: kc.makeApiClient(CoordinationV1Api),
    logDir,
    async stop() {
      await Promise.all([cluster.stop(), redis.stop()]);
    },
  };
}

export function testConfig(overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  return {
    watchNamespace: '',
    leaderElection: false,
    leaseNamespace: 'default',
    leaseName: 'forkpool-operator',
    port: 0,
    logLevel: 'info',
    identity: `test-${process.pid}`,
    templatePolicy: DEFAULT_TEMPLATE_POLICY,
    ...overrides,
  };
}

/** The operator in this process, logging to a file under the cluster's dir. */
export function runOperator(env: Env, name: string, overrides: Partial<OperatorConfig> = {}): Promise<RunningOperator> {
  const log = pino({ level: 'debug' }, pino.destination({ dest: join(env.logDir, `${name}.log`), sync: true }));
  return startOperator({ config: testConfig(overrides), kubeConfig: env.kc, log, informer: { quietTimeoutMs: 20_000 } });
}

/** forkpool-operator as a child process (the bin), for tests that kill it. */
/** The operator as a child process; `args` are node's arguments (default: the bin from source). */
export function spawnOperator(env: Env, name: string, extraEnv: Record<string, string> = {}, args: string[] = [join(root, 'operator/src/bin.ts')]): ChildProcess {
  const out = openSync(join(env.logDir, `${name}.log`), 'a');
  return spawn(process.execPath, args, {
    env: {
      ...process.env,
      KUBECONFIG: env.cluster.kubeconfigPath,
      LEADER_ELECTION: 'true',
      LEADER_ELECTION_NAMESPACE: 'default',
      PORT: '0',
      LOG_LEVEL: 'debug',
      POD_NAME: name,
      ...extraEnv,
    },
    stdio: ['ignore', out, out],
  });
}

export function operatorLog(env: Env, name: string): string {
  return readFileSync(join(env.logDir, `${name}.log`), 'utf8');
}

export async function createNamespace(env: Env, name: string, labels?: Record<string, string>): Promise<void> {
  await env.core.createNamespace({ body: { metadata: { name, labels } } });
}

/** A namespace whose pods Pod Security Admission holds to the restricted standard, as security-minded clusters set. */
export async function createRestrictedNamespace(env: Env, name: string): Promise<void> {
  await createNamespace(env, name, { 'pod-security.kubernetes.io/enforce': 'restricted' });
}

export function poolSpec(redisUrl: string, overrides: Partial<JobPoolSpecInput> = {}): JobPoolSpecInput {
  return {
    redis: { url: redisUrl },
    queues: ['default'],
    template: { spec: { containers: [{ name: 'worker', image: 'example.com/jobs:1' }] } },
    scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 3 },
    ...overrides,
  };
}

export async function createPool(env: Env, namespace: string, name: string, spec: JobPoolSpecInput): Promise<void> {
  await env.custom.createNamespacedCustomObject({
    group: 'forkpool.io',
    version: 'v1alpha1',
    namespace,
    plural: 'jobpools',
    body: { apiVersion: 'forkpool.io/v1alpha1', kind: 'JobPool', metadata: { name, namespace }, spec },
  });
}

export interface PoolObject {
  metadata: { generation: number; resourceVersion: string };
  spec: Record<string, unknown>;
  status?: JobPoolStatus;
}

export async function getPool(env: Env, namespace: string, name: string): Promise<PoolObject> {
  return (await env.custom.getNamespacedCustomObject({ group: 'forkpool.io', version: 'v1alpha1', namespace, plural: 'jobpools', name })) as PoolObject;
}

export async function getDeployment(env: Env, namespace: string, name: string): Promise<V1Deployment | undefined> {
  try {
    return await env.apps.readNamespacedDeployment({ namespace, name });
  } catch {
    return undefined;
  }
}

export async function replicasOf(env: Env, namespace: string, name: string): Promise<number | undefined> {
  return (await getDeployment(env, namespace, name))?.spec?.replicas;
}

/** Pods of a pool that are not being deleted. */
export async function livePods(env: Env, namespace: string, pool: string): Promise<V1Pod[]> {
  const list = await env.core.listNamespacedPod({ namespace, labelSelector: `forkpool.io/pool=${pool}` });
  return list.items.filter((p) => p.metadata?.deletionTimestamp == null);
}

export async function eventMessages(env: Env, namespace: string, pool: string): Promise<string[]> {
  const list = await env.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pool},involvedObject.kind=JobPool` });
  return list.items.map((e) => `${e.reason ?? ''}: ${e.message ?? ''}`);
}

/** The Warning Events on a pool, as `reason: message`. */
export async function warnings(env: Env, namespace: string, pool: string): Promise<string[]> {
  const list = await env.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pool},involvedObject.kind=JobPool,type=Warning` });
  return list.items.map((e) => `${e.reason ?? ''}: ${e.message ?? ''}`);
}

export function condition(pool: PoolObject, type: string): { status: string; reason: string; message: string } | undefined {
  return pool.status?.conditions?.find((c) => c.type === type);
}
