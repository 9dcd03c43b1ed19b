// Reconcile of one JobPool: read the world (caches, the latest queue sample), decide, converge
// (Deployment by server-side apply, pod deletion costs before a scale-down), report (status, Event).
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Cron } from 'croner';
import type { Logger } from 'pino';
import { decideReplicas, type ScaleDecision } from './autoscaler.ts';
import { desiredDeployment, needsApply, POOL_LABEL, poolSelector } from './desired-deployment.ts';
import type { Informer } from './informer.ts';
import { GROUP, KIND, VERSION, parseJobPool, type JobPool, type Schedule } from './jobpool.ts';
import { apiMessage, type KubeApi, type RawJobPool } from './kube.ts';
import type { Metrics } from './metrics.ts';
import type { RedisPoller, Sample } from './redis-poller.ts';
import { deletionCostPatches, jobsByPod, DELETION_COST_ANNOTATION } from './scale-down.ts';
import { compileSchedule, type Scheduler } from './scheduler.ts';
import { computeStatus, deepEqual, statusNeedsWrite } from './status.ts';
import type { Outcome } from './workqueue.ts';

/** Depth-only status changes are written at most this often (the metrics endpoint has them live). */
const STATUS_METRICS_INTERVAL_MS = 10_000;
/** A Redis URL read from a Secret is read again this often, in case the Secret changed. */
const SECRET_REFRESH_MS = 5 * 60_000;
/** A pool whose spec cannot be used is looked at again this often (a missing Secret may appear). */
const SPEC_ERROR_RETRY_MS = 30_000;

interface PoolState {
  /** What was derived from one generation of the spec (of one object: a pool re-created under the same name starts afresh). */
  uid: string;
  resolvedGeneration: number;
  resolvedAt: number;
  url: string | undefined;
  specError: { reason: string; message: string } | undefined;
  schedules: { schedule: Schedule; cron: Cron }[];
  sample: Sample | undefined;
  demandHighAt: number | undefined;
  lastScaleTime: string | undefined;
  lastStatusWrite: number | undefined;
  /** The desired Deployment of the resolved generation, without replicas (built once, not every tick). */
  manifest: V1Deployment | undefined;
  /** The reason of the last decision, and whether a depth-only status change is waiting to be written. */
  lastReason: ScaleDecision['reason'] | undefined;
  statusDeferred: boolean;
}

/** Decisions that depend on the clock, not only on the sample: their pools are reconciled every tick. */
const TIME_DRIVEN: ReadonlySet<string> = new Set(['ScaleDownDelayed']);
/** Decisions after which demand was at least the current size (so the scale-down delay restarts). */
const DEMAND_HIGH: ReadonlySet<string> = new Set(['DemandMet', 'AtMaxReplicas', 'AtMinReplicas', 'ScaledUp', 'ScaledDown']);

export interface ControllerDeps {
  api: KubeApi;
  pools: Informer<RawJobPool>;
  deployments: Informer<V1Deployment>;
  pods: Informer<V1Pod>;
  poller: RedisPoller;
  scheduler: Scheduler;
  metrics: Metrics;
  log: Logger;
  identity: string;
}

export class PoolController {
  readonly #d: ControllerDeps;
  readonly #state = new Map<string, PoolState>();
  /** The last parse of each pool, by resourceVersion: polls reconcile every pool every tick. */
  readonly #parsed = new Map<string, { resourceVersion: string | undefined; result: ReturnType<typeof parseJobPool> }>();

  constructor(deps: ControllerDeps) {
    this.#d = deps;
  }

  /**
   * Records a queue sample of a pool and says whether it needs a reconcile: with many idle pools most
   * samples repeat the last one, and a reconcile would only confirm it (KEDA's filter, in spirit).
   * Changes of the pool or its Deployment wake a reconcile through their watches anyway.
   */
  recordSample(key: string, sample: Sample): boolean {
    const st = this.#state.get(key);
    if (st === undefined) return true;
    const previous = st.sample;
    st.sample = sample;
    if (previous === undefined || st.lastReason === undefined || st.statusDeferred || TIME_DRIVEN.has(st.lastReason)) return true;
    if (previous.error !== sample.error || !deepEqual(previous.queues, sample.queues)) return true;
    // What a reconcile would have concluded: demand is still as high as the size.
    if (DEMAND_HIGH.has(st.lastReason)) st.demandHighAt = sample.at;
    return false;
  }

  /** Forgets everything about pools (leadership lost or operator stopping). */
  forgetAll(): void {
    this.#state.clear();
    this.#parsed.clear();
  }

  async reconcile(key: string): Promise<Outcome | undefined> {
    const { pools, poller, scheduler } = this.#d;
    const log = this.#d.log.child({ pool: key });
    const raw = pools.get(key);
    if (raw === undefined) {
      // Deleted: the garbage collector removes the Deployment through its owner reference.
      this.#state.delete(key);
      this.#parsed.delete(key);
      poller.remove(key);
      scheduler.removePool(key);
      this.#dropMetrics(key);
      return undefined;
    }
    const parsed = this.#parse(key, raw);
    if (!parsed.ok) {
      poller.remove(key);
      scheduler.removePool(key);
      await this.#writeInvalid(raw, parsed.error, log);
      return { requeueAfterMs: SPEC_ERROR_RETRY_MS };
    }
    const pool = parsed.pool;
    const st = await this.#resolve(key, pool, log);
    if (st.url !== undefined) {
      poller.upsert(key, {
        url: st.url,
        namespace: pool.spec.redis.namespace,
        queues: pool.spec.queues,
        intervalMs: pool.spec.scaling.pollIntervalSeconds * 1000,
      });
      scheduler.setPool(key, poller.client(st.url), pool.spec.redis.namespace, st.schedules);
    } else {
      poller.remove(key);
      scheduler.removePool(key);
    }

    const live = this.#d.deployments.get(key);
    const current = live?.spec?.replicas ?? 0;
    const sample = st.sample;
    const waiting = sample?.queues?.reduce((n, q) => n + q.waiting, 0);
    const inFlight = sample?.queues?.reduce((n, q) => n + q.inFlight, 0);
    const { scaling } = pool.spec;
    // The decision is as of the sample's time, so a reconcile woken by anything else repeats it exactly.
    const decided: ScaleDecision = decideReplicas({
      waiting,
      inFlight,
      current,
      minReplicas: scaling.minReplicas,
      maxReplicas: scaling.maxReplicas,
      jobsPerReplica: scaling.jobsPerReplica,
      scaleDownDelaySeconds: scaling.scaleDownDelaySeconds,
      fixedReplicas: pool.spec.replicas,
      demandHighAt: st.demandHighAt,
      now: sample?.at ?? Date.now(),
    });
    // Before the first reading the size only follows the bounds; that is not a Redis failure.
    const decision: ScaleDecision =
      sample === undefined && decided.reason === 'RedisUnreachable'
        ? { ...decided, reason: current < decided.desired ? 'AtMinReplicas' : 'DemandMet', message: `queues not read yet: ${decided.desired} replicas to start with` }
        : decided;
    const desired = decision.desired;

    if (live !== undefined && desired < current && st.url !== undefined) {
      await this.#protectBusyPods(pool, st.url, log);
    }
    st.manifest ??= desiredDeployment(pool, 0);
    const manifest: V1Deployment = { ...st.manifest, spec: { ...st.manifest.spec, replicas: desired } as V1Deployment['spec'] };
    if (needsApply(manifest, live)) {
      const applied = await this.#d.api.applyDeployment(manifest);
      this.#d.deployments.remember(applied);
      log.debug({ replicas: desired }, 'applied the Deployment');
    }
    st.demandHighAt = decision.demandHighAt;
    st.lastReason = sample === undefined ? undefined : decision.reason;
    if (desired !== current) {
      st.lastScaleTime = new Date().toISOString();
      await this.#scaleEvent(pool, current, desired, decision, log);
    }

    const dep = this.#d.deployments.get(key);
    const status = computeStatus(
      {
        generation: pool.metadata.generation,
        selector: poolSelector(pool),
        specError: st.specError,
        queues: sample?.queues,
        redisError: sample?.error,
        decision: sample === undefined ? undefined : decision,
        deployment:
          dep === undefined
            ? undefined
            : {
                replicas: dep.status?.replicas ?? 0,
                readyReplicas: dep.status?.readyReplicas ?? 0,
                updatedReplicas: dep.status?.updatedReplicas ?? 0,
                upToDate: (dep.status?.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 0) && dep.spec?.replicas === desired,
              },
        lastScaleTime: st.lastScaleTime,
        now: new Date().toISOString(),
      },
      pool.status,
    );
    const now = Date.now();
    if (statusNeedsWrite(pool.status, status, st.lastStatusWrite, now, STATUS_METRICS_INTERVAL_MS)) {
      const written = await this.#d.api.patchJobPoolStatus(pool.metadata.namespace, pool.metadata.name, status);
      pools.remember(written);
      st.lastStatusWrite = now;
      st.statusDeferred = false;
    } else {
      st.statusDeferred = !deepEqual(pool.status, status);
    }
    this.#setMetrics(pool, status.queueDepth, status.inFlight, desired, status.replicas, status.readyReplicas);
    return st.specError !== undefined ? { requeueAfterMs: SPEC_ERROR_RETRY_MS } : undefined;
  }

  #parse(key: string, raw: RawJobPool): ReturnType<typeof parseJobPool> {
    const rv = raw.metadata?.resourceVersion;
    const cached = this.#parsed.get(key);
    if (cached !== undefined && rv !== undefined && cached.resourceVersion === rv) return cached.result;
    const result = parseJobPool(raw);
    this.#parsed.set(key, { resourceVersion: rv, result });
    return result;
  }

  /** Derives the Redis URL and compiled schedules from the spec once per generation (and re-reads a Secret now and then). */
  async #resolve(key: string, pool: JobPool, log: Logger): Promise<PoolState> {
    let st = this.#state.get(key);
    if (st !== undefined && st.uid !== pool.metadata.uid) st = undefined;
    const now = Date.now();
    const fromSecret = pool.spec.redis.urlFrom !== undefined;
    if (st !== undefined && st.resolvedGeneration === pool.metadata.generation && (!fromSecret || now - st.resolvedAt < SECRET_REFRESH_MS)) {
      return st;
    }
    st ??= {
      uid: pool.metadata.uid,
      resolvedGeneration: 0,
      resolvedAt: 0,
      url: undefined,
      specError: undefined,
      schedules: [],
      sample: undefined,
      demandHighAt: undefined,
      lastScaleTime: pool.status?.lastScaleTime,
      lastStatusWrite: undefined,
      manifest: undefined,
      lastReason: undefined,
      statusDeferred: false,
    };
    let url = pool.spec.redis.url;
    let specError: PoolState['specError'];
    const ref = pool.spec.redis.urlFrom?.secretKeyRef;
    if (ref !== undefined) {
      url = await this.#d.api.readSecretKey(pool.metadata.namespace, ref.name, ref.key);
      if (url === undefined) specError = { reason: 'SecretNotFound', message: `Secret ${ref.name} with key ${ref.key} (spec.redis.urlFrom) does not exist` };
      else if (!/^rediss?:\/\//.test(url)) {
        specError = { reason: 'InvalidRedisURL', message: `Secret ${ref.name} key ${ref.key} does not hold a redis:// or rediss:// URL` };
        url = undefined;
      }
    }
    const schedules: PoolState['schedules'] = [];
    const scheduleErrors: string[] = [];
    for (const schedule of pool.spec.schedules) {
      const compiled = compileSchedule(schedule);
      if (compiled.ok) schedules.push({ schedule, cron: compiled.cron });
      else scheduleErrors.push(compiled.error);
    }
    if (specError === undefined && scheduleErrors.length > 0) specError = { reason: 'InvalidSchedule', message: scheduleErrors.join('; ') };
    if (specError !== undefined) log.warn({ reason: specError.reason }, specError.message);
    if (url !== st.url) st.sample = undefined;
    Object.assign(st, { resolvedGeneration: pool.metadata.generation, resolvedAt: now, url, specError, schedules, manifest: undefined });
    this.#state.set(key, st);
    return st;
  }

  /** Marks busy pods expensive to delete and idle ones cheap, just before the operator lowers replicas. */
  async #protectBusyPods(pool: JobPool, url: string, log: Logger): Promise<void> {
    const { namespace, name } = pool.metadata;
    const pods = this.#d.pods
      .list()
      .filter((p) => p.metadata?.namespace === namespace && p.metadata.labels?.[POOL_LABEL] === name && p.metadata.deletionTimestamp == null)
      .map((p) => ({ name: p.metadata?.name ?? '', annotations: p.metadata?.annotations }));
    if (pods.length === 0) return;
    const busy = await jobsByPod(await this.#d.poller.connectedClient(url), pool.spec.redis.namespace);
    const patches = deletionCostPatches(pods, busy);
    await Promise.all(
      [...patches].map(async ([pod, cost]) => {
        const patched = await this.#d.api.patchPodAnnotations(namespace, pod, { [DELETION_COST_ANNOTATION]: cost });
        this.#d.pods.remember(patched);
      }),
    );
    if (patches.size > 0) log.info({ costs: Object.fromEntries(patches) }, 'set pod deletion costs before scaling down');
  }

  async #scaleEvent(pool: JobPool, from: number, to: number, decision: ScaleDecision, log: Logger): Promise<void> {
    const reason = to > from ? 'ScaledUp' : 'ScaledDown';
    const message =
      decision.reason === 'ScaledUp' || decision.reason === 'ScaledDown'
        ? decision.message
        : `Scaled ${to > from ? 'up' : 'down'} from ${from} to ${to}: ${decision.message}`;
    log.info({ from, to, reason: decision.reason }, message);
    this.#d.metrics.scaleEvents.inc({ direction: to > from ? 'up' : 'down' });
    try {
      await this.#d.api.createEvent(
        { namespace: pool.metadata.namespace, name: pool.metadata.name, uid: pool.metadata.uid, apiVersion: `${GROUP}/${VERSION}`, kind: KIND },
        'Normal',
        reason,
        message,
        this.#d.identity,
      );
    } catch (err) {
      // An Event is a report, not part of converging: losing one must not undo or repeat the scaling.
      log.warn({ err: apiMessage(err) }, 'could not record the scale Event');
    }
  }

  async #writeInvalid(raw: RawJobPool, error: string, log: Logger): Promise<void> {
    const { namespace = '', name = '', generation = 0 } = raw.metadata ?? {};
    log.warn({ error }, 'the JobPool does not fit the schema');
    const previous = raw.status?.conditions?.find((c) => c.type === 'Ready');
    if (previous?.reason === 'InvalidSpec' && previous.message === error && previous.observedGeneration === generation) return;
    const now = new Date().toISOString();
    const written = await this.#d.api.patchJobPoolStatus(namespace, name, {
      observedGeneration: generation,
      conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: error, observedGeneration: generation, lastTransitionTime: now }],
    });
    this.#d.pools.remember(written);
  }

  #setMetrics(pool: JobPool, depth: number | undefined, inFlight: number | undefined, desired: number, replicas: number | undefined, ready: number | undefined): void {
    const labels = { namespace: pool.metadata.namespace, pool: pool.metadata.name };
    const m = this.#d.metrics;
    if (depth !== undefined) m.queueDepth.set(labels, depth);
    if (inFlight !== undefined) m.inFlight.set(labels, inFlight);
    m.desiredReplicas.set(labels, desired);
    m.replicas.set(labels, replicas ?? 0);
    m.readyReplicas.set(labels, ready ?? 0);
  }

  #dropMetrics(key: string): void {
    const [namespace = '', pool = ''] = key.split('/');
    const labels = { namespace, pool };
    const m = this.#d.metrics;
    for (const g of [m.queueDepth, m.inFlight, m.desiredReplicas, m.replicas, m.readyReplicas]) g.remove(labels);
  }
}
