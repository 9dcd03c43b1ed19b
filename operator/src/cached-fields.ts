// What the operator's caches keep of pods and Deployments: the fields it reads, nothing more (a pod's
// spec and status are most of its size and never read). Pure.
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';

/** A pod as the scale-down reads it: its name, labels (the pool), annotations (the deletion cost) and whether it is going away. */
export function podFields(pod: V1Pod): V1Pod {
  const m = pod.metadata ?? {};
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      resourceVersion: m.resourceVersion,
      labels: m.labels,
      annotations: m.annotations,
      deletionTimestamp: m.deletionTimestamp,
    },
  };
}

/**
 * A Deployment without its managedFields and with only the status counts and conditions the pool's status
 * is made of; its spec stays whole, since an apply is skipped only when the live spec holds the desired one.
 */
export function deploymentFields(deployment: V1Deployment): V1Deployment {
  const { managedFields: _managedFields, ...metadata } = deployment.metadata ?? {};
  const s = deployment.status;
  return {
    metadata,
    spec: deployment.spec,
    status:
      s === undefined
        ? undefined
        : { observedGeneration: s.observedGeneration, replicas: s.replicas, readyReplicas: s.readyReplicas, updatedReplicas: s.updatedReplicas, conditions: s.conditions },
  };
}
