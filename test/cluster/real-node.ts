// The test cluster's real node: upstream's kubelet (built by build.sh) on Debian's containerd,
// runc and CNI plugins, running real containers on this machine.
//
// What it changes on the host, and how each change is undone:
// - containerd and the kubelet run in a private mount namespace where /run, /var/lib and
//   /var/log are empty tmpfs mounts: the paths they hard-code (shim sockets under
//   /run/containerd/s, /var/lib/cni, /var/log/containers) and every mount they make (image
//   layers, volumes, network namespaces) exist only there, and vanish with its last process.
//   Their own files are under the cluster's directory.
// - A bridge with one address of 10.213.X.0/24 (X free on this machine), no default route for
//   the pods: they reach each other and the host's address on the bridge, nothing else. The
//   bridge is deleted on stop; the pods' veths go with their network namespaces.
// - The `kubernetes` Service's address (10.96.0.1) on that bridge too, and a route to the Service
//   range in the pods: the cluster runs no kube-proxy, so a TCP proxy of the test process (listening
//   on 10.96.0.1:443) stands in for it, for that one Service: pods reach the API server as on a
//   real cluster, through KUBERNETES_SERVICE_HOST. The address goes with the bridge.
// - A cgroup /forkpool-node-ID in every hierarchy, holding every pod; emptied and removed on stop.
// - Sysctls: the kubelet sets its kernel tunables, the bridge plugin ip_forward; the values they
//   had are restored on stop.
// - No iptables chains: the kubelet makes KUBE-FIREWALL and its hint chains for kube-proxy's
//   sake, which this cluster does not run; it runs without /usr/sbin on its PATH, so that it
//   finds no iptables and says so in its log.
// The names of all of it are written to real-node.json in the cluster's directory before any
// is made, so that the next startCluster() undoes what a killed run left (cleanUpRealNode).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { writeOciArchive } from './oci-archive.ts';
import { stopComponent, type Component } from './processes.ts';

const run = promisify(execFile);

/** The sandbox image the kubelet asks for, imported from bin/pause: build.sh's PAUSE_VERSION. */
export const pauseImage = 'registry.k8s.io/pause:3.10.2';

/** The cluster's Service range (kube-apiserver's --service-cluster-ip-range). */
export const serviceClusterIpRange = '10.96.0.0/16';

/** The `kubernetes` Service's address: the first of the range, as the API server allocates it. */
export const kubernetesServiceAddress = '10.96.0.1';

/** Where Debian puts the CNI plugins, then where upstream's packages do. */
const cniBinDirs = ['/usr/lib/cni', '/opt/cni/bin'];

/** The kernel settings the kubelet (its kernel tunables) and the bridge plugin (forwarding) change. */
export const nodeSysctls = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward',
];

/** The name of the file in the cluster's directory that lists what the node put on the host. */
const stateFile = 'real-node.json';

/** What a real node put on the host: all that cleanUpRealNode() needs to undo it. */
export interface RealNodeFootprint {
  /** The cluster's directory; every process of the node has it on its command line. */
  dir: string;
  bridge: string;
  /** The cgroup that holds every pod, the same path in every hierarchy. */
  cgroupRoot: string;
  containerdSocket: string;
  /** /proc/sys paths and the values they had before the node started. */
  sysctls: Record<string, string>;
}

export interface RealNode {
  readonly name: string;
  /** The host's address on the pods' bridge: the one address of this machine that pods reach. */
  readonly hostAddress: string;
  /** The pods' subnet, e.g. 10.213.7.0/24. */
  readonly subnet: string;
  readonly footprint: RealNodeFootprint;
  /** Imports an OCI image archive (see oci-archive.ts) into the node's containerd. */
  importImage(archivePath: string): Promise<void>;
  /**
   * Restarts the node's containerd as a service manager would: SIGTERM (the containers' shims
   * keep running), then a new containerd in the same mount namespace, which finds them again.
   * Resolves once it answers.
   */
  restartContainerd(): Promise<void>;
}

/** Why a real node cannot run on this machine, or undefined when it can. */
export function realNodeUnavailable(binDir: string): string | undefined {
  if (process.platform !== 'linux') return `the real node needs Linux; this is ${process.platform}`;
  if (process.getuid?.() !== 0) {
    return 'the real node needs root: it runs containerd and the kubelet, and makes a bridge and cgroups (run the tests as root, e.g. in CI)';
  }
  const missing = ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'unshare', 'nsenter', 'ip', 'openssl', 'tar', 'mount'].filter(
    (command) => !onPath(command),
  );
  if (cniBinDir() === undefined) missing.push(`the CNI plugins (bridge, host-local, loopback in ${cniBinDirs.join(' or ')})`);
  if (missing.length > 0) {
    return `the real node needs ${missing.join(', ')}: \`apt-get install containerd runc containernetworking-plugins iproute2 util-linux openssl\` (scripts/setup.ts does it as root)`;
  }
  const built = ['kubelet', 'pause'].filter((name) => !existsSync(join(binDir, name)));
  if (built.length > 0) return `the real node needs ${built.join(' and ')} in ${binDir}: run \`bash test/cluster/build.sh\``;
  if (cgroupMounts().length === 0) return 'the real node needs cgroups mounted under /sys/fs/cgroup';
  return undefined;
}

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => dir !== '' && existsSync(join(dir, command)));
}

function cniBinDir(): string | undefined {
  return cniBinDirs.find((dir) => ['bridge', 'host-local', 'loopback'].every((plugin) => existsSync(join(dir, plugin))));
}

/** The mount points of the cgroup hierarchies: one per v1 controller group, or the v2 one. */
function cgroupMounts(): string[] {
  const mounts: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    const fsType = after?.split(' ')[0];
    const mountPoint = before?.split(' ')[4];
    if ((fsType === 'cgroup' || fsType === 'cgroup2') && mountPoint !== undefined) mounts.push(mountPoint);
  }
  return mounts;
}

/** What startCluster() must give the API server and its token file for the node to join. */
export interface RealNodePlan {
  readonly name: string;
  /** A line of the API server's token file: the kubelet as system:node:NAME in system:nodes. */
  readonly tokenLine: string;
  /** Flags for kube-apiserver: how it reaches and authenticates to the kubelet. */
  readonly apiServerArgs: string[];
  readonly footprint: RealNodeFootprint;
  readonly hostAddress: string;
  readonly subnet: string;
  readonly token: string;
  readonly nodeDir: string;
}

/** A /24 of 10.213.0.0/16 that no address or route of this machine touches. */
function freeSubnet(): number {
  const used = execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let attempt = 0; attempt < 64; attempt++) {
    const third = 1 + Math.floor(Math.random() * 254);
    if (!used.includes(`10.213.${third}.`)) return third;
  }
  throw new Error('no free /24 in 10.213.0.0/16 for the real node: this machine uses them all');
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A key and a certificate for `subject`, signed by the node's authority in `pki`. */
function issue(pki: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(pki, `${name}.ext`), extensions);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(pki, `${name}.key`), '-subj', subject, '-out', join(pki, `${name}.csr`)]);
  openssl([
    'x509', '-req', '-in', join(pki, `${name}.csr`), '-CA', join(pki, 'node-ca.crt'), '-CAkey', join(pki, 'node-ca.key'),
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '7', '-extfile', join(pki, `${name}.ext`), '-out', join(pki, `${name}.crt`),
  ]);
}

/**
 * Names the node's bridge, subnet and cgroup, writes them to the cluster's directory, and makes
 * the certificates: an authority of the node's own, the kubelet's serving certificate for its
 * bridge address, and the API server's client certificate that the kubelet trusts.
 */
export function planRealNode(dir: string): RealNodePlan {
  const id = randomBytes(3).toString('hex');
  const third = freeSubnet();
  const hostAddress = `10.213.${third}.1`;
  const name = `real-node-${id}`;
  const nodeDir = join(dir, 'node');
  const pki = join(nodeDir, 'pki');
  mkdirSync(pki, { recursive: true });
  const footprint: RealNodeFootprint = {
    dir,
    bridge: `fpnode-${id}`,
    cgroupRoot: `/forkpool-node-${id}`,
    containerdSocket: join(nodeDir, 'containerd.sock'),
    sysctls: Object.fromEntries(nodeSysctls.map((path) => [path, readFileSync(join('/proc/sys', path), 'utf8').trim()])),
  };
  writeFileSync(join(dir, stateFile), JSON.stringify(footprint, null, 2));

  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(pki, 'node-ca.key'), '-out', join(pki, 'node-ca.crt'), '-days', '7', '-subj', '/CN=forkpool-test-node-ca']);
  issue(pki, 'kubelet-serving', `/CN=system:node:${name}/O=system:nodes`, `subjectAltName=IP:${hostAddress}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  issue(pki, 'apiserver-kubelet-client', '/CN=kube-apiserver-kubelet-client/O=system:masters', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');

  const token = randomBytes(24).toString('hex');
  return {
    name,
    token,
    tokenLine: `${token},system:node:${name},uid-${name},"system:nodes"`,
    apiServerArgs: [
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-certificate-authority=${join(pki, 'node-ca.crt')}`,
      `--kubelet-client-certificate=${join(pki, 'apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${join(pki, 'apiserver-kubelet-client.key')}`,
    ],
    footprint,
    hostAddress,
    subnet: `10.213.${third}.0/24`,
    nodeDir,
  };
}

export interface RealNodeContext {
  binDir: string;
  /** The kubeconfig the kubelet uses: the API server, its CA, and plan.token. */
  kubeconfigPath: string;
  kubeletPort: number;
  kubeletHealthzPort: number;
  /** The API server's port on 127.0.0.1, where the `kubernetes` Service's proxy forwards. */
  apiServerPort: number;
  /** Starts `kube exec PROGRAM ARGS...` as a component of the cluster. */
  start: (name: string, args: string[], env?: NodeJS.ProcessEnv) => Component;
  /** Waits until `check` is true, failing if one of `watched` exits. */
  waitFor: (what: string, check: () => Promise<boolean>, watched: Component[]) => Promise<void>;
}

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

function containerdConfig(plan: RealNodePlan, cniBin: string): string {
  const dir = plan.nodeDir;
  // containerd 1.6's version 2 format, with only what differs from its defaults or pins a path.
  return `version = 2
root = "${join(dir, 'containerd-root')}"
state = "${join(dir, 'containerd-state')}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${plan.footprint.containerdSocket}"

[ttrpc]
  address = "${join(dir, 'containerd-ttrpc.sock')}"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  # Without CAP_SYS_RESOURCE (a VM's root may lack it) runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "${cniBin}"
  conf_dir = "${join(dir, 'cni')}"

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  Root = "${join(dir, 'runc')}"
  SystemdCgroup = false
`;
}

function kubeletConfig(plan: RealNodePlan, context: RealNodeContext): string {
  const pki = join(plan.nodeDir, 'pki');
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: plan.hostAddress,
    port: context.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: context.kubeletHealthzPort,
    tlsCertFile: join(pki, 'kubelet-serving.crt'),
    tlsPrivateKeyFile: join(pki, 'kubelet-serving.key'),
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: join(pki, 'node-ca.crt') },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${plan.footprint.containerdSocket}`,
    // The host mounts cgroup v1, which the kubelet refuses unless told; there is no systemd.
    cgroupDriver: 'cgroupfs',
    cgroupRoot: plan.footprint.cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
    podLogsDir: join(plan.nodeDir, 'pod-logs'),
    volumePluginDir: join(plan.nodeDir, 'volume-plugins'),
    // Pods have no DNS here, and must not get this machine's resolvers.
    resolvConf: '',
    // A test machine's disk may be fuller than a node's: evict only when it is nearly full.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%', 'nodefs.inodesFree': '2%' },
    imageGCHighThresholdPercent: 98,
    imageGCLowThresholdPercent: 95,
  });
}

function cniConfig(plan: RealNodePlan): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: plan.footprint.bridge,
      plugins: [
        {
          type: 'bridge',
          bridge: plan.footprint.bridge,
          // The bridge carries the gateway address (the host as pods see it), but the pods get
          // no default route through it: ipam has no routes, and nothing is masqueraded.
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: plan.subnet, gateway: plan.hostAddress }]],
            // The Service range only, through the host: the kubernetes Service's proxy is there.
            routes: [{ dst: serviceClusterIpRange }],
            dataDir: join(plan.nodeDir, 'cni-ipam'),
          },
        },
      ],
    },
    null,
    2,
  );
}

/** Makes the bridge before the kubelet starts: its node IP must be an address of this machine. */
function createBridge(plan: RealNodePlan): void {
  const { bridge } = plan.footprint;
  execFileSync('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
  const ipv6 = `/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`;
  if (existsSync(ipv6)) writeFileSync(ipv6, '1');
  execFileSync('ip', ['addr', 'add', `${plan.hostAddress}/24`, 'dev', bridge]);
  execFileSync('ip', ['addr', 'add', `${kubernetesServiceAddress}/32`, 'dev', bridge]);
  execFileSync('ip', ['link', 'set', bridge, 'up']);
}

/** Makes the pods' cgroup in every hierarchy; a v1 cpuset child starts empty and needs its parent's sets. */
function createCgroupRoot(cgroupRoot: string): void {
  for (const mount of cgroupMounts()) {
    const path = join(mount, cgroupRoot);
    mkdirSync(path, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(path, file)) && readFileSync(join(path, file), 'utf8').trim() === '') {
        writeFileSync(join(path, file), readFileSync(join(mount, file), 'utf8'));
      }
    }
  }
}

/** The stand-in for kube-proxy; close() also ends the connections it carries. */
export interface ServiceProxy {
  close(): void;
}

/**
 * The `kubernetes` Service for the pods, as kube-proxy would make it: connections to
 * 10.96.0.1:443 go to the API server on 127.0.0.1 (TLS passes through; the API server's
 * certificate names 10.96.0.1).
 */
async function startServiceProxy(apiServerPort: number): Promise<ServiceProxy> {
  // A pod's connections die with its network namespace, unannounced: close() ends them here.
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: apiServerPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(443, kubernetesServiceAddress, resolve);
  });
  return {
    close() {
      server.close();
      sockets.forEach((socket) => socket.destroy());
    },
  };
}

/**
 * Starts containerd and the kubelet and waits until the node is Ready. On failure the caller
 * stops the cluster, which calls cleanUpRealNode().
 */
export async function startRealNode(plan: RealNodePlan, context: RealNodeContext): Promise<{ node: RealNode; components: Component[]; serviceProxy: ServiceProxy }> {
  const cniBin = cniBinDir();
  if (cniBin === undefined) throw new Error(realNodeUnavailable(context.binDir));
  const dir = plan.nodeDir;
  mkdirSync(join(dir, 'cni'), { recursive: true });
  writeFileSync(join(dir, 'containerd.toml'), containerdConfig(plan, cniBin));
  writeFileSync(join(dir, 'cni', '10-forkpool.conflist'), cniConfig(plan));
  writeFileSync(join(dir, 'kubelet.yaml'), kubeletConfig(plan, context));
  createBridge(plan);
  createCgroupRoot(plan.footprint.cgroupRoot);
  const serviceProxy = await startServiceProxy(context.apiServerPort);

  // unshare execs sh, sh execs containerd: one process, whose mount namespace the kubelet joins.
  let containerd = context.start('containerd', [
    'exec', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
    'set -e; for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 forkpool-node "$d"; done; exec containerd --config "$1"',
    'sh', join(dir, 'containerd.toml'),
  ]);
  const ctr = (args: string[]): Promise<{ stdout: string }> => run('ctr', ['--address', plan.footprint.containerdSocket, '--namespace', 'k8s.io', ...args]);
  const answering = (what: string): Promise<void> =>
    context.waitFor(
      what,
      async () => {
        await ctr(['version']);
        return true;
      },
      [containerd],
    );
  await answering('containerd');
  const pauseArchive = join(dir, 'pause.oci.tar');
  await writeOciArchive(pauseArchive, {
    name: pauseImage,
    entries: [{ path: 'pause', kind: 'file', source: join(context.binDir, 'pause') }],
    entrypoint: ['/pause'],
    user: '65535:65535',
  });
  await ctr(['images', 'import', pauseArchive]);

  const containerdPid = containerd.child.pid;
  if (containerdPid === undefined) throw new Error('containerd did not start');
  const kubelet = context.start(
    'kubelet',
    [
      'exec', 'nsenter', `--target=${containerdPid}`, '--mount', '--', join(context.binDir, 'kubelet'),
      `--config=${join(dir, 'kubelet.yaml')}`,
      `--kubeconfig=${context.kubeconfigPath}`,
      `--root-dir=${join(dir, 'kubelet')}`,
      `--cert-dir=${join(dir, 'kubelet-certs')}`,
      `--hostname-override=${plan.name}`,
      `--node-ip=${plan.hostAddress}`,
      '--v=1',
    ],
    { PATH: '/usr/local/bin:/usr/bin:/bin' },
  );

  const node: RealNode = {
    name: plan.name,
    hostAddress: plan.hostAddress,
    subnet: plan.subnet,
    footprint: plan.footprint,
    async importImage(archivePath) {
      await ctr(['images', 'import', archivePath]);
    },
    async restartContainerd() {
      await stopComponent(containerd);
      // The kubelet and the shims hold the mount namespace, its tmpfs mounts included.
      const kubeletPid = kubelet.child.pid;
      if (kubeletPid === undefined) throw new Error('the kubelet is not running: no mount namespace to restart containerd in');
      containerd = context.start('containerd', [
        'exec', 'nsenter', `--target=${kubeletPid}`, '--mount', '--', 'containerd', '--config', join(dir, 'containerd.toml'),
      ]);
      await answering('containerd after its restart');
    },
  };
  return { node, components: [containerd, kubelet], serviceProxy };
}

function processCommandLine(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** The pids in a cgroup and all its descendants, in one hierarchy. */
function cgroupPids(path: string): number[] {
  if (!existsSync(path)) return [];
  const pids: number[] = [];
  try {
    for (const line of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n')) {
      if (line !== '') pids.push(Number(line));
    }
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) pids.push(...cgroupPids(join(path, entry.name)));
    }
  } catch {
    // Removed while being read.
  }
  return pids;
}

function removeCgroupTree(path: string): void {
  if (!existsSync(path)) return;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(path, entry.name));
  }
  rmdirSync(path);
}

/** The processes of a node: containerd, the kubelet, the shims, and every container (its cgroup's). */
export function nodeProcesses(footprint: RealNodeFootprint): number[] {
  const pids = new Set<number>();
  for (const mount of cgroupMounts()) {
    for (const pid of cgroupPids(join(mount, footprint.cgroupRoot))) pids.add(pid);
  }
  // containerd and the kubelet name files of the node's directory in their arguments, the
  // shims its socket; the control plane's components name only other files of the cluster's.
  const nodeDir = join(footprint.dir, 'node') + '/';
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if (processCommandLine(entry).some((arg) => arg.includes(nodeDir))) pids.add(Number(entry));
  }
  return [...pids];
}

/**
 * Undoes what a real node put on the host: kills its processes (containerd, the kubelet, the
 * shims, every container), removes its cgroups and its bridge, and restores the sysctls. Its
 * mounts and network namespaces go with the last process of its mount namespace. Synchronous,
 * so that it can run in an exit hook. Throws, naming what is left, if some of it will not go.
 */
export function cleanUpRealNode(footprint: RealNodeFootprint): void {
  const deadline = Date.now() + 20_000;
  let left = nodeProcesses(footprint);
  while (left.length > 0 && Date.now() < deadline) {
    left.forEach(kill);
    sleepSync(100);
    left = nodeProcesses(footprint);
  }
  const problems: string[] = [];
  if (left.length > 0) problems.push(`processes ${left.join(', ')} survived SIGKILL`);
  for (const mount of cgroupMounts()) {
    try {
      removeCgroupTree(join(mount, footprint.cgroupRoot));
    } catch (err) {
      problems.push(`cgroup ${join(mount, footprint.cgroupRoot)}: ${(err as Error).message}`);
    }
  }
  if (existsSync(`/sys/class/net/${footprint.bridge}`)) {
    try {
      execFileSync('ip', ['link', 'del', footprint.bridge], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      problems.push(`bridge ${footprint.bridge}: ${(err as Error).message}`);
    }
  }
  for (const [path, value] of Object.entries(footprint.sysctls)) {
    try {
      if (readFileSync(join('/proc/sys', path), 'utf8').trim() !== value) writeFileSync(join('/proc/sys', path), value);
    } catch (err) {
      problems.push(`sysctl ${path}=${value}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`the real node of ${footprint.dir} left on this machine: ${problems.join('; ')}`);
}

/** The footprint a cluster directory records, if it had a real node. */
export function readFootprint(dir: string): RealNodeFootprint | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, stateFile), 'utf8')) as RealNodeFootprint;
  } catch {
    return undefined;
  }
}
