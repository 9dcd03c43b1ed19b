// A real Kubernetes control plane for tests and demos: etcd, kube-apiserver (RBAC on), the
// controller manager, the scheduler and KWOK's fake nodes, each a process of the binaries that
// test/cluster/build.sh builds, on free loopback ports, with throw-away data under the OS temp dir.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { describeExit, logTail, startComponent, stopComponent, type Component } from './processes.ts';
import { cleanUpRealNode, planRealNode, serviceClusterIpRange, readFootprint, realNodeUnavailable, startRealNode, type RealNode, type RealNodePlan, type ServiceProxy } from './real-node.ts';

/** Where build.sh puts the binaries. */
export const binDir = join(import.meta.dirname, 'bin');

/** The annotation KWOK is told to look for: nodes carrying it are simulated. */
export const fakeNodeAnnotation = 'kwok.x-k8s.io/node';

export interface ClusterOptions {
  /** Number of fake nodes, named kwok-node-0, kwok-node-1, ... Default 1, or 0 with a real node. */
  nodes?: number;
  /**
   * Adds a real node: the kubelet on containerd, running real containers (see real-node.ts).
   * Needs root and Debian's containerd, runc and CNI plugins; realNodeUnavailable() says why
   * not. Default false.
   */
  realNode?: boolean;
  /** Progress messages, including the startup time. Default: standard error. */
  log?: (message: string) => void;
  /** Longest wait for any component to become ready, in ms. Default 120 s. */
  readyTimeoutMs?: number;
  /** Keep the temp dir (data, logs, kubeconfigs) after stop(), e.g. to read logs. Default false. */
  keepDir?: boolean;
  /** Called when a component dies while nobody asked it to stop. */
  onUnexpectedExit?: (name: string, description: string, logTail: string) => void;
}

/** A kubeconfig for a ServiceAccount, authenticating with a bound token. */
export interface ServiceAccountAccess {
  kubeconfigPath: string;
  token: string;
  /** A client-node KubeConfig loaded from kubeconfigPath. */
  kubeConfig(): KubeConfig;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Cluster {
  /** Admin kubeconfig (system:masters), certificate authority embedded. */
  readonly kubeconfigPath: string;
  /** The API server's URL, https://127.0.0.1:PORT. */
  readonly server: string;
  /** The admin's bearer token. */
  readonly adminToken: string;
  /** PEM of the authority that signed the API server's serving certificate. */
  readonly caPem: string;
  /** The temp dir holding data, logs and kubeconfigs. */
  readonly dir: string;
  /** Every node's name: the fake nodes', then the real node's. */
  readonly nodeNames: readonly string[];
  /** The real node, when asked for. */
  readonly realNode?: RealNode;
  /** Milliseconds from startCluster() to a ready cluster. */
  readonly startupMs: number;
  /** Paths of the binaries, for tests that run kubectl, helm or kwok themselves. */
  readonly bin: { readonly kubectl: string; readonly helm: string; readonly kwok: string };
  /** A client-node KubeConfig for the admin. */
  kubeConfig(): KubeConfig;
  /** Writes a kubeconfig acting as namespace/name's ServiceAccount (the account must exist). */
  serviceAccountAccess(namespace: string, name: string, expirationSeconds?: number): Promise<ServiceAccountAccess>;
  /** Runs kubectl against the cluster (admin, unless `kubeconfigPath` says otherwise). */
  kubectl(args: string[], kubeconfigPath?: string): Promise<KubectlResult>;
  /** Stops kube-apiserver alone; everything else keeps running and retries. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same data, and waits until it is ready. */
  startApiServer(): Promise<void>;
  /** stopApiServer() then startApiServer(). */
  restartApiServer(): Promise<void>;
  /** Stops every process this cluster started and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const binaries = {
  kube: join(binDir, 'kube'),
  kubectl: join(binDir, 'kubectl'),
  helm: join(binDir, 'helm'),
  kwok: join(binDir, 'kwok'),
};

function checkBinaries(): void {
  const missing = Object.values(binaries).filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new Error(
      `The test control plane is not built (missing ${missing.join(', ')}). ` +
        'Build it with `bash test/cluster/build.sh` (the first build takes several minutes; later runs are a no-op).',
    );
  }
}

/** Distinct free loopback ports, one per name, all held open at once so none is handed out twice. */
async function freePorts<Name extends string>(names: readonly Name[]): Promise<Record<Name, number>> {
  const servers = await Promise.all(
    names.map(() => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = {} as Record<Name, number>;
  names.forEach((name, i) => {
    ports[name] = (servers[i]?.address() as AddressInfo).port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

export { realNodeUnavailable } from './real-node.ts';

const dirPrefix = 'forkpool-cluster-';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp dirs of clusters whose process died without cleaning up (killed with
 * SIGKILL, say: its components died with it, but nothing could remove their data).
 */
function removeStaleDirs(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(dirPrefix)) continue;
    const dir = join(tmpdir(), entry);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
    } catch {
      continue; // not ours to judge, or still being set up
    }
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
      // A real node's containers outlive the process that started them: they go first.
      const footprint = readFootprint(dir);
      if (footprint !== undefined) cleanUpRealNode(footprint);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function token(): string {
  return randomBytes(24).toString('hex');
}

interface KubeconfigUser {
  name: string;
  token: string;
}

function kubeconfigYaml(server: string, caPem: string | undefined, caFile: string | undefined, user: KubeconfigUser): string {
  const cluster: Record<string, string> = { server };
  if (caPem !== undefined) cluster['certificate-authority-data'] = Buffer.from(caPem).toString('base64');
  if (caFile !== undefined) cluster['certificate-authority'] = caFile;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'forkpool-test', cluster }],
    users: [{ name: user.name, user: { token: user.token } }],
    contexts: [{ name: user.name, context: { cluster: 'forkpool-test', user: user.name, namespace: 'default' } }],
    'current-context': user.name,
  });
}

/**
 * GETs a path of a component's HTTPS port; resolves with the status, or undefined if nothing
 * answers. Without `ca` the certificate is not checked: the controller manager and the
 * scheduler serve with self-signed certificates of their own.
 */
function probe(port: number, path: string, bearer: string, ca: string | undefined): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const tls = ca === undefined ? { rejectUnauthorized: false } : { ca };
    const req = request(
      { host: '127.0.0.1', port, path, ...tls, headers: { authorization: `Bearer ${bearer}` }, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/**
 * Polls `check` until it returns true, failing early if a component it depends on exits. The
 * error names what was awaited and carries the tail of the relevant logs.
 */
async function waitFor(what: string, check: () => Promise<boolean>, watched: Component[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  let lastError: unknown;
  for (;;) {
    const dead = watched.find((c) => c.child.exitCode !== null || c.child.signalCode !== null);
    if (dead !== undefined) {
      throw new Error(`${describeExit(dead)} while waiting for ${what}\n${logTail(dead)}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${reason}\n${watched.map((c) => logTail(c)).join('\n')}`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 500);
  }
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 404;
}

/**
 * Starts a cluster and waits until it is ready; on any failure, stops what it started and throws.
 * A free port can be taken by someone else between being found and being bound: then it starts
 * again on new ports.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  checkBinaries();
  if (options.realNode === true) {
    const reason = realNodeUnavailable(binDir);
    if (reason !== undefined) throw new Error(`The test cluster cannot have a real node here: ${reason}`);
  }
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, started);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !err.message.includes('address already in use')) throw err;
      (options.log ?? console.error)(`test cluster: a port was taken meanwhile, starting again (${err.message.split('\n')[0]})`);
    }
  }
}

async function startOnce(options: ClusterOptions, started: number): Promise<Cluster> {
  const log = options.log ?? ((message: string) => console.error(message));
  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  const nodeCount = options.nodes ?? (options.realNode === true ? 0 : 1);

  removeStaleDirs();
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const path = (name: string): string => join(dir, name);
  writeFileSync(path('owner.pid'), String(process.pid));
  mkdirSync(path('logs'));
  mkdirSync(path('pki'));
  const realNodePlan: RealNodePlan | undefined = options.realNode === true ? planRealNode(dir) : undefined;

  const { etcdClientPort, etcdPeerPort, apiPort, controllerManagerPort, schedulerPort, kubeletPort, kubeletHealthzPort } = await freePorts([
    'etcdClientPort',
    'etcdPeerPort',
    'apiPort',
    'controllerManagerPort',
    'schedulerPort',
    'kubeletPort',
    'kubeletHealthzPort',
  ]);
  const server = `https://127.0.0.1:${apiPort}`;

  // The service-account signing key is made afresh for every cluster.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(path('pki/sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(path('pki/sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

  // Identities, as a static token file: the admin and KWOK (a stand-in for kubelets) are
  // system:masters; the controller manager and scheduler get the users upstream RBAC binds.
  const users = {
    admin: { name: 'admin', token: token() },
    controllerManager: { name: 'system:kube-controller-manager', token: token() },
    scheduler: { name: 'system:kube-scheduler', token: token() },
    kwok: { name: 'kwok', token: token() },
  };
  writeFileSync(
    path('pki/tokens.csv'),
    [
      `${users.admin.token},admin,uid-admin,"system:masters"`,
      `${users.controllerManager.token},system:kube-controller-manager,uid-kcm`,
      `${users.scheduler.token},system:kube-scheduler,uid-scheduler`,
      `${users.kwok.token},kwok,uid-kwok,"system:masters"`,
      ...(realNodePlan === undefined ? [] : [realNodePlan.tokenLine]),
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  // The serving certificate and its authority are made by the API server itself in pki/.
  const caFile = path('pki/apiserver.crt');
  for (const [file, user] of [['controller-manager.kubeconfig', users.controllerManager], ['scheduler.kubeconfig', users.scheduler], ['kwok.kubeconfig', users.kwok]] as const) {
    writeFileSync(path(file), kubeconfigYaml(server, undefined, caFile, user), { mode: 0o600 });
  }
  if (realNodePlan !== undefined) {
    const kubelet = { name: `system:node:${realNodePlan.name}`, token: realNodePlan.token };
    writeFileSync(path('kubelet.kubeconfig'), kubeconfigYaml(server, undefined, caFile, kubelet), { mode: 0o600 });
  }

  const components: Component[] = [];
  let apiServer: Component | undefined;
  /** The real node's stand-in for kube-proxy, for the `kubernetes` Service. */
  let serviceProxy: ServiceProxy | undefined;
  let stopped = false;

  const start = (name: string, args: string[], env: NodeJS.ProcessEnv = {}): Component => {
    const component = startComponent(name, binaries.kube, args, path(`logs/${name}.log`), env);
    components.push(component);
    void component.exited.then(() => {
      if (!component.stopping && !stopped) {
        const report = options.onUnexpectedExit ?? ((_name, description, tail) => log(`test cluster: ${description}\n${tail}`));
        report(name, describeExit(component), logTail(component));
      }
    });
    return component;
  };

  const apiServerArgs = [
    'kube-apiserver',
    `--etcd-servers=http://127.0.0.1:${etcdClientPort}`,
    `--cert-dir=${path('pki')}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
    '--allow-privileged=true',
    // The Node authorizer gives a kubelet what its own pods need, as on a real cluster.
    `--authorization-mode=${realNodePlan === undefined ? 'RBAC' : 'Node,RBAC'}`,
    // As OpenShift: setting blockOwnerDeletion needs update on the owner's finalizers.
    '--enable-admission-plugins=OwnerReferencesPermissionEnforcement',
    `--token-auth-file=${path('pki/tokens.csv')}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${path('pki/sa.pub')}`,
    `--service-account-signing-key-file=${path('pki/sa.key')}`,
    '--profiling=false',
    // On SIGTERM, drain ordinary requests, then give open watches 2 s rather than the
    // 60 s request timeout: restarts under a test stay quick.
    '--shutdown-send-retry-after=true',
    ...(realNodePlan?.apiServerArgs ?? []),
  ];

  let caPem = '';
  const waitForApiServer = async (component: Component): Promise<void> => {
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        if (!existsSync(caFile)) return false;
        caPem = readFileSync(caFile, 'utf8');
        const res = await probe(apiPort, '/readyz', users.admin.token, caPem);
        return res?.status === 200;
      },
      [component],
      timeoutMs,
    );
  };

  // If the process ends without stop(), the processes module kills the components; this removes
  // the data they leave.
  const removeDir = (): void => {
    if (realNodePlan !== undefined) {
      try {
        cleanUpRealNode(realNodePlan.footprint);
      } catch (err) {
        log(`test cluster: ${(err as Error).message}`);
      }
    }
    if (options.keepDir !== true) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', removeDir);

  const stopAll = async (): Promise<void> => {
    stopped = true;
    // The real node first, while the API server still answers it; then the other clients, the
    // API server, and its storage.
    if (realNodePlan !== undefined) {
      serviceProxy?.close();
      await Promise.all(components.filter((c) => c.name === 'kubelet').map((c) => stopComponent(c)));
      await Promise.all(components.filter((c) => c.name === 'containerd').map((c) => stopComponent(c)));
      cleanUpRealNode(realNodePlan.footprint);
    }
    const clients = components.filter((c) => c.name !== 'kube-apiserver' && c.name !== 'etcd');
    await Promise.all(clients.map((c) => stopComponent(c)));
    await Promise.all(components.filter((c) => c.name === 'kube-apiserver').map((c) => stopComponent(c)));
    await Promise.all(components.filter((c) => c.name === 'etcd').map((c) => stopComponent(c)));
    process.off('exit', removeDir);
    removeDir();
  };

  try {
    const etcd = start('etcd', [
      'etcd',
      `--data-dir=${path('etcd')}`,
      `--listen-client-url=http://127.0.0.1:${etcdClientPort}`,
      `--listen-peer-url=http://127.0.0.1:${etcdPeerPort}`,
    ]);
    await waitFor(
      'etcd',
      async () => {
        const res = await fetch(`http://127.0.0.1:${etcdClientPort}/health`).catch(() => undefined);
        return res?.ok === true;
      },
      [etcd],
      timeoutMs,
    );

    apiServer = start('kube-apiserver', apiServerArgs);
    await waitForApiServer(apiServer);
    const kubeconfigPath = path('admin.kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(server, caPem, undefined, users.admin), { mode: 0o600 });
    const adminConfig = (): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    };
    const core = adminConfig().makeApiClient(CoreV1Api);

    const controllerManager = start('kube-controller-manager', [
      'kube-controller-manager',
      `--kubeconfig=${path('controller-manager.kubeconfig')}`,
      `--authentication-kubeconfig=${path('controller-manager.kubeconfig')}`,
      `--authorization-kubeconfig=${path('controller-manager.kubeconfig')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${controllerManagerPort}`,
      `--cert-dir=${path('controller-manager-certs')}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${path('pki/sa.key')}`,
      `--root-ca-file=${caFile}`,
      '--controllers=' + [
        'deployment-controller',
        'replicaset-controller',
        'statefulset-controller',
        'daemonset-controller',
        'job-controller',
        'cronjob-controller',
        'garbage-collector-controller',
        'namespace-controller',
        'serviceaccount-controller',
        'serviceaccount-token-controller',
        'root-ca-certificate-publisher-controller',
        'endpoints-controller',
        'endpointslice-controller',
        'disruption-controller',
        'horizontal-pod-autoscaler-controller',
        'pod-garbage-collector-controller',
        // Lifts the not-ready taint that admission puts on every new node once kwok reports it Ready.
        'node-lifecycle-controller',
        'resourcequota-controller',
        'ttl-after-finished-controller',
        'clusterrole-aggregation-controller',
      ].join(','),
      '--profiling=false',
    ]);
    const scheduler = start('kube-scheduler', [
      'kube-scheduler',
      `--kubeconfig=${path('scheduler.kubeconfig')}`,
      `--authentication-kubeconfig=${path('scheduler.kubeconfig')}`,
      `--authorization-kubeconfig=${path('scheduler.kubeconfig')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      '--leader-elect=false',
      '--profiling=false',
    ]);
    // KWOK reads ~/.kwok/kwok.yaml when it exists: a HOME of its own keeps a developer's out.
    mkdirSync(path('kwok-home'));
    const kwok = start(
      'kwok',
      [
        'exec',
        binaries.kwok,
        `--kubeconfig=${path('kwok.kubeconfig')}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${fakeNodeAnnotation}=fake`,
        '--node-lease-duration-seconds=40',
        '--cidr=10.244.0.0/16',
        '--node-ip=10.240.0.1',
      ],
      { HOME: path('kwok-home') },
    );

    const fakeNodeNames = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
    for (const name of fakeNodeNames) {
      const node: V1Node = {
        metadata: {
          name,
          annotations: { [fakeNodeAnnotation]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
        },
        status: {
          capacity: { cpu: '16', memory: '64Gi', pods: '110' },
          allocatable: { cpu: '16', memory: '64Gi', pods: '110' },
        },
      };
      await core.createNode({ body: node });
    }

    const everything = [etcd, apiServer, controllerManager, scheduler, kwok];
    let realNode: RealNode | undefined;
    if (realNodePlan !== undefined) {
      const nodeStart = await startRealNode(realNodePlan, {
        binDir,
        kubeconfigPath: path('kubelet.kubeconfig'),
        kubeletPort,
        kubeletHealthzPort,
        apiServerPort: apiPort,
        start: (name, args, env) => start(name, args, env),
        waitFor: (what, check, watched) => waitFor(what, check, watched, timeoutMs),
      });
      realNode = nodeStart.node;
      serviceProxy = nodeStart.serviceProxy;
      everything.push(...nodeStart.components);
    }
    const nodeNames = realNode === undefined ? fakeNodeNames : [...fakeNodeNames, realNode.name];
    await Promise.all([
      waitFor(
        `${nodeNames.join(', ')} Ready (${realNode === undefined ? 'kwok' : 'kwok, kubelet'}) and schedulable (node lifecycle controller)`,
        async () => {
          const nodes = await core.listNode();
          const ready = nodes.items.filter(
            (n) =>
              n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
              !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready'),
          );
          return ready.length >= nodeNames.length;
        },
        everything,
        timeoutMs,
      ),
      waitFor(
        'the default ServiceAccount (kube-controller-manager)',
        async () => {
          try {
            await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
            return true;
          } catch (err) {
            if (isNotFound(err)) return false;
            throw err;
          }
        },
        everything,
        timeoutMs,
      ),
      waitFor(
        'kube-scheduler /healthz',
        async () => (await probe(schedulerPort, '/healthz', users.admin.token, undefined))?.status === 200,
        everything,
        timeoutMs,
      ),
    ]);

    const startupMs = Date.now() - started;
    log(`test cluster ready in ${(startupMs / 1000).toFixed(1)} s: ${server} (logs in ${path('logs')})`);

    const kubectl = (args: string[], kubeconfig = kubeconfigPath): Promise<KubectlResult> =>
      new Promise((resolve) => {
        execFile(binaries.kubectl, args, { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
          resolve({ code, stdout, stderr });
        });
      });

    const cluster: Cluster = {
      kubeconfigPath,
      server,
      adminToken: users.admin.token,
      caPem,
      dir,
      nodeNames,
      ...(realNode !== undefined && { realNode }),
      startupMs,
      bin: { kubectl: binaries.kubectl, helm: binaries.helm, kwok: binaries.kwok },
      kubeConfig: adminConfig,
      async serviceAccountAccess(namespace, name, expirationSeconds = 3600) {
        const request = await core.createNamespacedServiceAccountToken({
          namespace,
          name,
          body: { spec: { audiences: [], expirationSeconds } },
        });
        const saToken = request.status?.token;
        if (saToken === undefined) throw new Error(`The API server returned no token for ServiceAccount ${namespace}/${name}`);
        const saPath = path(`sa-${namespace}-${name}-${randomBytes(4).toString('hex')}.kubeconfig`);
        writeFileSync(saPath, kubeconfigYaml(server, caPem, undefined, { name: `system:serviceaccount:${namespace}:${name}`, token: saToken }), { mode: 0o600 });
        return {
          kubeconfigPath: saPath,
          token: saToken,
          kubeConfig() {
            const kc = new KubeConfig();
            kc.loadFromFile(saPath);
            return kc;
          },
        };
      },
      kubectl,
      async stopApiServer() {
        if (apiServer !== undefined) await stopComponent(apiServer);
      },
      async startApiServer() {
        if (apiServer !== undefined && apiServer.child.exitCode === null && apiServer.child.signalCode === null) return;
        apiServer = start('kube-apiserver', apiServerArgs);
        await waitForApiServer(apiServer);
      },
      async restartApiServer() {
        await cluster.stopApiServer();
        await cluster.startApiServer();
      },
      async stop() {
        if (stopped) return;
        await stopAll();
      },
    };
    return cluster;
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}
