// The test cluster's real node runs real containers as a kubelet does on a real cluster, and
// leaves this machine as it found it: after stop(), and after a run killed with SIGKILL once the
// next cluster starts.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { until } from '../helpers/wait.ts';
import { busyboxPod, busyboxUnavailable, writeBusyboxImage } from './busybox-image.ts';
import { binDir, startCluster, type Cluster } from './cluster.ts';
import { nodeProcesses, nodeSysctls, realNodeUnavailable, type RealNode, type RealNodeFootprint } from './real-node.ts';

const unavailable = realNodeUnavailable(binDir) ?? busyboxUnavailable();
if (unavailable !== undefined) {
  console.error(`\n*** SKIPPED test/cluster/real-node.test.ts: ${unavailable} ***\n`);
}

/** What a real node may change on the host, read before it starts and after it stops. */
interface HostState {
  links: string[];
  sysctls: Record<string, string>;
  firewall: string;
}

function hostState(): HostState {
  const links = readdirSync('/sys/class/net').sort();
  const sysctls = Object.fromEntries(nodeSysctls.map((path) => [path, readFileSync(join('/proc/sys', path), 'utf8').trim()]));
  // Rules and chains, without iptables-save's dated comments and packet counters.
  const firewall = ['iptables-save', 'ip6tables-save']
    .map((command) => {
      try {
        return execFileSync(command, { encoding: 'utf8' });
      } catch {
        return '';
      }
    })
    .join('')
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/ \[\d+:\d+\]$/, ''))
    .join('\n');
  return { links, sysctls, firewall };
}

function cgroupPaths(cgroupRoot: string): string[] {
  return readdirSync('/sys/fs/cgroup')
    .map((hierarchy) => join('/sys/fs/cgroup', hierarchy, cgroupRoot))
    .concat(join('/sys/fs/cgroup', cgroupRoot));
}

/** Whether a process runs: a zombie (killed, not yet reaped by its parent or init) does not. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function netns(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Everything of a node's run still on the host, as sentences; empty when it is all gone. */
function leftovers(footprint: RealNodeFootprint, pids: number[], namespaces: string[]): string[] {
  const found: string[] = [];
  const living = pids.filter(alive);
  if (living.length > 0) found.push(`processes still alive: ${living.join(', ')}`);
  const more = nodeProcesses(footprint);
  if (more.length > 0) found.push(`processes of the node: ${more.join(', ')}`);
  for (const path of cgroupPaths(footprint.cgroupRoot)) {
    if (existsSync(path)) found.push(`cgroup ${path}`);
  }
  if (existsSync(join('/sys/class/net', footprint.bridge))) found.push(`bridge ${footprint.bridge}`);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let mounts: string;
    try {
      mounts = readFileSync(`/proc/${entry}/mountinfo`, 'utf8');
    } catch {
      continue;
    }
    const mount = mounts.split('\n').find((line) => line.includes(footprint.dir) || line.includes(' forkpool-node '));
    if (mount !== undefined) found.push(`a mount seen by process ${entry}: ${mount}`);
    const ns = netns(Number(entry));
    if (ns !== undefined && namespaces.includes(ns)) found.push(`process ${entry} in the pods' network namespace ${ns}`);
  }
  return [...new Set(found)];
}

async function podReady(core: CoreV1Api, name: string, ready: boolean): Promise<V1Pod> {
  return until(`pod ${name} ${ready ? '' : 'not '}Ready`, async () => {
    const pod = await core.readNamespacedPod({ namespace: 'default', name });
    const condition = pod.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(condition?.status, ready ? 'True' : 'False', `pod ${name}: ${JSON.stringify(pod.status)}`);
    return pod;
  }, 120_000);
}

describe('real node', { skip: unavailable ?? false, timeout: 900_000 }, () => {
  let cluster: Cluster;
  let node: RealNode;
  let core: CoreV1Api;
  let hostBefore: HostState;
  /** Every process the node ran, and the pods' network namespaces, for the leftovers check. */
  const seenPids = new Set<number>();
  const seenNamespaces = new Set<string>();
  const hostNetns = netns(process.pid);

  const observe = (): void => {
    for (const pid of nodeProcesses(node.footprint)) {
      seenPids.add(pid);
      const ns = netns(pid);
      if (ns !== undefined && ns !== hostNetns) seenNamespaces.add(ns);
    }
  };

  before(async () => {
    hostBefore = hostState();
    cluster = await startCluster({ realNode: true });
    assert.ok(cluster.realNode !== undefined);
    node = cluster.realNode;
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    assert.deepEqual(node.footprint.sysctls, hostBefore.sysctls);
    const archive = join(cluster.dir, 'busybox.oci.tar');
    await writeBusyboxImage(archive);
    await node.importImage(archive);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('joins the cluster as a Ready node with its bridge address', async () => {
    const found = await core.readNode({ name: node.name });
    assert.equal(found.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.deepEqual(found.status?.addresses?.filter((a) => a.type === 'InternalIP').map((a) => a.address), [node.hostAddress]);
    assert.ok(cluster.nodeNames.includes(node.name));
  });

  it('runs a pod of a locally imported image, hardened, with logs, exec and a real HTTP readiness probe', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: busyboxPod('serve') });
    const pod = await podReady(core, 'serve', true);
    observe();
    assert.equal(pod.spec?.nodeName, node.name);
    assert.match(pod.status?.podIP ?? '', new RegExp(`^${node.subnet.split('.').slice(0, 3).join('\\.')}\\.`));

    const logs = await cluster.kubectl(['logs', 'serve']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^started as pid 1$/m);

    const id = await cluster.kubectl(['exec', 'serve', '--', 'id']);
    assert.equal(id.code, 0, id.stderr);
    assert.match(id.stdout, /uid=1000 gid=1000/);
    const write = await cluster.kubectl(['exec', 'serve', '--', 'touch', '/written']);
    assert.notEqual(write.code, 0, 'the root file system is read-only');
    assert.match(write.stderr, /Read-only file system/);

    // The kubelet probes over the pod's network: taking the page away makes the pod unready.
    assert.equal((await cluster.kubectl(['exec', 'serve', '--', 'rm', '/tmp/www/ready'])).code, 0);
    await podReady(core, 'serve', false);
    assert.equal((await cluster.kubectl(['exec', 'serve', '--', 'touch', '/tmp/www/ready'])).code, 0);
    await podReady(core, 'serve', true);
  });

  it('restarts a container that exits in place: same pod and address, and again PID 1 in its namespace', async () => {
    const before = await core.readNamespacedPod({ namespace: 'default', name: 'serve' });
    assert.equal((await cluster.kubectl(['exec', 'serve', '--', 'kill', '1'])).code, 0);
    const after = await until('the container restarted', async () => {
      const pod = await core.readNamespacedPod({ namespace: 'default', name: 'serve' });
      const status = pod.status?.containerStatuses?.[0];
      assert.equal(status?.restartCount, 1);
      assert.ok(status?.state?.running !== undefined, JSON.stringify(status));
      return pod;
    }, 120_000);
    await podReady(core, 'serve', true);
    observe();
    assert.equal(after.metadata?.uid, before.metadata?.uid);
    assert.equal(after.status?.podIP, before.status?.podIP);
    assert.equal(after.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 0);

    const previous = await cluster.kubectl(['logs', 'serve', '--previous']);
    assert.match(previous.stdout, /^started as pid 1$/m);
    assert.match(previous.stdout, /^SIGTERM received$/m);
    const current = await cluster.kubectl(['logs', 'serve']);
    assert.match(current.stdout, /^started as pid 1$/m);
  });

  it('sends SIGTERM to the container when its pod is deleted', async () => {
    const follow = spawn(cluster.bin.kubectl, ['logs', '--follow', 'serve'], { env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath } });
    let output = '';
    follow.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const ended = new Promise<void>((resolve) => follow.once('close', () => resolve()));
    await until('kubectl logs --follow attached', () => output.includes('started as pid 1'));
    await core.deleteNamespacedPod({ namespace: 'default', name: 'serve' });
    await ended;
    assert.match(output, /^SIGTERM received$/m);
    await until('the pod gone', async () => (await core.listNamespacedPod({ namespace: 'default' })).items.length === 0, 60_000);
  });

  it('leaves nothing on the host after stop()', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: busyboxPod('left-running') });
    await podReady(core, 'left-running', true);
    observe();
    assert.ok(seenNamespaces.size > 0, 'the pods ran in network namespaces of their own');
    assert.ok(leftovers(node.footprint, [...seenPids], [...seenNamespaces]).length > 0, 'the running node is seen by the check');

    await cluster.stop();
    assert.deepEqual(leftovers(node.footprint, [...seenPids], [...seenNamespaces]), []);
    assert.deepEqual(hostState(), hostBefore);
    assert.equal(existsSync(cluster.dir), false);
  });

  it('cleans what a run killed with SIGKILL left, at the next start', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'real-node-child.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`real-node-child.ts exited with ${code} before it was ready`)));
    });
    const { footprint, pids } = JSON.parse(line) as { footprint: RealNodeFootprint; pids: number[] };
    const namespaces = [...new Set(pids.map(netns).filter((ns): ns is string => ns !== undefined && ns !== hostNetns))];

    child.kill('SIGKILL');
    await exited;
    // The kubelet and containerd die with the process that started them; the containers do not.
    await until('the kubelet and containerd gone', () => pids.filter(alive).length < pids.length);
    const left = leftovers(footprint, pids, namespaces);
    assert.ok(left.some((sentence) => sentence.startsWith('processes still alive')), left.join('\n'));
    assert.ok(left.includes(`bridge ${footprint.bridge}`), left.join('\n'));

    const next = await startCluster();
    try {
      assert.deepEqual(leftovers(footprint, pids, namespaces), []);
      assert.deepEqual(hostState(), hostBefore);
      assert.equal(existsSync(footprint.dir), false);
    } finally {
      await next.stop();
    }
  });
});
