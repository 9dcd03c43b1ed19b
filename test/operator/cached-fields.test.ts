// What the operator's caches keep of pods and Deployments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { deploymentFields, podFields } from '../../operator/src/cached-fields.ts';

const managedFields = [{ manager: 'kube-controller-manager', operation: 'Update' }];

test('a pod keeps its name, labels, annotations and deletion, not its spec, status or managedFields', () => {
  const deletionTimestamp = new Date('2026-01-01T00:00:00Z');
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p-1',
      namespace: 'ns',
      resourceVersion: '7',
      uid: 'u',
      labels: { 'forkpool.io/pool': 'p' },
      annotations: { 'controller.kubernetes.io/pod-deletion-cost': '100' },
      deletionTimestamp,
      managedFields,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'p-abc', uid: 'r' }],
    },
    spec: { containers: [{ name: 'worker', image: 'w' }] },
    status: { phase: 'Running' },
  };
  assert.deepEqual(podFields(pod), {
    metadata: {
      name: 'p-1',
      namespace: 'ns',
      resourceVersion: '7',
      labels: { 'forkpool.io/pool': 'p' },
      annotations: { 'controller.kubernetes.io/pod-deletion-cost': '100' },
      deletionTimestamp,
    },
  });
});

test('a Deployment keeps its metadata and whole spec, its status counts and conditions, not its managedFields', () => {
  const spec: V1Deployment['spec'] = { replicas: 2, selector: { matchLabels: { a: 'b' } }, template: { spec: { containers: [{ name: 'worker', image: 'w' }] } } };
  const conditions = [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'forbidden' }];
  const deployment: V1Deployment = {
    metadata: { name: 'p', namespace: 'ns', generation: 3, labels: { 'forkpool.io/pool': 'p' }, managedFields },
    spec,
    status: { observedGeneration: 3, replicas: 2, readyReplicas: 1, updatedReplicas: 2, availableReplicas: 1, unavailableReplicas: 1, collisionCount: 0, conditions },
  };
  assert.deepEqual(deploymentFields(deployment), {
    metadata: { name: 'p', namespace: 'ns', generation: 3, labels: { 'forkpool.io/pool': 'p' } },
    spec,
    status: { observedGeneration: 3, replicas: 2, readyReplicas: 1, updatedReplicas: 2, conditions },
  });
  assert.deepEqual(deploymentFields({ metadata: { name: 'q' } }), { metadata: { name: 'q' }, spec: undefined, status: undefined });
});
