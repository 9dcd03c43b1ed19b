// The test control plane behaves like a real cluster where our operator depends on it:
// controllers and scheduling, CRDs with CEL and subresources, RBAC, and an API server restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { until } from '../helpers/wait.ts';
import { startCluster, type Cluster } from './cluster.ts';

/** The HTTP status and the API server's message of a failed client-node call. */
function apiError(err: unknown): { code: number; message: string } {
  if (typeof err !== 'object' || err === null || !('code' in err) || typeof err.code !== 'number') throw err;
  const raw = 'body' in err ? err.body : undefined;
  let body: unknown = raw;
  if (typeof raw === 'string') {
    try {
      body = JSON.parse(raw);
    } catch {
      body = { message: raw };
    }
  }
  const message = typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string' ? body.message : '';
  return { code: err.code, message };
}

async function rejection(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    return apiError(err);
  }
  assert.fail('the API server accepted a request it should have refused');
}

describe('test control plane', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let core: CoreV1Api;

  before(async () => {
    cluster = await startCluster();
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('runs a Deployment as Running pods on the fake node, and garbage-collects them when it is deleted', async () => {
    const namespace = 'deployments';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    const labels = { app: 'hello' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'hello' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'hello', image: 'example.com/hello:1.0' }] } },
        },
      },
    });

    const pods = await until('2 pods Running on the fake nodes', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=hello' });
      assert.equal(list.items.length, 2);
      for (const pod of list.items) {
        assert.equal(pod.status?.phase, 'Running', `pod ${pod.metadata?.name} is ${pod.status?.phase}`);
        assert.ok(cluster.nodeNames.includes(pod.spec?.nodeName ?? ''), `pod ${pod.metadata?.name} is on node ${pod.spec?.nodeName}`);
      }
      return list.items;
    }, 60_000);
    const owner = pods[0]?.metadata?.ownerReferences?.[0];
    assert.equal(owner?.kind, 'ReplicaSet');
    const replicaSets = await apps.listNamespacedReplicaSet({ namespace });
    assert.deepEqual(replicaSets.items.map((rs) => rs.metadata?.ownerReferences?.[0]?.name), ['hello']);
    await until('the Deployment with 2 ready replicas', async () => {
      const deployment = await apps.readNamespacedDeployment({ name: 'hello', namespace });
      assert.equal(deployment.status?.readyReplicas, 2);
      return true;
    }, 60_000);
    const shown = await cluster.kubectl(['get', 'pods', '-n', namespace]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout.match(/\bRunning\b/g)?.length, 2, shown.stdout);

    await apps.deleteNamespacedDeployment({ name: 'hello', namespace });
    await until('the ReplicaSet and its pods collected', async () => {
      const [rs, left] = await Promise.all([apps.listNamespacedReplicaSet({ namespace }), core.listNamespacedPod({ namespace })]);
      assert.deepEqual(rs.items.map((r) => r.metadata?.name), []);
      assert.deepEqual(left.items.map((p) => p.metadata?.name), []);
      return true;
    }, 60_000);
  });

  it('serves a CRD with a structural schema, a CEL rule, and the status and scale subresources', async () => {
    const crd: V1CustomResourceDefinition = {
      metadata: { name: 'widgets.test.forkpool.io' },
      spec: {
        group: 'test.forkpool.io',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: {
              status: {},
              scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
            },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                description: 'A Widget is a test resource.',
                properties: {
                  spec: {
                    type: 'object',
                    description: 'What the widget should be.',
                    x_kubernetes_validations: [{ rule: 'self.minReplicas <= self.maxReplicas', message: 'minReplicas must not exceed maxReplicas' }],
                    properties: {
                      replicas: { type: 'integer', description: 'How many widgets to run.' },
                      minReplicas: { type: 'integer', description: 'The fewest widgets to run.', _default: 0 },
                      maxReplicas: { type: 'integer', description: 'The most widgets the autoscaler may run at once.' },
                    },
                    required: ['maxReplicas'],
                  },
                  status: {
                    type: 'object',
                    properties: { replicas: { type: 'integer' }, selector: { type: 'string' } },
                  },
                },
              },
            },
          },
        ],
      },
    };
    const extensions = cluster.kubeConfig().makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: crd });
    await until('the CRD Established', async () => {
      const stored = await extensions.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
      assert.ok(stored.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'), 'CRD not Established');
      return true;
    }, 60_000);

    const custom = cluster.kubeConfig().makeApiClient(CustomObjectsApi);
    const widget = (name: string, spec: object): object => ({ apiVersion: 'test.forkpool.io/v1', kind: 'Widget', metadata: { name }, spec });
    const target = { group: 'test.forkpool.io', version: 'v1', namespace: 'default', plural: 'widgets' };
    await until('a Widget created', () => custom.createNamespacedCustomObject({ ...target, body: widget('good', { replicas: 1, minReplicas: 1, maxReplicas: 3 }) }), 30_000);

    const refused = await rejection(custom.createNamespacedCustomObject({ ...target, body: widget('bad', { minReplicas: 5, maxReplicas: 2 }) }));
    assert.equal(refused.code, 422);
    assert.match(refused.message, /minReplicas must not exceed maxReplicas/);

    const scaled = await cluster.kubectl(['scale', 'widget/good', '--replicas=3']);
    assert.equal(scaled.code, 0, scaled.stderr);
    const good = (await custom.getNamespacedCustomObject({ ...target, name: 'good' })) as { spec: { replicas: number } };
    assert.equal(good.spec.replicas, 3);

    // The OpenAPI document is published a moment after the CRD is established.
    const explained = await until('kubectl explain of the CRD', async () => {
      const result = await cluster.kubectl(['explain', 'widgets.spec.maxReplicas']);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    }, 30_000);
    assert.match(explained, /The most widgets the autoscaler may run at once\./);
  });

  it('enforces RBAC: a ServiceAccount is refused until a Role and RoleBinding allow it', async () => {
    const namespace = 'rbac';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'robot' } } });
    const robot = await cluster.serviceAccountAccess(namespace, 'robot');
    const robotCore = robot.kubeConfig().makeApiClient(CoreV1Api);

    const refused = await rejection(robotCore.listNamespacedPod({ namespace }));
    assert.equal(refused.code, 403);
    assert.match(refused.message, /system:serviceaccount:rbac:robot.*cannot list resource "pods"/);
    const kubectlRefused = await cluster.kubectl(['get', 'pods', '-n', namespace], robot.kubeconfigPath);
    assert.notEqual(kubectlRefused.code, 0);
    assert.match(kubectlRefused.stderr, /Forbidden/);

    const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'robot-reads-pods' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace }],
      },
    });
    await until('the ServiceAccount allowed to list pods', () => robotCore.listNamespacedPod({ namespace }), 10_000);
    const kubectlAllowed = await cluster.kubectl(['get', 'pods', '-n', namespace], robot.kubeconfigPath);
    assert.equal(kubectlAllowed.code, 0, kubectlAllowed.stderr);

    // The Role grants reading pods in its namespace, nothing more.
    assert.equal((await rejection(robotCore.listNamespacedPod({ namespace: 'default' }))).code, 403);
    assert.equal((await rejection(robotCore.deleteCollectionNamespacedPod({ namespace }))).code, 403);
  });

  it('keeps its data and controllers across an API server restart', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'survivor' }, data: { kept: 'yes' } } });
    await cluster.restartApiServer();
    const read = await until('the ConfigMap read after the restart', () => core.readNamespacedConfigMap({ name: 'survivor', namespace: 'default' }), 30_000);
    assert.equal(read.data?.['kept'], 'yes');

    // The controller manager, scheduler and kwok reconnect on their own.
    const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    const labels = { app: 'after-restart' };
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'after-restart' },
        spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'example.com/c:1' }] } } },
      },
    });
    await until('a pod of the new Deployment Running', async () => {
      const list = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=after-restart' });
      assert.deepEqual(list.items.map((p) => p.status?.phase), ['Running']);
      return true;
    }, 60_000);
  });
});
