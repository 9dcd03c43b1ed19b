// The chart on a real control plane: its renders pass the API server's dry run; `helm install` creates
// the CRD, RBAC and operator (its pods Running on fake nodes, which run no containers); the operator
// itself, run here with the chart's ServiceAccount token and the chart's settings, brings up
// examples/jobpool.yaml and every feature works under that least privilege; `helm upgrade` applies a
// changed value and a changed CRD; `helm uninstall` leaves only what crds.keep asks to keep.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import { keys } from '../../queue/src/keys.ts';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { chartCopy, chartDir, everyOption, helm, root, run, templateText, until } from './chart.ts';
import { startTogether } from '../helpers/start-together.ts';

const release = 'forkpool';
const ns = 'forkpool-system';
const apps = 'apps';
const k = keys('resque');
const instance = `app.kubernetes.io/instance=${release}`;

describe('the chart on a real cluster', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let redis: RedisServer;
  let redisClient: Redis;
  let operator: ChildProcess | undefined;

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const result = await run(cluster.bin.kubectl, args, { env: { KUBECONFIG: cluster.kubeconfigPath }, input });
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const getJson = async <T = Record<string, unknown>>(args: string[]): Promise<T> => JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T;
  const exists = async (args: string[]): Promise<boolean> =>
    (await run(cluster.bin.kubectl, ['get', ...args, '-o', 'name'], { env: { KUBECONFIG: cluster.kubeconfigPath } })).code === 0;
  const helmHere = async (args: string[]): Promise<string> => {
    const result = await helm(args, { KUBECONFIG: cluster.kubeconfigPath });
    if (result.code !== 0) throw new Error(`helm ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  /** Objects of the release still in the cluster, CRDs included. */
  const leftovers = async (): Promise<string[]> => {
    const namespaced = await kubectl(['get', 'deployments,replicasets,pods,services,serviceaccounts,secrets,configmaps,roles,rolebindings,poddisruptionbudgets', '-A', '-l', instance, '-o', 'name']);
    const clusterWide = await kubectl(['get', 'clusterroles,clusterrolebindings,customresourcedefinitions', '-l', instance, '-o', 'name']);
    return `${namespaced}${clusterWide}`.split('\n').filter((l) => l !== '');
  };

  const stopOperator = async (): Promise<void> => {
    if (operator === undefined || operator.exitCode !== null) return;
    const exited = new Promise((resolve) => operator?.once('exit', resolve));
    operator.kill('SIGTERM');
    await exited;
  };

  /**
   * forkpool-operator as a local process with the chart's ServiceAccount token and the chart's
   * container environment (the downward API filled in as the kubelet would); returns its log reader.
   */
  const startChartOperator = async (podName: string): Promise<() => string> => {
    await stopOperator(); // one at a time, even after a failed test
    type Env = { name: string; value?: string };
    const deployment = await getJson<{ spec: { template: { spec: { containers: { env: Env[] }[] } } } }>(['deployment', 'forkpool', '-n', ns]);
    const chartEnv = Object.fromEntries((deployment.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    Object.assign(chartEnv, { POD_NAME: podName, POD_NAMESPACE: ns, PORT: '0' });
    assert.equal(chartEnv['LEADER_ELECTION'], 'true');
    const identity = await cluster.serviceAccountAccess(ns, 'forkpool');
    const logFile = join(cluster.dir, `${podName}.log`);
    const env: NodeJS.ProcessEnv = { ...process.env, ...chartEnv, KUBECONFIG: identity.kubeconfigPath };
    delete env['NODE_OPTIONS'];
    operator = spawn(process.execPath, [join(root, 'operator/src/bin.ts')], { env, stdio: ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')] });
    await until(`the Lease held by ${podName}`, async () => {
      const lease = await getJson<{ spec: { holderIdentity?: string } }>(['lease', chartEnv['LEADER_ELECTION_ID'] ?? '', '-n', ns]);
      return lease.spec.holderIdentity?.startsWith(`${podName}_`) === true;
    }, 60_000);
    return () => readFileSync(logFile, 'utf8');
  };
  before(async () => {
    [cluster, redis] = await startTogether(startCluster({ log: () => undefined }), startRedis());
    redisClient = redis.connect();
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['create', 'namespace', apps]);
  });
  after(async () => {
    await stopOperator();
    await Promise.all([cluster?.stop(), redis?.stop()]);
  });

  it('renders manifests the API server accepts, with the defaults and with every option', async () => {
    // The custom resources of a render need their kinds: the JobPool CRD (removed again below, for
    // `helm install` to own it) and a stand-in ServiceMonitor CRD.
    const fixtures = ['servicemonitor', 'podmonitor', 'prometheusrule'];
    await kubectl(['apply', '--server-side', '-f', join(root, 'crds/jobpool.yaml'), ...fixtures.flatMap((f) => ['-f', join(import.meta.dirname, `fixtures/${f}-crd.yaml`)])]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/jobpools.forkpool.io', ...fixtures.map((f) => `crd/${f}s.monitoring.coreos.com`)]);
    const cases: [string, Record<string, unknown>][] = [
      ['defaults', {}],
      ['every option', everyOption],
      ['one namespace, with the example pool and Redis Secret', { watchNamespace: apps, examplePool: { enabled: true }, redisSecret: { create: true, url: 'redis://redis:6379/0' } }],
      ['no leader election', { leaderElection: { enabled: false } }],
      ['an existing ServiceAccount, no RBAC, no CRD, no metrics Service', { serviceAccount: { create: false, name: 'default' }, rbac: { create: false }, crds: { install: false }, metrics: { service: { enabled: false } } }],
    ];
    for (const [name, values] of cases) {
      const manifests = await templateText(values, { namespace: ns });
      const result = await run(cluster.bin.kubectl, ['apply', '--dry-run=server', '-f', '-'], { env: { KUBECONFIG: cluster.kubeconfigPath }, input: manifests });
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.match(result.stdout, /deployment\.apps\/\S+ (created|configured) \(server dry run\)/, name);
    }
    await kubectl(['delete', 'crd', 'jobpools.forkpool.io', '--wait']);
  });

  it('helm install: the CRD, RBAC, ServiceAccount and operator Deployment, its pods Running, and the example pool', async () => {
    const out = await helmHere(['install', release, chartDir, '--namespace', ns, '--wait', '--timeout', '120s',
      '--set', `examplePool.enabled=true,examplePool.redisUrl=${redis.url},examplePool.queues={example}`]);
    assert.match(out, /kubectl get jobpools --all-namespaces/, 'NOTES says what to do next');
    assert.match(out, /kubectl apply -f examples\/jobpool.yaml/);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/jobpools.forkpool.io']);
    const crd = await getJson<{ metadata: { annotations: Record<string, string> } }>(['crd', 'jobpools.forkpool.io']);
    assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep');
    for (const object of ['clusterrole/forkpool', 'clusterrolebinding/forkpool']) assert.ok(await exists([object]), object);
    for (const object of ['serviceaccount/forkpool', 'role/forkpool-leader-election', 'rolebinding/forkpool-leader-election', 'service/forkpool-metrics', 'deployment/forkpool']) {
      assert.ok(await exists(['-n', ns, object]), object);
    }
    const pods = await getJson<{ items: { status: { phase: string } }[] }>(['pods', '-n', ns, '-l', instance]);
    assert.deepEqual(pods.items.map((p) => p.status.phase), ['Running']);
    assert.ok(await exists(['-n', ns, 'jobpool/example']), 'the example pool, a hook on the first install');
  });

  it('a user with the built-in edit role in a namespace may create JobPools there, one with view may only read them', async () => {
    const team = 'team';
    await kubectl(['create', 'namespace', team]);
    await kubectl(['create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice', '-n', team]);
    await kubectl(['create', 'rolebinding', 'bob-view', '--clusterrole=view', '--user=bob', '-n', team]);
    const canI = async (user: string, verb: string, resource: string, namespace = team): Promise<string> => {
      const [plural, subresource] = resource.split('/');
      const args = ['auth', 'can-i', verb, `${plural}.forkpool.io`, '-n', namespace, '--as', user, ...(subresource === undefined ? [] : [`--subresource=${subresource}`])];
      return `${user} ${verb} ${resource} in ${namespace}: ${(await run(cluster.bin.kubectl, args, { env: { KUBECONFIG: cluster.kubeconfigPath } })).stdout.trim()}`;
    };
    // The aggregation controller adds the chart's rules to the built-in roles shortly after the install.
    await until('edit aggregated', async () => (await canI('alice', 'create', 'jobpools')).endsWith(': yes'), 30_000);
    await until('view aggregated', async () => (await canI('bob', 'list', 'jobpools')).endsWith(': yes'), 30_000);
    const answers: [string, string, string, string, string?][] = [
      ['yes', 'alice', 'create', 'jobpools'],
      ['yes', 'alice', 'update', 'jobpools'],
      ['yes', 'alice', 'patch', 'jobpools'],
      ['yes', 'alice', 'delete', 'jobpools'],
      ['yes', 'alice', 'update', 'jobpools/scale'],
      ['yes', 'alice', 'get', 'jobpools/status'],
      ['no', 'alice', 'patch', 'jobpools/status'],
      ['no', 'alice', 'create', 'jobpools', apps],
      ['yes', 'bob', 'get', 'jobpools'],
      ['yes', 'bob', 'watch', 'jobpools'],
      ['yes', 'bob', 'get', 'jobpools/status'],
      ['yes', 'bob', 'get', 'jobpools/scale'],
      ['no', 'bob', 'create', 'jobpools'],
      ['no', 'bob', 'patch', 'jobpools'],
      ['no', 'bob', 'delete', 'jobpools'],
      ['no', 'bob', 'update', 'jobpools/scale'],
    ];
    for (const [answer, user, verb, resource, namespace] of answers) {
      assert.equal(await canI(user, verb, resource, namespace), `${user} ${verb} ${resource} in ${namespace ?? team}: ${answer}`);
    }
    // The same through impersonated requests: alice creates a pool, bob reads it and is refused a second.
    const pool = (name: string): string =>
      JSON.stringify({ apiVersion: 'forkpool.io/v1alpha1', kind: 'JobPool', metadata: { name, namespace: team }, spec: { redis: { url: redis.url }, queues: [team], template: { spec: { containers: [{ name: 'worker', image: 'example.com/jobs:1' }] } } } });
    await kubectl(['create', '--as', 'alice', '-f', '-'], pool('by-alice'));
    assert.match(await kubectl(['get', 'jobpools', '-n', team, '--as', 'bob', '-o', 'name']), /^jobpool\.forkpool\.io\/by-alice$/m);
    const refused = await run(cluster.bin.kubectl, ['create', '--as', 'bob', '-f', '-'], { env: { KUBECONFIG: cluster.kubeconfigPath }, input: pool('by-bob') });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /User "bob" cannot create resource "jobpools" in API group "forkpool.io" in the namespace "team"/);
    await kubectl(['delete', 'jobpool', 'by-alice', '-n', team, '--as', 'alice', '--wait']);
  });

  it('the operator, with the chart\'s ServiceAccount and settings, runs examples/jobpool.yaml: every feature works', async () => {
    const operatorLog = await startChartOperator('forkpool-local');
    // The example as it is, pointed at the test Redis through a Secret (so Secrets are read too) and with short timings.
    await kubectl(['create', 'secret', 'generic', 'redis', '-n', apps, `--from-literal=url=${redis.url}`]);
    const example = parse(readFileSync(join(root, 'examples/jobpool.yaml'), 'utf8')) as { metadata: Record<string, string>; spec: Record<string, Record<string, unknown>> };
    example.metadata['namespace'] = apps;
    example.spec['redis'] = { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } }, namespace: 'resque' };
    Object.assign(example.spec['scaling'] ?? {}, { pollIntervalSeconds: 1, scaleDownDelaySeconds: 2 });
    const exampleFile = join(cluster.dir, 'jobpool.yaml');
    writeFileSync(exampleFile, stringify(example));
    await kubectl(['apply', '-f', exampleFile]);

    const replicas = async (): Promise<number | undefined> => (await getJson<{ spec: { replicas?: number } }>(['deployment', 'mailers', '-n', apps])).spec.replicas;
    await until('the pool\'s Deployment', () => exists(['-n', apps, 'deployment/mailers']));
    assert.equal(await replicas(), 0);

    // A backlog of 25 jobs at 10 per replica: 3 workers at once, an Event, the status.
    await redisClient.rpush(k.queue('mailers'), ...Array.from({ length: 25 }, (_, i) => JSON.stringify({ class: 'SendWelcomeEmail', args: [i] })));
    await until('3 replicas', async () => (await replicas()) === 3, 30_000);
    type PodList = { items: { metadata: { name: string; annotations?: Record<string, string>; deletionTimestamp?: string }; status: { phase: string } }[] };
    const livePods = async (): Promise<PodList['items']> =>
      (await getJson<PodList>(['pods', '-n', apps, '-l', 'forkpool.io/pool=mailers'])).items.filter((p) => p.metadata.deletionTimestamp === undefined);
    const pods = await until('3 worker pods Running', async () => {
      const live = await livePods();
      return live.length === 3 && live.every((p) => p.status.phase === 'Running') ? live : undefined;
    }, 60_000);
    const events = async (): Promise<string[]> =>
      (await getJson<{ items: { reason: string; message: string }[] }>(['events', '-n', apps, '--field-selector', 'involvedObject.kind=JobPool,involvedObject.name=mailers'])).items.map((e) => `${e.reason}: ${e.message}`);
    await until('the ScaledUp Event', async () => (await events()).includes('ScaledUp: Scaled up from 0 to 3: 25 jobs waiting, 0 in flight'));
    type Pool = { status?: { desiredReplicas?: number; queueDepth?: number; conditions?: { type: string; status: string }[] } };
    const status = await until('the status', async () => {
      const pool = await getJson<Pool>(['jobpool', 'mailers', '-n', apps]);
      return pool.status?.desiredReplicas === 3 && pool.status.queueDepth === 25 ? pool.status : undefined;
    });
    assert.equal(status.conditions?.find((c) => c.type === 'RedisReachable')?.status, 'True');

    // One worker holds a job, the others idle: before scaling down, the busy pod is marked expensive to delete.
    const busy = pods[1]?.metadata.name ?? '';
    await redisClient.sadd(k.workers, ...pods.map((p) => `${p.metadata.name}:1:critical,mailers`));
    await redisClient.hset(k.inflight(`${busy}:1:critical,mailers`), 'slot0', '{}');
    await redisClient.hset(k.running, 'mailers', '1');
    await redisClient.del(k.queue('mailers'));
    await until('1 replica', async () => (await replicas()) === 1, 30_000);
    const marked = await getJson<PodList['items'][number]>(['pod', busy, '-n', apps]);
    assert.equal(marked.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'], '100');
    const survivors = await until('the idle pods gone', async () => {
      const live = await livePods();
      return live.length === 1 ? live : undefined;
    }, 60_000);
    assert.equal(survivors[0]?.metadata.name, busy, 'the busy pod stays');
    await until('the ScaledDown Event', async () => (await events()).includes('ScaledDown: Scaled down from 3 to 1: 0 jobs waiting, 1 in flight'));

    await until('the example pool\'s Deployment', () => exists(['-n', ns, 'deployment/example']));
    assert.doesNotMatch(operatorLog(), /forbidden/i, 'the operator was refused an API call');
    await stopOperator();
  });

  it('helm upgrade applies a changed value and brings the CRD up to date', async () => {
    type Owned = { metadata: { uid: string; annotations?: Record<string, string>; ownerReferences?: { uid: string }[] } };
    const poolBefore = await getJson<Owned>(['jobpool', 'example', '-n', ns]);
    // A copy of the chart whose CRD describes JobPools differently, as a newer release's would.
    const newer = chartCopy();
    const crdFile = join(newer, 'files/jobpool-crd.yaml');
    const crdText = readFileSync(crdFile, 'utf8');
    const original = 'description: "A pool of Resque-compatible workers:';
    assert.ok(crdText.includes(original));
    assert.ok(!lstatSync(crdFile).isSymbolicLink());
    writeFileSync(crdFile, crdText.replace(original, 'description: "(newer) A pool of Resque-compatible workers:'));
    await helmHere(['upgrade', release, newer, '--namespace', ns, '--reuse-values', '--set', 'logLevel=debug,replicas=2', '--wait', '--timeout', '120s']);
    const deployment = await getJson<{ spec: { replicas: number; template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } }>(['deployment', 'forkpool', '-n', ns]);
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(deployment.spec.template.spec.containers[0]?.env.find((e) => e.name === 'LOG_LEVEL')?.value, 'debug');
    assert.ok(await exists(['-n', ns, 'poddisruptionbudget/forkpool']), 'a PodDisruptionBudget with 2 replicas');
    type Crd = { spec: { versions: { schema: { openAPIV3Schema: { description: string } } }[] } };
    const description = async (): Promise<string> => (await getJson<Crd>(['crd', 'jobpools.forkpool.io'])).spec.versions[0]?.schema.openAPIV3Schema.description ?? '';
    assert.match(await description(), /^\(newer\) A pool/);
    // The example pool is the same object, now a release resource, and its workers' Deployment still its own.
    const poolAfter = await getJson<Owned>(['jobpool', 'example', '-n', ns]);
    assert.equal(poolAfter.metadata.uid, poolBefore.metadata.uid, 'helm upgrade re-created the example pool');
    assert.match(await helmHere(['get', 'manifest', release, '--namespace', ns]), /kind: JobPool/);
    const workers = await getJson<Owned>(['deployment', 'example', '-n', ns]);
    assert.equal(workers.metadata.ownerReferences?.[0]?.uid, poolAfter.metadata.uid, 'the garbage collector would take the workers down');
    await until('2 operator pods Running', async () => {
      const pods = await getJson<{ items: { status: { phase: string } }[] }>(['pods', '-n', ns, '-l', instance]);
      return pods.items.length === 2 && pods.items.every((p) => p.status.phase === 'Running');
    }, 60_000);
    // Back to this chart: the CRD follows, the values stay, and the example pool takes a changed value in place.
    await helmHere(['upgrade', release, chartDir, '--namespace', ns, '--reuse-values', '--set', 'examplePool.maxReplicas=7', '--wait', '--timeout', '120s']);
    assert.match(await description(), /^A pool/);
    const poolChanged = await getJson<Owned & { spec: { scaling: { maxReplicas: number } } }>(['jobpool', 'example', '-n', ns]);
    assert.equal(poolChanged.spec.scaling.maxReplicas, 7);
    assert.equal(poolChanged.metadata.uid, poolBefore.metadata.uid);
  });

  it('with watchNamespace the operator works from Roles in that namespace alone', async () => {
    await helmHere(['upgrade', release, chartDir, '--namespace', ns, '--reuse-values', '--set', `watchNamespace=${apps}`, '--wait', '--timeout', '120s']);
    assert.equal(await exists(['clusterrole/forkpool']), false, 'nothing cluster-wide');
    const sa = `system:serviceaccount:${ns}:forkpool`;
    const canI = async (args: string[]): Promise<string> =>
      (await run(cluster.bin.kubectl, ['auth', 'can-i', ...args, '--as', sa], { env: { KUBECONFIG: cluster.kubeconfigPath } })).stdout.trim();
    assert.equal(await canI(['list', 'jobpools.forkpool.io', '-n', apps]), 'yes');
    assert.equal(await canI(['list', 'jobpools.forkpool.io', '-n', 'default']), 'no');
    assert.equal(await canI(['patch', 'pods', '-n', 'default']), 'no');

    const operatorLog = await startChartOperator('forkpool-namespaced');
    // One job in flight (left from before) and 25 more waiting: 3 workers.
    await redisClient.rpush(k.queue('mailers'), ...Array.from({ length: 25 }, (_, i) => JSON.stringify({ class: 'SendWelcomeEmail', args: [i] })));
    await until('3 replicas', async () => (await getJson<{ spec: { replicas?: number } }>(['deployment', 'mailers', '-n', apps])).spec.replicas === 3, 30_000);
    await until('the status', async () => (await getJson<{ status?: { desiredReplicas?: number } }>(['jobpool', 'mailers', '-n', apps])).status?.desiredReplicas === 3);
    const events = await getJson<{ items: { reason: string; message: string }[] }>(['events', '-n', apps, '--field-selector', 'involvedObject.kind=JobPool,involvedObject.name=mailers']);
    assert.ok(events.items.some((e) => e.message === 'Scaled up from 1 to 3: 25 jobs waiting, 1 in flight'), JSON.stringify(events.items.map((e) => e.message)));
    assert.doesNotMatch(operatorLog(), /forbidden/i, 'the operator was refused an API call');
    await stopOperator();
  });

  it('helm uninstall leaves only the CRD (and the JobPools) with crds.keep, and nothing without it', async () => {
    await helmHere(['uninstall', release, '--namespace', ns, '--wait']);
    const kept = await until('only the CRD left', async () => {
      const left = await leftovers();
      return left.length === 1 ? left : undefined;
    }, 60_000);
    assert.deepEqual(kept, ['customresourcedefinition.apiextensions.k8s.io/jobpools.forkpool.io']);
    assert.ok(await exists(['-n', apps, 'jobpool/mailers']), 'the user\'s JobPool survives');

    // Installed again with crds.keep=false, the release takes the kept CRD over; uninstalled, it takes it
    // along. (Helm decides by the release's manifest: adopting leaves the live annotation as it was.)
    await helmHere(['install', release, chartDir, '--namespace', ns, '--set', 'crds.keep=false', '--wait', '--timeout', '120s']);
    assert.doesNotMatch(await helmHere(['get', 'manifest', release, '--namespace', ns]), /resource-policy/);
    // A deleted JobPool takes its worker Deployment along (owner reference, garbage collection). Deleted
    // first: when the CRD goes with the JobPools still in it, Kubernetes' garbage collector can lose the
    // race with the CRD leaving discovery and keep the Deployment for minutes (seen twice in CI).
    await kubectl(['delete', '-n', apps, 'jobpool/mailers', '--wait=true']);
    await until('the worker Deployment collected', async () => !(await exists(['-n', apps, 'deployment/mailers'])), 60_000);
    await helmHere(['uninstall', release, '--namespace', ns, '--wait']);
    await until('nothing left', async () => (await leftovers()).length === 0, 60_000);
    assert.equal(await exists(['crd', 'jobpools.forkpool.io']), false);
  });
});
