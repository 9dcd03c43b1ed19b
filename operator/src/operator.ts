// Wires the operator together, one named step each: work queue, caches, poller, scheduler, controller,
// leader election, HTTP endpoints, shutdown.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ClusterAccess, KubeConfigLike } from './kube-client.ts';
import type { Logger } from 'pino';
import { evictionProblem } from '../../queue/src/redis-checks.ts';
import type { OperatorConfig } from './config.ts';
import { deploymentFields, podFields } from './cached-fields.ts';
import { PoolController } from './controller.ts';
import { FIELD_MANAGER, MANAGED_BY_LABEL, POOL_LABEL } from './desired-deployment.ts';
import { Informer, objectKey } from './informer.ts';
import { GROUP, KIND, VERSION, pauseOf } from './jobpool.ts';
import { deepEqual } from './status.ts';
import { KubeApi, apiMessage, type RawJobPool } from './kube.ts';
import { DEFAULT_TIMINGS, LeaderElector } from './leader-election.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { RedisPoller, type Sample } from './redis-poller.ts';
import { Scheduler } from './scheduler.ts';
import { WorkQueue, type Outcome } from './workqueue.ts';

export interface OperatorOptions {
  config: OperatorConfig;
  /** Where the API server is: the operator's own (bin.ts), or a client-node KubeConfig's current context. */
  kubeConfig: ClusterAccess | KubeConfigLike;
  log: Logger;
  /** Lease timings; controller-runtime's by default. */
  leaseTimings?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** Called when leadership is lost: the process must stop acting. Default: stop the operator. */
  onLostLeadership?: () => void;
  /** Informer tuning (tests). */
  informer?: { quietTimeoutMs?: number; relistIntervalMs?: number };
}

export interface RunningOperator {
  readonly metrics: Metrics;
  /** The bound port of the HTTP endpoints. */
  readonly port: number;
  isLeader(): boolean;
  stop(): Promise<void>;
}

const SCHEDULER_TICK_MS = 1000;

/** The three caches the controller reads. */
interface Caches {
  pools: Informer<RawJobPool>;
  deployments: Informer<V1Deployment>;
  pods: Informer<V1Pod>;
}

/** Whether this replica acts (it leads) and whether it is stopping; read by the queue, the caches' handlers and /readyz. */
interface RunState {
  leading: boolean;
  stopping: boolean;
}

/** Starts the operator; it acts once it leads (at once without leader election). */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { config, log } = options;
  const metrics = createMetrics();
  const api = new KubeApi(options.kubeConfig, (resource, verb) => metrics.apiWrites.inc({ resource, verb }));
  const state: RunState = { leading: false, stopping: false };

  // The caches feed the queue, whose handler is the controller, which reads the caches: the queue comes
  // first and finds the controller when it first calls it.
  const queue = createWorkQueue((key) => (state.leading ? controller.reconcile(key) : Promise.resolve(undefined)), metrics, log);
  const enqueue = (key: string, urgent = false): void => {
    if (state.leading) queue.add(key, urgent);
  };
  const caches = createCaches(api, config.watchNamespace, options.informer ?? {}, enqueue, metrics, log);
  // A sample that only repeats what the controller concluded wakes no reconcile; one that asks for another
  // size is handled before the reconciles that only bring a status up to date.
  const onSample = (key: string, sample: Sample): void => {
    if (controller.recordSample(key, sample)) enqueue(key, controller.wantsResize(key));
  };
  const poller = createPoller(onSample, metrics, log);
  const scheduler = createScheduler(config.identity, api, caches.pools, metrics, log);
  const controller = new PoolController({ api, ...caches, poller, scheduler, metrics, log, identity: config.identity, templatePolicy: config.templatePolicy });

  const { startLeading, stopLeading } = leadership(state, { caches, queue, poller, scheduler, controller, metrics });
  const elector = createElector(api, config, options.leaseTimings ?? DEFAULT_TIMINGS, log, startLeading, () => {
    stopLeading();
    if (options.onLostLeadership !== undefined) options.onLostLeadership();
    else void running.stop();
  });

  const server = await serveHttp(config.port, caches, metrics, state);
  const port = (server.address() as AddressInfo).port;

  caches.pools.start();
  caches.deployments.start();
  caches.pods.start();
  if (elector !== undefined) elector.start();
  else startLeading();
  log.info({ watchNamespace: config.watchNamespace || '(all)', leaderElection: config.leaderElection, identity: config.identity, port }, 'forkpool-operator started');

  const running: RunningOperator = {
    metrics,
    port,
    isLeader: () => state.leading,
    async stop() {
      if (state.stopping) return;
      state.stopping = true;
      stopLeading();
      await shutdown({ queue, elector, caches, poller, server, log });
      api.close();
    },
  };
  return running;
}

/** The work queue of pool keys: eight reconciles at once, retried with backoff after an error. */
function createWorkQueue(reconcile: (key: string) => Promise<Outcome | undefined>, metrics: Metrics, log: Logger): WorkQueue {
  return new WorkQueue(reconcile, {
    concurrency: 8,
    baseDelayMs: 500,
    maxDelayMs: 60_000,
    onDone: (key, ms, error) => {
      metrics.reconcileDuration.observe(ms / 1000);
      if (error !== undefined) {
        metrics.reconcileErrors.inc();
        log.warn({ pool: key, err: apiMessage(error) }, 'reconcile failed; retrying with backoff');
      }
    },
  });
}

/**
 * The caches of JobPools, of the Deployments the operator manages and of pool pods, in `namespace`
 * (all when empty). Changes of pools and Deployments enqueue their pool; pods are only read.
 */
function createCaches(
  api: KubeApi,
  namespace: string,
  tuning: NonNullable<OperatorOptions['informer']>,
  enqueue: (key: string) => void,
  metrics: Metrics,
  log: Logger,
): Caches {
  const paths = KubeApi.paths(namespace);
  const onRestart = (resource: string) => (reason: string, error: unknown) => {
    metrics.watchRestarts.inc({ resource, reason });
    const fields = { resource, reason, err: error === undefined ? undefined : apiMessage(error) };
    if (reason === 'error') log.warn(fields, 'watch failed; listing again after a backoff');
    else log.debug(fields, 'watch restarted');
  };
  const pools = new Informer<RawJobPool>({
    name: 'jobpools',
    list: (limit, cont) => api.listJobPools(namespace, limit, cont),
    watchPath: paths.jobPools,
    watch: api.watch,
    ...tuning,
    // Our own status writes change the resourceVersion, not the generation: they must not wake us. The
    // pause annotations change neither the spec nor the generation, and must.
    onChange: (type, obj, old) => {
      const pauseChanged = !deepEqual(pauseOf(old?.metadata?.annotations), pauseOf(obj.metadata?.annotations));
      if (type !== 'MODIFIED' || old?.metadata?.generation !== obj.metadata?.generation || pauseChanged) enqueue(objectKey(obj));
    },
    onRestart: onRestart('jobpools'),
  });
  const deployments = new Informer<V1Deployment>({
    name: 'deployments',
    list: (limit, cont) => api.listDeployments(namespace, `${MANAGED_BY_LABEL}=${FIELD_MANAGER}`, limit, cont),
    watchPath: paths.deployments,
    labelSelector: `${MANAGED_BY_LABEL}=${FIELD_MANAGER}`,
    watch: api.watch,
    keep: deploymentFields,
    ...tuning,
    onChange: (_type, obj) => {
      const pool = obj.metadata?.labels?.[POOL_LABEL];
      if (pool !== undefined) enqueue(`${obj.metadata?.namespace ?? ''}/${pool}`);
    },
    onRestart: onRestart('deployments'),
  });
  const pods = new Informer<V1Pod>({
    name: 'pods',
    list: (limit, cont) => api.listPods(namespace, POOL_LABEL, limit, cont),
    watchPath: paths.pods,
    labelSelector: POOL_LABEL,
    watch: api.watch,
    keep: podFields,
    ...tuning,
    onRestart: onRestart('pods'),
  });
  return { pools, deployments, pods };
}

/** The queue-depth poller; every sample goes to `onSample`, every round trip to the metrics. */
function createPoller(onSample: (key: string, sample: Sample) => void, metrics: Metrics, log: Logger): RedisPoller {
  /** the policy each Redis server's eviction metric is labelled with, to remove it when it changes */
  const evictionPolicies = new Map<string, string>();
  return new RedisPoller({
    log,
    onSample,
    onRoundTrip: (ms, _commands, error) => {
      metrics.redisRoundTrip.observe(ms / 1000);
      if (error !== undefined) metrics.redisPollErrors.inc();
    },
    onEvictionPolicy: (redis, policy) => {
      const was = evictionPolicies.get(redis);
      if (was !== undefined) metrics.redisEvictionPolicyOk.remove({ redis, policy: was });
      evictionPolicies.delete(redis);
      if (policy === undefined) return;
      evictionPolicies.set(redis, policy);
      metrics.redisEvictionPolicyOk.set({ redis, policy }, evictionProblem(policy) ? 0 : 1);
    },
  });
}

/** The scheduler of cron schedules and delayed jobs, counted in the metrics. */
/** The scheduler; fire times it skips as too late are a Warning Event on their pool. */
function createScheduler(identity: string, api: KubeApi, pools: Informer<RawJobPool>, metrics: Metrics, log: Logger): Scheduler {
  const onMissed = (key: string, schedule: string, count: number, more: boolean): void => {
    const { namespace, name, uid } = pools.get(key)?.metadata ?? {};
    if (namespace === undefined || name === undefined || uid === undefined) return;
    const message = `schedule ${schedule}: ${more ? `more than ${count}` : count} fire ${count === 1 && !more ? 'time was' : 'times were'} skipped, older than its startingDeadlineSeconds`;
    api.createEvent({ namespace, name, uid, apiVersion: `${GROUP}/${VERSION}`, kind: KIND }, 'Warning', 'MissedSchedule', message, identity).catch((err: unknown) => {
      // The scheduler's log has the count too: a lost Event loses no fire time.
      log.warn({ pool: key, err: apiMessage(err) }, 'could not record an Event');
    });
  };
  return new Scheduler({
    log,
    identity,
    onFired: () => metrics.scheduledJobs.inc(),
    onMissed,
    onMoved: (n) => metrics.delayedMoved.inc(n),
  });
}

/** Runs the scheduler every SCHEDULER_TICK_MS while started, never two ticks at once (also across a stop and a start). */
function schedulerTicks(scheduler: Scheduler): { start(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  return {
    start() {
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void scheduler.tick().finally(() => (busy = false));
      }, SCHEDULER_TICK_MS);
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/**
 * What taking and losing the lead do. Taking it: once the caches are synced, poll Redis, reconcile
 * every pool and fire schedules. Losing it: stop all that and forget every pool's state.
 */
function leadership(
  state: RunState,
  parts: { caches: Caches; queue: WorkQueue; poller: RedisPoller; scheduler: Scheduler; controller: PoolController; metrics: Metrics },
): { startLeading: () => void; stopLeading: () => void } {
  const { caches, queue, poller, controller, metrics } = parts;
  const ticks = schedulerTicks(parts.scheduler);
  return {
    startLeading: () => {
      state.leading = true;
      metrics.leader.set(1);
      void Promise.all([caches.pools.waitForSync(), caches.deployments.waitForSync(), caches.pods.waitForSync()]).then(() => {
        if (!state.leading) return;
        poller.setRunning(true);
        for (const p of caches.pools.list()) queue.add(objectKey(p));
        ticks.start();
      });
    },
    stopLeading: () => {
      state.leading = false;
      metrics.leader.set(0);
      ticks.stop();
      poller.setRunning(false);
      controller.forgetAll();
    },
  };
}

/** The Lease elector when leader election is on (else the operator leads at once). */
function createElector(
  api: KubeApi,
  config: OperatorConfig,
  timings: NonNullable<OperatorOptions['leaseTimings']>,
  log: Logger,
  onStartedLeading: () => void,
  onStoppedLeading: () => void,
): LeaderElector | undefined {
  if (!config.leaderElection) return undefined;
  return new LeaderElector(api, {
    namespace: config.leaseNamespace,
    name: config.leaseName,
    identity: config.identity,
    ...timings,
    log,
    onStartedLeading,
    onStoppedLeading,
  });
}

/** Serves /healthz, /readyz (caches synced and not stopping) and /metrics on `port` (0: any); resolves once listening. */
async function serveHttp(port: number, caches: Caches, metrics: Metrics, state: RunState): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = caches.pools.synced && caches.deployments.synced && caches.pods.synced && !state.stopping;
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'caches not synced\n');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  return server;
}

/**
 * Stops after leadership was given up: no new reconciles and the running ones finish, the Lease is
 * released, then the watches, the Redis connections and the HTTP endpoints close.
 */
async function shutdown(parts: { queue: WorkQueue; elector: LeaderElector | undefined; caches: Caches; poller: RedisPoller; server: Server; log: Logger }): Promise<void> {
  const { queue, elector, caches, poller, server, log } = parts;
  queue.stop();
  await queue.idle();
  await elector?.stop();
  await Promise.all([caches.pools.stop(), caches.deployments.stop(), caches.pods.stop()]);
  await poller.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  log.info('forkpool-operator stopped');
}
