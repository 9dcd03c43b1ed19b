// Reconcile of one pool with a recording stand-in for the API server (and a real Redis for the
// busy-pod reading): what it writes, in which order, and that a second pass with nothing new writes nothing.
import { after, afterEach, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1Pod, Watch } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { keys } from '../../queue/src/keys.ts';
import { PoolController } from '../../operator/src/controller.ts';
import { Informer, type ListPage } from '../../operator/src/informer.ts';
import type { KubeApi, RawJobPool } from '../../operator/src/kube.ts';
import { createMetrics } from '../../operator/src/metrics.ts';
import { RedisPoller } from '../../operator/src/redis-poller.ts';
import { Scheduler } from '../../operator/src/scheduler.ts';
import type { JobPoolSpecInput, JobPoolStatus } from '../../operator/src/jobpool.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

const log = pino({ level: 'silent' });
let server: RedisServer;
let redis: Redis;
before(async () => {
  server = await startRedis();
  redis = server.connect();
});
after(async () => {
  await server.stop();
});

type Call = [string, ...unknown[]];

/** An error as client-node throws it for a refused call: the HTTP status and the API server's Status body. */
function apiError(code: number, message: string): Error & { code: number; body: string } {
  return Object.assign(new Error(`HTTP ${code}`), { code, body: JSON.stringify({ kind: 'Status', code, message }) });
}

type FakeApi = KubeApi & { calls: Call[]; refuseApply: Error | undefined; refuseSecrets: Error | undefined };

/** Records calls; writes come back with a higher resourceVersion, as from the API server. */
function fakeApi(secrets: Record<string, string> = {}): FakeApi {
  let rv = 100;
  const calls: Call[] = [];
  const api = {
    calls,
    refuseApply: undefined as Error | undefined,
    refuseSecrets: undefined as Error | undefined,
    applyDeployment(d: V1Deployment) {
      calls.push(['apply', d.spec?.replicas, d]);
      if (api.refuseApply !== undefined) return Promise.reject(api.refuseApply);
      return Promise.resolve({ ...d, metadata: { ...d.metadata, resourceVersion: String(++rv), generation: 1 }, status: { observedGeneration: 1 } });
    },
    patchJobPoolStatus(namespace: string, name: string, status: JobPoolStatus) {
      calls.push(['status', status]);
      return Promise.resolve({ ...current, metadata: { ...current.metadata, resourceVersion: String(++rv) }, status });
    },
    patchPodAnnotations(namespace: string, name: string, annotations: Record<string, string>) {
      calls.push(['pod', name, annotations]);
      return Promise.resolve({ metadata: { name, namespace, annotations, labels: { 'forkpool.io/pool': 'pool' }, resourceVersion: String(++rv) } });
    },
    readSecretKey(namespace: string, name: string, key: string) {
      calls.push(['secret', name, key]);
      if (api.refuseSecrets !== undefined) return Promise.reject(api.refuseSecrets);
      return Promise.resolve(secrets[`${name}/${key}`]);
    },
    createEvent(_involved: unknown, type: string, reason: string, message: string) {
      calls.push(['event', type, reason, message]);
      return Promise.resolve();
    },
  };
  return api as unknown as FakeApi;
}

const noWatch = {} as Watch;
const emptyList = <T>(): Promise<ListPage<T>> => Promise.resolve({ items: [], resourceVersion: '1', continue: undefined });

let current: RawJobPool;
function setup(spec: Partial<JobPoolSpecInput> = {}, secrets: Record<string, string> = {}) {
  const api = fakeApi(secrets);
  const pools = new Informer<RawJobPool>({ name: 'jobpools', list: emptyList, watchPath: '/', watch: noWatch });
  const deployments = new Informer<V1Deployment>({ name: 'deployments', list: emptyList, watchPath: '/', watch: noWatch });
  const pods = new Informer<V1Pod>({ name: 'pods', list: emptyList, watchPath: '/', watch: noWatch });
  const poller = new RedisPoller({ log, onSample: () => undefined });
  pollers.push(poller);
  const scheduler = new Scheduler({ log, identity: 'test' });
  const controller = new PoolController({ api, pools, deployments, pods, poller, scheduler, metrics: createMetrics(), log, identity: 'test' });
  current = {
    apiVersion: 'forkpool.io/v1alpha1',
    kind: 'JobPool',
    metadata: { name: 'pool', namespace: 'ns', uid: 'uid-1', generation: 1, resourceVersion: '10' },
    spec: {
      redis: { url: server.url },
      queues: ['q'],
      template: { spec: { containers: [{ name: 'worker', image: 'img:1' }] } },
      scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 0 },
      ...spec,
    },
  };
  pools.remember(current);
  const sample = (waiting: number, inFlight: number): boolean =>
    controller.recordSample('ns/pool', { at: Date.now(), queues: [{ name: 'q', waiting, inFlight }], error: undefined });
  return { api, pools, deployments, pods, poller, controller, sample };
}

const pollers: RedisPoller[] = [];
beforeEach(async () => {
  await redis.flushall();
});
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});

test('a new pool gets its Deployment and a status; nothing new means no writes', async () => {
  const t = setup({ scaling: { minReplicas: 1, maxReplicas: 5 } });
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls.map((c) => c[0]), ['apply', 'event', 'status']);
  assert.equal(t.api.calls[0]?.[1], 1);
  assert.match(String(t.api.calls[1]?.[3]), /^Scaled up from 0 to 1: queues not read yet/);
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls, []);
});

test('a burst scales up at once with an Event naming the numbers', async () => {
  const t = setup();
  await t.controller.reconcile('ns/pool');
  t.sample(57, 3);
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  const kinds = t.api.calls.map((c) => c[0]);
  assert.deepEqual(kinds, ['apply', 'event', 'status']);
  assert.equal(t.api.calls[0]?.[1], 6);
  assert.deepEqual(t.api.calls[1]?.slice(1), ['Normal', 'ScaledUp', 'Scaled up from 0 to 6: 57 jobs waiting, 3 in flight']);
  const status = t.api.calls[2]?.[1] as JobPoolStatus;
  assert.equal(status.desiredReplicas, 6);
  assert.equal(status.queueDepth, 57);
});

test('before a scale-down, busy pods are marked expensive to delete, then replicas drop', async () => {
  const t = setup();
  await t.controller.reconcile('ns/pool');
  t.sample(25, 0);
  await t.controller.reconcile('ns/pool');
  for (const name of ['pool-a', 'pool-b', 'pool-c']) {
    t.pods.remember({ metadata: { name, namespace: 'ns', labels: { 'forkpool.io/pool': 'pool' }, resourceVersion: '1' } });
  }
  const k = keys('resque');
  await redis.sadd(k.workers, 'pool-a:1:q', 'pool-b:1:q', 'pool-c:1:q');
  await redis.hset(k.inflight('pool-b:1:q'), 'slot0', '{}');
  t.sample(0, 1);
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls.slice(0, 2).map((c) => c.slice(0, 3)), [
    ['pod', 'pool-b', { 'controller.kubernetes.io/pod-deletion-cost': '100' }],
    ['apply', 1, t.api.calls[1]?.[2]],
  ]);
  assert.deepEqual(t.api.calls[2]?.slice(1), ['Normal', 'ScaledDown', 'Scaled down from 3 to 1: 0 jobs waiting, 1 in flight']);
});

test('Redis errors hold the size and show in the status', async () => {
  const t = setup();
  await t.controller.reconcile('ns/pool');
  t.sample(30, 0);
  await t.controller.reconcile('ns/pool');
  t.controller.recordSample('ns/pool', { at: Date.now(), queues: undefined, error: 'connect ECONNREFUSED' });
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls.map((c) => c[0]), ['status']);
  const status = t.api.calls[0]?.[1] as JobPoolStatus;
  const redisCondition = status.conditions?.find((c) => c.type === 'RedisReachable');
  assert.deepEqual([redisCondition?.status, redisCondition?.message], ['False', 'connect ECONNREFUSED']);
  assert.equal(status.desiredReplicas, 3);
  assert.equal(status.queueDepth, 30, 'the last known depth stays');
});

test('a Redis URL from a missing Secret is a condition naming it; the URL from the Secret is used once it exists', async () => {
  const t = setup({ redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } } });
  const outcome = await t.controller.reconcile('ns/pool');
  assert.ok(outcome?.requeueAfterMs !== undefined);
  const status = t.api.calls.find((c) => c[0] === 'status')?.[1] as JobPoolStatus;
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  assert.deepEqual([ready?.reason, ready?.message], ['SecretNotFound', 'Secret redis with key url (spec.redis.urlFrom) does not exist']);
  const apply = t.api.calls.find((c) => c[0] === 'apply')?.[2] as V1Deployment;
  const envVar = apply.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'REDIS_URL');
  assert.deepEqual(envVar?.valueFrom, { secretKeyRef: { name: 'redis', key: 'url' } });
});

const readyOf = (status: JobPoolStatus | undefined): [string, string, string] | undefined => {
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  return ready === undefined ? undefined : [ready.status, ready.reason, ready.message];
};
const lastStatus = (calls: Call[]): JobPoolStatus | undefined => calls.findLast((c) => c[0] === 'status')?.[1] as JobPoolStatus | undefined;

test('a missing Secret is one Warning Event, not one per reconcile', async () => {
  const t = setup({ redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } } });
  await t.controller.reconcile('ns/pool');
  const message = 'Secret redis with key url (spec.redis.urlFrom) does not exist';
  assert.deepEqual(t.api.calls.filter((c) => c[0] === 'event'), [['event', 'Warning', 'SecretNotFound', message]]);
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls.filter((c) => c[0] === 'event'), []);
});

test('a Secret the operator may not read is SecretForbidden with the API server\'s message, and a Warning Event', async () => {
  const t = setup({ redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } } });
  const denied = 'secrets "redis" is forbidden: User "system:serviceaccount:op:op" cannot get resource "secrets" in API group "" in the namespace "ns"';
  t.api.refuseSecrets = apiError(403, denied);
  const outcome = await t.controller.reconcile('ns/pool');
  assert.ok(outcome?.requeueAfterMs !== undefined);
  const message = `Secret redis (spec.redis.urlFrom) cannot be read: ${denied}`;
  assert.deepEqual(readyOf(lastStatus(t.api.calls)), ['False', 'SecretForbidden', message]);
  assert.deepEqual(t.api.calls.filter((c) => c[0] === 'event'), [['event', 'Warning', 'SecretForbidden', message]]);
});

test('any other error reading the Secret fails the reconcile, for the work queue to retry', async () => {
  const t = setup({ redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } } });
  t.api.refuseSecrets = apiError(503, 'the server is shutting down');
  await assert.rejects(t.controller.reconcile('ns/pool'), /HTTP 503/);
});

test('a Deployment the API server refuses: a status, one Warning Event, and a failed reconcile that the work queue retries', async () => {
  const t = setup({ scaling: { minReplicas: 1, maxReplicas: 5 } });
  const invalid = 'Deployment.apps "pool" is invalid: spec.template.spec.containers[0].name: Invalid value: "Worker_One": a lowercase RFC 1123 label must consist of lower case alphanumeric characters';
  t.api.refuseApply = apiError(422, invalid);
  await assert.rejects(t.controller.reconcile('ns/pool'), /HTTP 422/);
  assert.deepEqual(t.api.calls.map((c) => c[0]), ['apply', 'event', 'status'], 'no scale Event: nothing was scaled');
  assert.deepEqual(t.api.calls[1], ['event', 'Warning', 'InvalidTemplate', invalid]);
  const status = lastStatus(t.api.calls);
  assert.deepEqual(readyOf(status), ['False', 'InvalidTemplate', invalid]);
  assert.equal(status?.observedGeneration, 1);
  assert.equal(status?.lastScaleTime, undefined);
  // The retry is refused the same way: nothing new to tell.
  t.api.calls.length = 0;
  await assert.rejects(t.controller.reconcile('ns/pool'));
  assert.deepEqual(t.api.calls.map((c) => c[0]), ['apply']);
  // Any other refusal is ApplyFailed.
  t.api.refuseApply = apiError(403, 'deployments.apps "pool" is forbidden: cannot set blockOwnerDeletion');
  t.api.calls.length = 0;
  await assert.rejects(t.controller.reconcile('ns/pool'), /HTTP 403/);
  assert.deepEqual(t.api.calls[1], ['event', 'Warning', 'ApplyFailed', 'deployments.apps "pool" is forbidden: cannot set blockOwnerDeletion']);
  // Accepted at last: the Deployment is applied and scaled, and the condition goes.
  t.api.refuseApply = undefined;
  t.api.calls.length = 0;
  assert.equal(await t.controller.reconcile('ns/pool'), undefined);
  assert.deepEqual(t.api.calls.map((c) => c[0]), ['apply', 'event', 'status']);
  assert.equal(t.api.calls[1]?.[2], 'ScaledUp');
  assert.notEqual(readyOf(lastStatus(t.api.calls))?.[1], 'ApplyFailed');
});

test('pods the ReplicaSet cannot create: PodsRefused, one Warning per distinct refusal, also across a new leader', async () => {
  const t = setup({ scaling: { minReplicas: 1, maxReplicas: 5 } });
  await t.controller.reconcile('ns/pool');
  const refuse = (pod: string, why: string): void => {
    const live = t.deployments.get('ns/pool')!;
    const rv = String(Number(live.metadata?.resourceVersion) + 1);
    const message = `pods "${pod}" is forbidden: violates PodSecurity "restricted:latest": ${why}`;
    const conditions = why === '' ? [] : [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message }];
    t.deployments.remember({ ...live, metadata: { ...live.metadata, resourceVersion: rv }, status: { ...live.status, conditions } });
  };
  const privileged = 'privileged (container "worker" must not set securityContext.privileged=true)';
  refuse('pool-7d9c8-x2k4q', privileged);
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  const message = `pods "pool-7d9c8-x2k4q" is forbidden: violates PodSecurity "restricted:latest": ${privileged}`;
  assert.deepEqual(t.api.calls.filter((c) => c[0] === 'event'), [['event', 'Warning', 'PodsRefused', message]]);
  assert.deepEqual(readyOf(lastStatus(t.api.calls)), ['False', 'PodsRefused', message]);
  // The same refusal of another generated pod is no news.
  refuse('pool-5f6b1-q8z2m', privileged);
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls.filter((c) => c[0] === 'event'), []);
  // A new leader (a controller with no memory) reads the stored condition: no repeat either.
  const c2 = new PoolController({ api: t.api, pools: t.pools, deployments: t.deployments, pods: t.pods, poller: t.poller, scheduler: new Scheduler({ log, identity: 't' }), metrics: createMetrics(), log, identity: 't' });
  await c2.reconcile('ns/pool');
  assert.deepEqual(t.api.calls.filter((c) => c[0] === 'event'), []);
  // Another refusal is; so is the same one once it had gone and comes back.
  refuse('pool-5f6b1-a1b2c', 'hostNetwork=true');
  await t.controller.reconcile('ns/pool');
  refuse('pool-5f6b1-a1b2c', '');
  await t.controller.reconcile('ns/pool');
  refuse('pool-5f6b1-d3e4f', 'hostNetwork=true');
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls.filter((c) => c[0] === 'event').map((c) => c[2]), ['PodsRefused', 'PodsRefused']);
});

test('a JobPool that does not fit the schema is InvalidSpec with one Warning Event', async () => {
  const t = setup({ queues: 'q' as unknown as string[] });
  const outcome = await t.controller.reconcile('ns/pool');
  assert.ok(outcome?.requeueAfterMs !== undefined);
  assert.deepEqual(t.api.calls.map((c) => c.slice(0, 3)), [['status', lastStatus(t.api.calls)], ['event', 'Warning', 'InvalidSpec']]);
  assert.match(String(t.api.calls[1]?.[3]), /spec\.queues/);
  assert.deepEqual(readyOf(lastStatus(t.api.calls))?.slice(0, 2), ['False', 'InvalidSpec']);
  t.api.calls.length = 0;
  await t.controller.reconcile('ns/pool');
  assert.deepEqual(t.api.calls, []);
});

test('a schedule in an unknown time zone is reported, the pool still runs', async () => {
  const t = setup({ schedules: [{ name: 'n', cron: '0 3 * * *', timeZone: 'Mars/Olympus', queue: 'q', class: 'C' }] });
  await t.controller.reconcile('ns/pool');
  const status = t.api.calls.find((c) => c[0] === 'status')?.[1] as JobPoolStatus;
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  assert.equal(ready?.reason, 'InvalidSchedule');
  assert.match(ready?.message ?? '', /schedule n: .*Mars\/Olympus/);
  assert.ok(t.api.calls.some((c) => c[0] === 'apply'));
});

test('a repeated sample needs no reconcile, unless a scale-down is pending', async () => {
  const t = setup({ scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 60 } });
  await t.controller.reconcile('ns/pool');
  assert.equal(t.sample(30, 0), true, 'first sample');
  await t.controller.reconcile('ns/pool');
  assert.equal(t.sample(30, 0), false, 'same depth');
  assert.equal(t.sample(31, 0), true, 'new depth');
  await t.controller.reconcile('ns/pool');
  assert.equal(t.sample(5, 0), true, 'lower demand');
  await t.controller.reconcile('ns/pool');
  assert.equal(t.sample(5, 0), true, 'the scale-down delay runs on the clock');
  assert.equal(t.controller.recordSample('ns/pool', { at: Date.now(), queues: undefined, error: 'down' }), true, 'an error');
});

test('a deleted pool is forgotten', async () => {
  const t = setup();
  await t.controller.reconcile('ns/pool');
  t.api.calls.length = 0;
  const gone = new Informer<RawJobPool>({ name: 'jobpools', list: emptyList, watchPath: '/', watch: noWatch });
  const c2 = new PoolController({
    api: t.api,
    pools: gone,
    deployments: t.deployments,
    pods: t.pods,
    poller: t.poller,
    scheduler: new Scheduler({ log, identity: 't' }),
    metrics: createMetrics(),
    log,
    identity: 't',
  });
  assert.equal(await c2.reconcile('ns/pool'), undefined);
  assert.deepEqual(t.api.calls, []);
});
