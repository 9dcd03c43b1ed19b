// The operator's template policy on a real control plane, with the policy the chart's values give it: a
// template that asks for privilege gets no Deployment but a Ready=False condition naming the field and one
// Warning Event; a pool changed to a refused template keeps its Deployment as it was; relaxed values let the
// same templates through.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { operatorTemplatePolicy, render } from '../helm/chart.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import type { TemplatePolicy } from '../../operator/src/template-policy.ts';
import { condition, createNamespace, createPool, getDeployment, getPool, poolSpec, runOperator, sleep, startEnv, until, warnings, type Env } from './harness.ts';

const ns = 'policy';
const privileged = { spec: { containers: [{ name: 'worker', image: 'example.com/jobs:1', securityContext: { privileged: true } }] } };

/** The policy the operator reads from the chart rendered with `values`. */
async function chartPolicy(values: Record<string, unknown>): Promise<TemplatePolicy> {
  const policy = operatorTemplatePolicy(await render(values));
  assert.ok(typeof policy !== 'string', policy as string);
  return policy;
}

describe('the operator\'s template policy on a real cluster', { timeout: 600_000 }, () => {
  let env: Env;
  let operator: RunningOperator | undefined;

  before(async () => {
    env = await startEnv();
    await createNamespace(env, ns);
  });
  after(async () => {
    await operator?.stop();
    await env?.stop();
  });

  const refusedPool = (name: string, generation: number) =>
    until(`${name}: Ready False, TemplateNotAllowed at generation ${generation}`, async () => {
      const p = await getPool(env, ns, name);
      const ready = condition(p, 'Ready');
      return ready?.reason === 'TemplateNotAllowed' && p.status?.observedGeneration === generation ? { pool: p, ready } : undefined;
    }, 60_000);

  it('with the chart\'s defaults, refuses a privileged template: no Deployment, a condition naming the field, one Warning Event', async () => {
    operator = await runOperator(env, 'default-policy', { templatePolicy: await chartPolicy({}) });
    await createPool(env, ns, 'privileged', poolSpec(env.redis.url, { queues: ['privileged'], template: privileged, scaling: { minReplicas: 1, maxReplicas: 2 } }));
    await createPool(env, ns, 'plain', poolSpec(env.redis.url, { queues: ['plain'], scaling: { minReplicas: 1, maxReplicas: 2 } }));
    const { ready } = await refusedPool('privileged', 1);
    assert.equal(ready.status, 'False');
    assert.equal(
      ready.message,
      "the operator's template policy refuses the pod template: " +
        'spec.template.spec.containers[0].securityContext.privileged: Forbidden: privileged containers are not allowed (templatePolicy.allowPrivileged)',
    );
    const warned = await until('the Warning Event', async () => {
      const list = await warnings(env, ns, 'privileged');
      return list.length > 0 ? list : undefined;
    });
    assert.deepEqual(warned, [`TemplateNotAllowed: ${ready.message}`]);
    // The allowed pool beside it gets its Deployment.
    await until('the plain pool\'s Deployment', () => getDeployment(env, ns, 'plain'), 30_000);
    // Later reconciles (the plain pool's, a resync) neither repeat the Warning nor create the Deployment.
    await sleep(5000);
    assert.equal((await warnings(env, ns, 'privileged')).length, 1);
    assert.equal(await getDeployment(env, ns, 'privileged'), undefined);
  });

  it('leaves the Deployment of a pool changed to a refused template as it was', async () => {
    const before = await until('the plain pool at 1 replica', async () => {
      const d = await getDeployment(env, ns, 'plain');
      return d?.spec?.replicas === 1 ? d : undefined;
    }, 30_000);
    const patched = await env.cluster.kubectl([
      'patch', '-n', ns, 'jobpool/plain', '--type=merge', '-p',
      JSON.stringify({ spec: { template: { spec: { hostNetwork: true, volumes: [{ name: 'docker', hostPath: { path: '/var/run/docker.sock' } }] } } } }),
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    const { ready } = await refusedPool('plain', 2);
    assert.match(ready.message, /spec\.template\.spec\.hostNetwork: Forbidden: host namespaces are not allowed \(templatePolicy\.allowHostNamespaces\); spec\.template\.spec\.volumes\[0\]\.hostPath: Forbidden: hostPath volumes are not allowed/);
    await sleep(3000);
    const after = await getDeployment(env, ns, 'plain');
    const kept = (d: V1Deployment | undefined) => [d?.metadata?.uid, d?.metadata?.generation, d?.spec?.replicas, d?.spec?.template.spec?.hostNetwork, d?.spec?.template.spec?.volumes?.some((v) => v.hostPath !== undefined) ?? false];
    assert.deepEqual(kept(after), kept(before));
    assert.deepEqual(kept(after).slice(2), [1, undefined, false]);
  });

  it('relaxed by the chart\'s templatePolicy values, lets the same templates through', async () => {
    await operator?.stop();
    const relaxed = await chartPolicy({ templatePolicy: { allowPrivileged: true, allowHostNamespaces: true, allowHostPath: true } });
    operator = await runOperator(env, 'relaxed-policy', { templatePolicy: relaxed });
    const deployment = await until('the privileged pool\'s Deployment', () => getDeployment(env, ns, 'privileged'), 30_000);
    assert.equal(deployment.spec?.template.spec?.containers[0]?.securityContext?.privileged, true);
    await until('the plain pool\'s Deployment with host network', async () => (await getDeployment(env, ns, 'plain'))?.spec?.template.spec?.hostNetwork === true, 30_000);
    for (const [name, generation] of [['privileged', 1], ['plain', 2]] as const) {
      await until(`${name}: no longer refused`, async () => {
        const p = await getPool(env, ns, name);
        return p.status?.observedGeneration === generation && condition(p, 'Ready')?.reason !== 'TemplateNotAllowed';
      }, 30_000);
    }
  });
});
