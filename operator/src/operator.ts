// Wires the operator together: caches, work queue, poller, scheduler, leader election, HTTP endpoints.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorConfig } from './config.ts';
import { PoolController } from './controller.ts';
import { FIELD_MANAGER, MANAGED_BY_LABEL, POOL_LABEL } from './desired-deployment.ts';
import { Informer, objectKey } from './informer.ts';
import { KubeApi, apiMessage, type RawJobPool } from './kube.ts';
import { DEFAULT_TIMINGS, LeaderElector } from './leader-election.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { RedisPoller } from './redis-poller.ts';
import { Scheduler } from './scheduler.ts';
import { WorkQueue } from './workqueue.ts';

export interface OperatorOptions {
  config: OperatorConfig;
  kubeConfig: KubeConfig;
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

/** Starts the operator; it acts once it leads (at once without leader election). */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { config, log } = options;
  const api = new KubeApi(options.kubeConfig);
  const metrics = createMetrics();
  const paths = KubeApi.paths(config.watchNamespace);
  const ns = config.watchNamespace;
  let leading = false;
  let stopping = false;

  const onRestart = (resource: string) => (reason: string, error: unknown) => {
    metrics.watchRestarts.inc({ resource, reason });
    const fields = { resource, reason, err: error === undefined ? undefined : apiMessage(error) };
    if (reason === 'error') log.warn(fields, 'watch failed; listing again after a backoff');
    else log.debug(fields, 'watch restarted');
  };
  const tuning = options.informer ?? {};

  // eslint-disable-next-line prefer-const -- the queue's handler needs the controller, built after the caches.
  let queue: WorkQueue;
  const enqueue = (key: string): void => {
    if (leading) queue.add(key);
  };

  const pools = new Informer<RawJobPool>({
    name: 'jobpools',
    list: (limit, cont) => api.listJobPools(ns, limit, cont),
    watchPath: paths.jobPools,
    watch: api.watch,
    ...tuning,
    // Our own status writes change the resourceVersion, not the generation: they must not wake us.
    onChange: (type, obj, old) => {
      if (type !== 'MODIFIED' || old?.metadata?.generation !== obj.metadata?.generation) enqueue(objectKey(obj));
    },
    onRestart: onRestart('jobpools'),
  });
  const deployments = new Informer<V1Deployment>({
    name: 'deployments',
    list: (limit, cont) => api.listDeployments(ns, `${MANAGED_BY_LABEL}=${FIELD_MANAGER}`, limit, cont),
    watchPath: paths.deployments,
    labelSelector: `${MANAGED_BY_LABEL}=${FIELD_MANAGER}`,
    watch: api.watch,
    ...tuning,
    onChange: (_type, obj) => {
      const pool = obj.metadata?.labels?.[POOL_LABEL];
      if (pool !== undefined) enqueue(`${obj.metadata?.namespace ?? ''}/${pool}`);
    },
    onRestart: onRestart('deployments'),
  });
  const pods = new Informer<V1Pod>({
    name: 'pods',
    list: (limit, cont) => api.listPods(ns, POOL_LABEL, limit, cont),
    watchPath: paths.pods,
    labelSelector: POOL_LABEL,
    watch: api.watch,
    ...tuning,
    onRestart: onRestart('pods'),
  });

  const poller = new RedisPoller({
    log,
    onSample: (key, sample) => {
      if (controller.recordSample(key, sample)) enqueue(key);
    },
    onRoundTrip: (ms, _commands, error) => {
      metrics.redisRoundTrip.observe(ms / 1000);
      if (error !== undefined) metrics.redisPollErrors.inc();
    },
  });
  const scheduler = new Scheduler({
    log,
    identity: config.identity,
    onFired: () => metrics.scheduledJobs.inc(),
    onMoved: (n) => metrics.delayedMoved.inc(n),
  });
  const controller = new PoolController({ api, pools, deployments, pods, poller, scheduler, metrics, log, identity: config.identity });
  queue = new WorkQueue((key) => (leading ? controller.reconcile(key) : Promise.resolve(undefined)), {
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

  let schedulerTimer: NodeJS.Timeout | undefined;
  let schedulerBusy = false;
  const startLeading = (): void => {
    leading = true;
    metrics.leader.set(1);
    void Promise.all([pools.waitForSync(), deployments.waitForSync(), pods.waitForSync()]).then(() => {
      if (!leading) return;
      poller.setRunning(true);
      for (const p of pools.list()) queue.add(objectKey(p));
      schedulerTimer = setInterval(() => {
        if (schedulerBusy) return;
        schedulerBusy = true;
        void scheduler.tick().finally(() => (schedulerBusy = false));
      }, SCHEDULER_TICK_MS);
    });
  };
  const stopLeading = (): void => {
    leading = false;
    metrics.leader.set(0);
    clearInterval(schedulerTimer);
    poller.setRunning(false);
    controller.forgetAll();
  };

  const elector = config.leaderElection
    ? new LeaderElector(api, {
        namespace: config.leaseNamespace,
        name: config.leaseName,
        identity: config.identity,
        ...(options.leaseTimings ?? DEFAULT_TIMINGS),
        log,
        onStartedLeading: startLeading,
        onStoppedLeading: () => {
          stopLeading();
          if (options.onLostLeadership !== undefined) options.onLostLeadership();
          else void running.stop();
        },
      })
    : undefined;

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = pools.synced && deployments.synced && pods.synced && !stopping;
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
    server.listen(config.port, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  pools.start();
  deployments.start();
  pods.start();
  if (elector !== undefined) elector.start();
  else startLeading();
  log.info({ watchNamespace: ns || '(all)', leaderElection: config.leaderElection, identity: config.identity, port }, 'forkpool-operator started');

  const running: RunningOperator = {
    metrics,
    port,
    isLeader: () => leading,
    async stop() {
      if (stopping) return;
      stopping = true;
      stopLeading();
      queue.stop();
      await queue.idle();
      await elector?.stop();
      await Promise.all([pools.stop(), deployments.stop(), pods.stop()]);
      await poller.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      log.info('forkpool-operator stopped');
    },
  };
  return running;
}
