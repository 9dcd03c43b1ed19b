// The pod runner: part of the end-to-end test harness, not of the product. KWOK's fake nodes only
// pretend to run pods; this makes JobPool worker pods do real work. It watches the pods that carry
// the operator's pool label and, for each one that is Running on a fake node, starts the worker
// container as a local process (`node worker-image/src/bin.ts`: the pod's image is not runnable
// here, so the container is mapped to the local worker) with the pod's environment resolved. When
// the pod is deleted (deletionTimestamp set, or gone) the process gets SIGTERM, then SIGKILL once
// the pod's terminationGracePeriodSeconds have passed. A process that exits while its pod lives
// is started again after a short delay, as the kubelet restarts a container (restartPolicy Always).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, Watch, type KubeConfig, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { POOL_LABEL } from '../../operator/src/desired-deployment.ts';
import { onLogLines } from '../helpers/worker.ts';

const root = new URL('../../', import.meta.url).pathname;
export const WORKER_BIN = join(root, 'worker-image/src/bin.ts');

export interface PodRunnerOptions {
  kubeConfig: KubeConfig;
  /** Names of the fake (KWOK) nodes whose pods are run here. */
  nodeNames: readonly string[];
  /** JOBS_DIR of every worker process. */
  jobsDir: string;
  /** One log file per pod process is written here (`<namespace>_<pod>_<n>.log`). */
  logDir: string;
  /** Added to (and winning over) every worker's environment, e.g. short heartbeats for chaos tests. */
  extraEnv?: Record<string, string>;
  /** How often every pod is re-listed besides the watch, in ms. Default 1000. */
  resyncMs?: number;
  /** Delay before a process that exited while its pod lives is started again, in ms. Default 1000. */
  restartDelayMs?: number;
  log?: (message: string) => void;
}

export interface PodProcess {
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly startedAt: number;
  /** Parsed JSON log lines (stdout) of the worker. */
  readonly logs: Record<string, unknown>[];
  /** Set once the pod was deleted and SIGTERM sent. */
  terminatingSince: number | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
}

export interface PodRunner {
  /** Every process started so far, running or not, in start order. */
  readonly processes: readonly PodProcess[];
  /** Processes still running. */
  running(): PodProcess[];
  /** Every log line of every worker so far. */
  allLogs(): Record<string, unknown>[];
  /** SIGKILLs every process and stops watching; resolves once they have all exited. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The container the operator puts the worker env on: `worker`, else the first. */
function workerContainer(pod: V1Pod): V1Container | undefined {
  const containers = pod.spec?.containers ?? [];
  return containers.find((c) => c.name === 'worker') ?? containers[0];
}

export async function startPodRunner(options: PodRunnerOptions): Promise<PodRunner> {
  const { kubeConfig, jobsDir, logDir } = options;
  const log = options.log ?? ((m: string) => console.error(m));
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const nodes = new Set(options.nodeNames);
  mkdirSync(logDir, { recursive: true });

  const processes: PodProcess[] = [];
  /** By pod uid: the latest process of the pod, also after it exited (until it is restarted). */
  const byUid = new Map<string, PodProcess>();
  /** By pod uid: the latest pod object seen, for restarts; removed when the pod is gone. */
  const latest = new Map<string, V1Pod>();
  /** Uids being started (env resolution awaits the API). */
  const starting = new Set<string>();
  const killTimers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const resolveEnv = async (pod: V1Pod, container: V1Container): Promise<Record<string, string>> => {
    const env: Record<string, string> = {};
    const namespace = pod.metadata?.namespace ?? 'default';
    for (const e of container.env ?? []) {
      if (e.value !== undefined) {
        // $(VAR) references to earlier variables, as the kubelet expands them.
        env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m);
      } else if (e.valueFrom?.secretKeyRef !== undefined) {
        const ref = e.valueFrom.secretKeyRef;
        try {
          const secret = await core.readNamespacedSecret({ namespace, name: ref.name ?? '' });
          const data = secret.data?.[ref.key];
          if (data !== undefined) env[e.name] = Buffer.from(data, 'base64').toString('utf8');
          else if (ref.optional !== true) throw new Error(`key ${ref.key} missing`);
        } catch (err) {
          if (ref.optional !== true) throw new Error(`secret ${namespace}/${ref.name ?? ''} for ${e.name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
      } else if (e.valueFrom?.configMapKeyRef !== undefined) {
        const ref = e.valueFrom.configMapKeyRef;
        const cm = await core.readNamespacedConfigMap({ namespace, name: ref.name ?? '' });
        const value = cm.data?.[ref.key];
        if (value !== undefined) env[e.name] = value;
      } else if (e.valueFrom?.fieldRef !== undefined) {
        const path = e.valueFrom.fieldRef.fieldPath;
        const value =
          path === 'metadata.name' ? pod.metadata?.name
          : path === 'metadata.namespace' ? pod.metadata?.namespace
          : path === 'metadata.uid' ? pod.metadata?.uid
          : path === 'spec.nodeName' ? pod.spec?.nodeName
          : path === 'status.podIP' ? pod.status?.podIP
          : undefined;
        if (value !== undefined) env[e.name] = value;
      }
    }
    return env;
  };

  const terminate = (p: PodProcess, graceSeconds: number, why: string): void => {
    if (p.terminatingSince !== undefined || p.exit !== undefined) return;
    p.terminatingSince = Date.now();
    log(`pod runner: ${p.namespace}/${p.pod} ${why}: SIGTERM to pid ${p.pid} (grace ${graceSeconds} s)`);
    p.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      killTimers.delete(timer);
      if (p.exit === undefined) {
        log(`pod runner: ${p.namespace}/${p.pod} grace period over: SIGKILL to pid ${p.pid}`);
        p.proc.kill('SIGKILL');
      }
    }, graceSeconds * 1000);
    killTimers.add(timer);
  };

  const start = async (pod: V1Pod): Promise<void> => {
    const uid = pod.metadata?.uid ?? '';
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? 'default';
    const container = workerContainer(pod);
    if (container === undefined) return;
    starting.add(uid);
    try {
      const podEnv = await resolveEnv(pod, container);
      if (stopped || byUid.has(uid) || !latest.has(uid)) return;
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...podEnv,
        // The worker id is `host:pid-start:queues`: the operator's scale-down safety finds a pod's jobs by its host.
        HOSTNAME: name,
        JOBS_DIR: jobsDir,
        PORT: '0',
        ...options.extraEnv,
      };
      delete env['NODE_OPTIONS'];
      delete env['NODE_TEST_CONTEXT'];
      const n = processes.filter((p) => p.uid === uid).length;
      const out: WriteStream = createWriteStream(join(logDir, `${namespace}_${name}_${n}.log`), { flags: 'a' });
      const proc = spawn(process.execPath, [WORKER_BIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let resolveExited!: () => void;
      const exited = new Promise<void>((r) => (resolveExited = r));
      const entry: PodProcess = {
        namespace,
        pod: name,
        uid,
        proc,
        pid: proc.pid ?? 0,
        startedAt: Date.now(),
        logs: [],
        terminatingSince: undefined,
        exit: undefined,
        exited,
      };
      processes.push(entry);
      byUid.set(uid, entry);
      proc.stdout.on('data', (chunk: Buffer) => out.write(chunk));
      onLogLines(proc.stdout, (line) => entry.logs.push(line));
      proc.stderr.on('data', (chunk: Buffer) => out.write(chunk));
      proc.on('error', (err) => log(`pod runner: ${namespace}/${name}: ${err.message}`));
      proc.on('exit', (code, signal) => {
        entry.exit = { code, signal };
        out.end();
        if (!stopped) log(`pod runner: ${namespace}/${name} pid ${entry.pid} exited (${signal ?? `code ${String(code)}`})`);
        resolveExited();
        if (!stopped && entry.terminatingSince === undefined) {
          // The container died while its pod lives: restart it, as the kubelet would.
          const timer = setTimeout(() => {
            killTimers.delete(timer);
            if (byUid.get(uid) !== entry) return;
            byUid.delete(uid);
            const pod = latest.get(uid);
            if (pod !== undefined) handle(pod);
          }, options.restartDelayMs ?? 1000);
          killTimers.add(timer);
        }
      });
      log(`pod runner: ${namespace}/${name} started as pid ${entry.pid}`);
    } catch (err) {
      log(`pod runner: cannot start ${namespace}/${name}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      starting.delete(uid);
    }
  };

  /** Brings one pod's process in line with the pod. */
  const handle = (pod: V1Pod): void => {
    if (stopped) return;
    const uid = pod.metadata?.uid;
    if (uid === undefined) return;
    latest.set(uid, pod);
    const existing = byUid.get(uid);
    const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (pod.metadata?.deletionTimestamp != null) {
      if (existing !== undefined) terminate(existing, Math.min(grace, pod.metadata.deletionGracePeriodSeconds ?? grace), 'deleted');
      return;
    }
    if (existing !== undefined || starting.has(uid)) return;
    if (pod.status?.phase !== 'Running' || !nodes.has(pod.spec?.nodeName ?? '')) return;
    void start(pod);
  };

  /** Pods seen in the latest list: a process whose pod is gone is terminated. */
  const graceOf = new Map<string, number>();
  const resync = async (): Promise<void> => {
    const list = await core.listPodForAllNamespaces({ labelSelector: POOL_LABEL });
    const seen = new Set<string>();
    for (const pod of list.items) {
      const uid = pod.metadata?.uid;
      if (uid !== undefined) {
        seen.add(uid);
        graceOf.set(uid, pod.spec?.terminationGracePeriodSeconds ?? 30);
      }
      handle(pod);
    }
    for (const p of processes) {
      if (!seen.has(p.uid) && !starting.has(p.uid)) {
        latest.delete(p.uid);
        terminate(p, graceOf.get(p.uid) ?? 30, 'gone');
      }
    }
  };

  // The watch reacts at once; the periodic list covers what a silent or broken watch misses.
  const watch = new Watch(kubeConfig);
  let abort: AbortController | undefined;
  const runWatch = async (): Promise<void> => {
    while (!stopped) {
      try {
        const done = new Promise<void>((resolve) => {
          void watch
            .watch(
              '/api/v1/pods',
              { labelSelector: POOL_LABEL, allowWatchBookmarks: true },
              (type: string, obj: V1Pod) => {
                if (type === 'DELETED') {
                  if (obj.metadata?.uid !== undefined) latest.delete(obj.metadata.uid);
                  const p = obj.metadata?.uid === undefined ? undefined : byUid.get(obj.metadata.uid);
                  if (p !== undefined) terminate(p, obj.spec?.terminationGracePeriodSeconds ?? 30, 'gone');
                } else if (type === 'ADDED' || type === 'MODIFIED') {
                  if (obj.metadata?.uid !== undefined) graceOf.set(obj.metadata.uid, obj.spec?.terminationGracePeriodSeconds ?? 30);
                  handle(obj);
                }
              },
              () => resolve(),
            )
            .then((ctl) => {
              abort = ctl;
              if (stopped) ctl.abort(); // stop() came while connecting
            }, () => resolve());
        });
        await done;
      } catch {
        // restarted below
      }
      if (!stopped) await sleep(500);
    }
  };
  const resyncMs = options.resyncMs ?? 1000;
  const resyncLoop = async (): Promise<void> => {
    while (!stopped) {
      try {
        await resync();
      } catch (err) {
        log(`pod runner: list failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      await sleep(resyncMs);
    }
  };
  await resync();
  const loops = Promise.all([runWatch(), resyncLoop()]);

  // A test process that dies must not leave workers behind.
  const killAll = (): void => {
    for (const p of processes) if (p.exit === undefined) p.proc.kill('SIGKILL');
  };
  process.once('exit', killAll);

  return {
    processes,
    running: () => processes.filter((p) => p.exit === undefined),
    allLogs: () => processes.flatMap((p) => p.logs),
    async stop() {
      if (stopped) return;
      stopped = true;
      abort?.abort();
      for (const t of killTimers) clearTimeout(t);
      killAll();
      await Promise.all(processes.map((p) => p.exited));
      await loops;
      process.off('exit', killAll);
    },
  };
}
