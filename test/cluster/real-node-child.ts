// Run by real-node.test.ts as a process to SIGKILL: starts a cluster with a real node, runs the
// busybox pod, prints one JSON line (the node's footprint and its processes), and waits.
import { CoreV1Api } from '@kubernetes/client-node';
import { join } from 'node:path';
import { until } from '../helpers/wait.ts';
import { busyboxPod, writeBusyboxImage } from './busybox-image.ts';
import { startCluster } from './cluster.ts';
import { nodeProcesses } from './real-node.ts';

const cluster = await startCluster({ realNode: true, log: () => undefined });
const node = cluster.realNode;
if (node === undefined) throw new Error('startCluster({ realNode: true }) gave no real node');
const archive = join(cluster.dir, 'busybox.oci.tar');
await writeBusyboxImage(archive);
await node.importImage(archive);
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
await core.createNamespacedPod({ namespace: 'default', body: busyboxPod('doomed') });
await until(
  'the pod Ready',
  async () => (await core.readNamespacedPod({ namespace: 'default', name: 'doomed' })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  120_000,
);
console.log(JSON.stringify({ footprint: node.footprint, pids: nodeProcesses(node.footprint) }));
setInterval(() => undefined, 1_000_000);
