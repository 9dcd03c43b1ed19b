// The operator with exactly the RBAC rules kube.ts lists, as a ServiceAccount: every feature that
// calls the API (leader election, Secret URL, Deployment apply, status, Events, pod deletion costs) works.
// Secrets may be read in namespace app only (as the chart grants them with watchNamespace), so that a
// pool elsewhere shows what a Secret the operator may not read does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { keys } from '../../queue/src/keys.ts';
import { RBAC_RULES } from '../../operator/src/kube.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator.ts';
import type { ServiceAccountAccess } from '../cluster/cluster.ts';
import { condition, createNamespace, createPool, eventMessages, getPool, livePods, poolSpec, replicasOf, testConfig, until, warnings, type Env, startEnv } from './harness.ts';

const root = new URL('../../', import.meta.url).pathname;

const k = keys('resque');

describe('least-privilege RBAC', { timeout: 300_000 }, () => {
  let env: Env;
  let operator: RunningOperator | undefined;
  let redis: Redis;
  let access: ServiceAccountAccess;

  before(async () => {
    env = await startEnv();
    redis = env.redis.connect();
    await createNamespace(env, 'forkpool-system');
    await env.core.createNamespacedServiceAccount({ namespace: 'forkpool-system', body: { metadata: { name: 'forkpool-operator' } } });
    await createNamespace(env, 'app');
    const rbac = env.kc.makeApiClient(RbacAuthorizationV1Api);
    const isSecrets = (r: (typeof RBAC_RULES)[number]): boolean => r.resources.includes('secrets');
    const subjects = [{ kind: 'ServiceAccount', name: 'forkpool-operator', namespace: 'forkpool-system' }];
    await rbac.createClusterRole({ body: { metadata: { name: 'forkpool-operator' }, rules: RBAC_RULES.filter((r) => !isSecrets(r)).map((r) => ({ ...r })) } });
    await rbac.createClusterRoleBinding({
      body: { metadata: { name: 'forkpool-operator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'forkpool-operator' }, subjects },
    });
    await rbac.createNamespacedRole({ namespace: 'app', body: { metadata: { name: 'forkpool-operator' }, rules: RBAC_RULES.filter(isSecrets).map((r) => ({ ...r })) } });
    await rbac.createNamespacedRoleBinding({
      namespace: 'app',
      body: { metadata: { name: 'forkpool-operator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'forkpool-operator' }, subjects },
    });
    access = await env.cluster.serviceAccountAccess('forkpool-system', 'forkpool-operator');
    const log = pino({ level: 'debug' }, pino.destination({ dest: join(env.logDir, 'rbac.log'), sync: true }));
    operator = await startOperator({
      config: testConfig({ leaderElection: true, leaseNamespace: 'forkpool-system' }),
      kubeConfig: access.kubeConfig(),
      log,
    });
  });
  after(async () => {
    await operator?.stop();
    await env?.stop();
  });

  it('scales a pool whose Redis URL is in a Secret, with status, Events and deletion costs', async () => {
    await env.core.createNamespacedSecret({ namespace: 'app', body: { metadata: { name: 'redis' }, stringData: { url: env.redis.url } } });
    await createPool(env, 'app', 'pool', poolSpec(env.redis.url, {
      redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } },
      queues: ['rbac'],
      scaling: { minReplicas: 0, maxReplicas: 5, jobsPerReplica: 1, pollIntervalSeconds: 1, scaleDownDelaySeconds: 1 },
    }));
    await redis.rpush(k.queue('rbac'), '{"class":"X","args":[]}', '{"class":"X","args":[]}');
    await until('2 replicas', async () => (await replicasOf(env, 'app', 'pool')) === 2, 60_000);
    const pods = await until('2 pods', async () => {
      const list = await livePods(env, 'app', 'pool');
      return list.length === 2 ? list : undefined;
    }, 60_000);
    const busy = pods[0]?.metadata?.name ?? '';
    await redis.sadd(k.workers, `${busy}:1:rbac`);
    await redis.hset(k.inflight(`${busy}:1:rbac`), 'slot0', '{}');
    await redis.hset(k.running, 'rbac', '1');
    await redis.del(k.queue('rbac'));
    await until('1 replica', async () => (await replicasOf(env, 'app', 'pool')) === 1, 30_000);
    const annotated = (await livePods(env, 'app', 'pool')).find((p) => p.metadata?.name === busy);
    assert.equal(annotated?.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'], '100');
    const pool = await getPool(env, 'app', 'pool');
    assert.equal(condition(pool, 'RedisReachable')?.status, 'True');
    const events = await eventMessages(env, 'app', 'pool');
    assert.ok(events.some((e) => e.startsWith('ScaledUp: Scaled up from 0 to 2')), events.join('\n'));
    const lease = await env.coordination.readNamespacedLease({ namespace: 'forkpool-system', name: 'forkpool-operator' });
    assert.ok(lease.spec?.holderIdentity?.startsWith('test-'));
    const metrics = await (await fetch(`http://127.0.0.1:${operator?.port ?? 0}/metrics`)).text();
    assert.match(metrics, /forkpool_reconcile_errors_total 0/);
  });

  it('says on the JobPool, with a Warning Event, when it may not read the pool\'s Redis URL Secret', async () => {
    await createNamespace(env, 'locked');
    await env.core.createNamespacedSecret({ namespace: 'locked', body: { metadata: { name: 'redis' }, stringData: { url: env.redis.url } } });
    await createPool(env, 'locked', 'pool', poolSpec(env.redis.url, { redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } }, queues: ['locked'] }));
    const forbidden = /secrets "redis" is forbidden: User "system:serviceaccount:forkpool-system:forkpool-operator" cannot get resource "secrets" in API group "" in the namespace "locked"/;
    const pool = await until('Ready False, SecretForbidden', async () => {
      const p = await getPool(env, 'locked', 'pool');
      return condition(p, 'Ready')?.reason === 'SecretForbidden' ? p : undefined;
    }, 30_000);
    assert.equal(condition(pool, 'Ready')?.status, 'False');
    assert.match(condition(pool, 'Ready')?.message ?? '', forbidden);
    const warned = await until('the Warning Event', async () => {
      const list = await warnings(env, 'locked', 'pool');
      return list.length > 0 ? list : undefined;
    });
    assert.equal(warned.length, 1);
    assert.match(warned[0] ?? '', /^SecretForbidden: /);
    assert.match(warned[0] ?? '', forbidden);
  });

  // The API server's admission (OwnerReferencesPermissionEnforcement) reads the served kinds again only
  // every 30 s, and refuses an owner reference with blockOwnerDeletion to a kind it cannot map: right after
  // `helm install` puts the CRD and the first pools in, the operator's first applies are refused for a while.
  it('applies the Deployment of a pool created with its CRD while admission learns the kind, without a Warning', async () => {
    await operator?.stop();
    operator = undefined;
    const probeFile = join(env.cluster.dir, 'probe-deployment.json');
    const owner = { apiVersion: 'forkpool.io/v1alpha1', kind: 'JobPool', name: 'probe', uid: '6f1b2a9e-0000-4000-8000-000000000000', controller: true, blockOwnerDeletion: true };
    const labels = { app: 'probe' };
    writeFileSync(probeFile, JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'probe', namespace: 'app', ownerReferences: [owner] },
      spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'example.com/probe:1' }] } } },
    }));
    // What the operator's ServiceAccount is told when it sets such an owner reference (a dry run: nothing is stored).
    const probe = async (): Promise<string> => (await env.cluster.kubectl(['create', '--dry-run=server', '-f', probeFile], access.kubeconfigPath)).stderr;
    const unmapped = /cannot find RESTMapping for APIVersion forkpool\.io\/v1alpha1 Kind JobPool/;
    const crd = join(root, 'crds/jobpool.yaml');
    let stale = false;
    // A read of the served kinds can fall between the CRD's creation and the probe; then go round again.
    for (let attempt = 0; attempt < 3 && !stale; attempt++) {
      assert.equal((await env.cluster.kubectl(['delete', 'crd', 'jobpools.forkpool.io', '--wait=true'])).code, 0);
      // Admission forgets the kind at its next read of the served kinds, at most 30 s on.
      await until('admission to forget the kind', async () => unmapped.test(await probe()), 40_000);
      assert.equal((await env.cluster.kubectl(['apply', '--server-side', '-f', crd])).code, 0);
      assert.equal((await env.cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/jobpools.forkpool.io'])).code, 0);
      stale = unmapped.test(await probe());
    }
    assert.ok(stale, 'admission knew the new CRD at once three times over; the case is not set up');

    await createNamespace(env, 'fresh');
    await redis.rpush(k.queue('fresh'), '{"class":"X","args":[]}', '{"class":"X","args":[]}');
    await createPool(env, 'fresh', 'pool', poolSpec(env.redis.url, { queues: ['fresh'], scaling: { minReplicas: 0, maxReplicas: 5, jobsPerReplica: 1, pollIntervalSeconds: 1, scaleDownDelaySeconds: 30 } }));
    const logFile = join(env.logDir, 'rbac-new-crd.log');
    operator = await startOperator({ config: testConfig(), kubeConfig: access.kubeConfig(), log: pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true })) });

    await until('the Deployment at 2 replicas', async () => (await replicasOf(env, 'fresh', 'pool')) === 2, 60_000);
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /does not map the JobPool kind yet/, 'the operator met the refusal');
    assert.doesNotMatch(log, /forbidden/i);
    assert.deepEqual(await warnings(env, 'fresh', 'pool'), []);
    const pool = await until('Ready without a failure', async () => {
      const p = await getPool(env, 'fresh', 'pool');
      return condition(p, 'Ready')?.reason !== 'KindNotServedYet' ? p : undefined;
    });
    assert.notEqual(condition(pool, 'Ready')?.reason, 'ApplyFailed');
    const metrics = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    assert.match(metrics, /forkpool_reconcile_errors_total 0/);
  });
});
