// Reconcile of one JobPool, in phases: observe (caches, the latest queue sample), decide (a pure
// function), protect busy pods (deletion costs before a scale-down), apply (the Deployment by
// server-side apply), report (Events, status, metrics). What fails on the way (a Secret that cannot be
// read, a Deployment the API server refuses, pods the ReplicaSet cannot create) is reported like the
// rest: a Ready=False condition with the API server's message and one Warning Event per distinct failure.
// A template the operator's policy refuses stops the reconcile before anything is applied.
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Cron } from 'croner';
import type { Logger } from 'pino';
import { decideReplicas, type ScaleDecision } from './autoscaler.ts';
import { desiredDeployment, needsApply, POOL_LABEL, poolSelector, redisSecretHash } from './desired-deployment.ts';
import type { Informer } from './informer.ts';
import { GROUP, KIND, VERSION, parseJobPool, pauseOf, type AutoscalingStatus, type JobPool, type JobPoolStatus, type Schedule } from './jobpool.ts';
import { apiMessage, statusCode, type KubeApi, type RawJobPool } from './kube.ts';
import type { Metrics } from './metrics.ts';
import type { RedisPoller, Sample } from './redis-poller.ts';
import { deletionCostPatches, jobsByPod, DELETION_COST_ANNOTATION } from './scale-down.ts';
import type { Recommendation, ScaleEvent } from './scaling-behavior.ts';
import { compileSchedule, type Scheduler } from './scheduler.ts';
import { DEFAULT_TEMPLATE_POLICY, templateRefusal, templateViolations, type TemplatePolicy } from './template-policy.ts';
import { computeStatus, deepEqual, failures, statusNeedsWrite, warningKey, type Failure, type Observed as StatusObservation } from './status.ts';
import type { Outcome } from './workqueue.ts';
import { parseHostPorts, RedisTarget, targetKey, withClusterNamespace, type Pem } from '../../queue/src/redis-connection.ts';
import { expectedWaitSeconds, observeRates, POD_START_SECONDS, rateEstimate, replicasForWait, round, type EstimatorState, type RateEstimate, type RateReading } from './wait-estimator.ts';

/** Depth-only status changes are written at most this often (the metrics endpoint has them live). */
const STATUS_METRICS_INTERVAL_MS = 10_000;
/** Pools that read one Secret within this long share one read of it. */
const SECRET_READ_SHARED_MS = 1000;
/** A pool whose spec cannot be used is looked at again this often (a missing Secret may appear). */
const SPEC_ERROR_RETRY_MS = 30_000;
/**
 * Right after the JobPool CRD is installed (a `helm install` with its first pools), the API server's
 * OwnerReferencesPermissionEnforcement admission refuses an owner reference to a JobPool until its list of
 * kinds is read again, at most 30 s later. The operator retries such an apply this often, and reports it
 * as a Warning only when it lasts longer than KIND_UNKNOWN_GRACE_MS.
 */
const KIND_UNKNOWN_RETRY_MS = 2_000;
const KIND_UNKNOWN_GRACE_MS = 60_000;

interface PoolState {
  /** What was derived from one generation of the spec (of one object: a pool re-created under the same name starts afresh). */
  uid: string;
  resolvedGeneration: number;
  resolvedAt: number;
  /** With Secrets in spec.redis: the pool's poll interval, after which they are read again. */
  secretRefreshMs: number | undefined;
  /** the pool's Redis with the credentials and TLS material its Secrets hold; undefined while they cannot be read */
  redis: RedisTarget | undefined;
  specError: Failure | undefined;
  schedules: { schedule: Schedule; cron: Cron }[];
  sample: Sample | undefined;
  /** What the next decision starts from: recent recommendations and the operator's scale events. */
  recommendations: Recommendation[];
  scaleEvents: ScaleEvent[];
  /** Polls in a row that could not read Redis, and after how many spec.scaling.fallback applies. */
  failedReads: number;
  fallbackThreshold: number | undefined;
  /** Paused or Fallback while the last decision was one of them: their start and end are Events. */
  override: 'Paused' | 'Fallback' | undefined;
  /** Arrival and service rates, folded from every sample (not only those that wake a reconcile). */
  rates: EstimatorState | undefined;
  /** What the last decision needed, for recordSample: a new estimate that needs otherwise wakes a reconcile. */
  lastNeeded: number | undefined;
  /** The pool of the last reconcile, for recordSample's look at the wait model's demand. */
  pool: JobPool | undefined;
  lastScaleTime: string | undefined;
  lastStatusWrite: number | undefined;
  /** The desired Deployment of the resolved generation, without replicas (built once, not every tick). */
  manifest: V1Deployment | undefined;
  /** The reason of the last decision, and whether a depth-only status change is waiting to be written. */
  lastReason: ScaleDecision['reason'] | undefined;
  statusDeferred: boolean;
  /** warningKey of each failure recorded as a Warning Event while it lasts (one Event per distinct failure, not per reconcile). */
  warned: ReadonlySet<string>;
  /** Since when the API server's admission has refused the Deployment's owner reference for not knowing the JobPool kind. */
  kindUnknownSince: number | undefined;
}

/** Decisions that depend on the clock, not only on the sample: their pools are reconciled every tick. */
const TIME_DRIVEN: ReadonlySet<string> = new Set(['ScaleUpDelayed', 'ScaleDownDelayed', 'ScaleUpLimited', 'ScaleDownLimited']);
/** Decisions that reached the recommendation: a repeat of their sample recommends the same size again. */
const SETTLED: ReadonlySet<string> = new Set(['DemandMet', 'AtMaxReplicas', 'AtMinReplicas', 'ScaledUp', 'ScaledDown']);

/**
 * A Deployment the API server refused: the failure to report, and the error for the work queue's backoff;
 * `kindUnknown` when the refusal is admission not knowing the JobPool kind yet (retried soon, not backed off).
 */
interface Refusal {
  failure: Failure;
  error: unknown;
  kindUnknown: boolean;
}

/** What one reconcile read of one pool: the parsed object, what its spec resolved to, its Deployment, its latest sample. */
interface Observation {
  key: string;
  pool: JobPool;
  state: PoolState;
  live: V1Deployment | undefined;
  /** The live Deployment's spec.replicas (0 when it does not exist yet). */
  current: number;
  sample: Sample | undefined;
}

/** A sample as the wait estimator reads it; undefined when Redis could not be read. */
function rateReading(sample: Sample): RateReading | undefined {
  if (sample.queues === undefined) return undefined;
  return {
    at: sample.at,
    waiting: sample.queues.reduce((n, q) => n + q.waiting, 0),
    inFlight: sample.queues.reduce((n, q) => n + q.inFlight, 0),
    processed: sample.counters?.processed,
    busyMs: sample.counters?.busyMs,
  };
}

/** The rate estimates a pool with spec.scaling.targetWaitSeconds is sized by; undefined when it has no target or none yet. */
function waitRates(spec: JobPool['spec'], rates: EstimatorState | undefined): RateEstimate | undefined {
  return spec.scaling.targetWaitSeconds === undefined ? undefined : rateEstimate(rates);
}

/**
 * The size a pool should have, from its spec, its current size, its latest sample and the rates estimated
 * so far. The decision is as of the sample's time, so a reconcile woken by anything else repeats it
 * exactly; `now` counts only before the first sample.
 */
function decideSize(pool: JobPool, st: PoolState, current: number, sample: Sample | undefined, now: number): ScaleDecision {
  const { spec } = pool;
  const { scaling } = spec;
  const waiting = sample?.queues?.reduce((n, q) => n + q.waiting, 0);
  const inFlight = sample?.queues?.reduce((n, q) => n + q.inFlight, 0);
  const estimate = waitRates(spec, st.rates);
  const target = scaling.targetWaitSeconds;
  const waitDemand =
    estimate === undefined || target === undefined || waiting === undefined || inFlight === undefined
      ? undefined
      : replicasForWait(estimate, { targetWaitSeconds: target, concurrency: spec.worker.concurrency, waiting, horizonSeconds: horizonOf(spec) });
  const decided = decideReplicas({
    waiting,
    inFlight,
    current,
    minReplicas: scaling.minReplicas,
    maxReplicas: scaling.maxReplicas,
    jobsPerReplica: scaling.jobsPerReplica,
    waitDemand,
    scaleDownDelaySeconds: scaling.scaleDownDelaySeconds,
    fixedReplicas: spec.replicas,
    paused: pauseOf(pool.metadata.annotations),
    failedReads: st.failedReads,
    fallback: scaling.fallback,
    behavior: scaling.behavior,
    recommendations: st.recommendations,
    scaleEvents: st.scaleEvents,
    now: sample?.at ?? now,
  });
  // Before the first reading the size only follows the bounds; that is not a Redis failure.
  if (sample === undefined && decided.reason === 'RedisUnreachable') {
    return { ...decided, reason: current < decided.desired ? 'AtMinReplicas' : 'DemandMet', message: `queues not read yet: ${decided.desired} replicas to start with` };
  }
  if (target !== undefined && waitDemand === undefined && waiting !== undefined && decided.reason !== 'FixedReplicas') {
    return { ...decided, message: `${decided.message} (target wait ${target} s: no job durations reported yet, sized by jobsPerReplica ${scaling.jobsPerReplica})` };
  }
  return decided;
}

/** The model's horizon for a pool: its poll interval plus a pod's start (see wait-estimator.ts). */
function horizonOf(spec: JobPool['spec']): number {
  return spec.scaling.pollIntervalSeconds + POD_START_SECONDS;
}

/** The estimates shown in status for a pool with spec.scaling.targetWaitSeconds, as of the desired size and the latest depths. */
function autoscalingStatus(spec: JobPool['spec'], rates: EstimatorState | undefined, desired: number, sample: Sample | undefined): AutoscalingStatus | undefined {
  const target = spec.scaling.targetWaitSeconds;
  if (target === undefined) return undefined;
  const estimate = waitRates(spec, rates);
  if (estimate === undefined) return { targetWaitSeconds: target };
  const waiting = sample?.queues?.reduce((n, q) => n + q.waiting, 0) ?? 0;
  const wait = expectedWaitSeconds(estimate, desired * spec.worker.concurrency, { waiting, horizonSeconds: horizonOf(spec) });
  return {
    targetWaitSeconds: target,
    arrivalPerSecond: round(estimate.arrivalPerSecond),
    servicePerSecondPerReplica: round(spec.worker.concurrency / estimate.serviceSeconds),
    ...(Number.isFinite(wait) ? { expectedWaitSeconds: round(wait) } : {}),
  };
}

/** Keeps what the next decision starts from (the windows and policies) and what recordSample compares a new sample with. */
function rememberDecision(st: PoolState, decision: ScaleDecision, sample: Sample | undefined): void {
  st.recommendations = decision.recommendations;
  st.scaleEvents = decision.scaleEvents;
  st.lastNeeded = decision.needed;
  st.lastReason = sample === undefined ? undefined : decision.reason;
}

/**
 * The Deployment's part of the status; up to date once its controller has seen the spec and it has
 * `desired` replicas. Pods its ReplicaSet cannot create (refused by admission, over a quota) show in its
 * ReplicaFailure condition.
 */
function deploymentStatus(dep: V1Deployment | undefined, desired: number): StatusObservation['deployment'] {
  if (dep === undefined) return undefined;
  const replicaFailure = dep.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  return {
    replicas: dep.status?.replicas ?? 0,
    readyReplicas: dep.status?.readyReplicas ?? 0,
    updatedReplicas: dep.status?.updatedReplicas ?? 0,
    upToDate: (dep.status?.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 0) && dep.spec?.replicas === desired,
    podsRefused: replicaFailure === undefined ? undefined : (replicaFailure.message ?? replicaFailure.reason ?? 'the ReplicaSet cannot create pods'),
  };
}

/**
 * A refused apply as a failure: 422 is an invalid pod template (the message names the field), a 403 for an
 * owner reference to a kind admission cannot map yet is the API server still learning a new CRD, anything
 * else a failed apply.
 */
function applyRefusal(err: unknown): Refusal {
  const message = apiMessage(err);
  if (statusCode(err) === 403 && message.includes(`cannot find RESTMapping for APIVersion ${GROUP}/`)) {
    const failure = {
      reason: 'KindNotServedYet',
      message: `the API server's admission does not map the ${KIND} kind yet (it reads the served kinds again every 30 s after a CRD is installed); retrying`,
    };
    return { failure, error: err, kindUnknown: true };
  }
  return { failure: { reason: statusCode(err) === 422 ? 'InvalidTemplate' : 'ApplyFailed', message }, error: err, kindUnknown: false };
}

/** The override a stored status already tells (so a new leader or a restarted operator does not tell it again). */
function storedOverride(status: JobPoolStatus | undefined): PoolState['override'] {
  const reason = status?.conditions?.find((c) => c.type === 'Scaling')?.reason;
  return reason === 'Paused' || reason === 'Fallback' ? reason : undefined;
}

/** The failure a stored status already tells (so a new leader or a restarted operator does not record it again). */
function storedWarning(status: JobPoolStatus | undefined): Set<string> {
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  return new Set(ready?.status === 'False' ? [warningKey(ready)] : []);
}

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
  /** What pod templates may ask for; default DEFAULT_TEMPLATE_POLICY. */
  templatePolicy?: TemplatePolicy;
}

export class PoolController {
  readonly #d: ControllerDeps;
  readonly #state = new Map<string, PoolState>();
  /** The last parse of each pool, by resourceVersion: polls reconcile every pool every tick. */
  readonly #parsed = new Map<string, { resourceVersion: string | undefined; result: ReturnType<typeof parseJobPool> }>();
  /** Secret reads in flight or just done, by namespace/name/key. */
  readonly #secretReads = new Map<string, { at: number; value: Promise<string | undefined> }>();

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
    st.failedReads = sample.error === undefined ? 0 : st.failedReads + 1;
    if (st.failedReads > 0 && st.failedReads === st.fallbackThreshold) return true;
    st.rates = observeRates(st.rates, rateReading(sample));
    // A Secret rotated under the pool takes effect within a poll: its reconcile reads it again.
    if (st.secretRefreshMs !== undefined && performance.now() - st.resolvedAt >= st.secretRefreshMs) return true;
    if (previous === undefined || st.lastReason === undefined || st.statusDeferred || TIME_DRIVEN.has(st.lastReason)) return true;
    if (previous.error !== sample.error || !deepEqual(previous.queues, sample.queues)) return true;
    // With a wait target, the rates move the demand even when the depths repeat.
    const pool = st.pool;
    if (pool?.spec.scaling.targetWaitSeconds !== undefined && decideSize(pool, st, 0, sample, sample.at).needed !== st.lastNeeded) return true;
    // What a reconcile would have concluded: the same recommendation, now (moving the last one forward is the same for the windows).
    const last = st.recommendations.at(-1);
    if (SETTLED.has(st.lastReason) && last !== undefined) st.recommendations = [...st.recommendations.slice(0, -1), { at: sample.at, replicas: last.replicas }];
    return false;
  }

  /**
   * Whether the pool's latest sample asks for a different size than its last decision: its reconcile may
   * change the Deployment's replicas, so the work queue takes it before reconciles that only refresh status.
   */
  wantsResize(key: string): boolean {
    const st = this.#state.get(key);
    const pool = st?.pool;
    if (st === undefined || pool === undefined || st.sample === undefined || st.lastNeeded === undefined) return false;
    return decideSize(pool, st, 0, st.sample, st.sample.at).needed !== st.lastNeeded;
  }

  /** Forgets everything about pools (leadership lost or operator stopping). */
  forgetAll(): void {
    this.#state.clear();
    this.#parsed.clear();
  }

  /**
   * Converges one pool from what is true now, whatever woke it: observe (spec, Deployment, latest
   * sample), decide, protect busy pods, apply the size, report (Events, status, metrics). A refused
   * apply is reported, then thrown, so that the work queue retries it with backoff.
   */
  async reconcile(key: string): Promise<Outcome | undefined> {
    const log = this.#d.log.child({ pool: key });
    const raw = this.#d.pools.get(key);
    if (raw === undefined) {
      // Deleted: the garbage collector removes the Deployment through its owner reference.
      this.#forget(key);
      return undefined;
    }
    const parsed = this.#parse(key, raw);
    if (!parsed.ok) {
      this.#stopPolling(key);
      await this.#writeUnusable(raw, { reason: 'InvalidSpec', message: parsed.error }, log);
      return { requeueAfterMs: SPEC_ERROR_RETRY_MS };
    }
    const refused = templateRefusal(templateViolations(parsed.pool.spec.template, this.#d.templatePolicy ?? DEFAULT_TEMPLATE_POLICY));
    if (refused !== undefined) {
      // The operator creates no pod its policy refuses; an existing Deployment keeps its template and size,
      // since deleting it would stop running jobs. A new generation of the pool wakes the next reconcile.
      this.#stopPolling(key);
      await this.#writeUnusable(raw, refused, log);
      return undefined;
    }
    const seen = await this.#observe(key, parsed.pool);
    seen.state.fallbackThreshold = seen.pool.spec.scaling.fallback?.failureThreshold;
    const decidedAt = seen.sample?.at ?? Date.now();
    const decision = decideSize(seen.pool, seen.state, seen.current, seen.sample, decidedAt);
    // Deletion costs go on the pods before the smaller size: the ReplicaSet chooses which pods to delete the moment it sees fewer replicas.
    if (seen.live !== undefined && decision.desired < seen.current && seen.state.redis !== undefined) {
      await this.#protectBusyPods(seen.pool, seen.state.redis, log);
    }
    const refusal = await this.#apply(seen, decision.desired, log);
    rememberDecision(seen.state, decision, seen.sample);
    const kindUnknown = this.#kindUnknown(seen.state, refusal, log);
    await this.#report(seen, decision, decidedAt, refusal?.failure, kindUnknown, log);
    if (kindUnknown) return { requeueAfterMs: KIND_UNKNOWN_RETRY_MS };
    if (refusal !== undefined) throw refusal.error;
    return seen.state.specError !== undefined ? { requeueAfterMs: SPEC_ERROR_RETRY_MS } : undefined;
  }

  /**
   * Whether the apply was refused only because admission does not know the JobPool kind yet, within
   * KIND_UNKNOWN_GRACE_MS of the first such refusal: told once in the log, then retried without a Warning.
   */
  #kindUnknown(st: PoolState, refusal: Refusal | undefined, log: Logger): boolean {
    if (refusal?.kindUnknown !== true) {
      if (st.kindUnknownSince !== undefined) log.info('the API server maps the JobPool kind now');
      st.kindUnknownSince = undefined;
      return false;
    }
    const now = Date.now();
    if (st.kindUnknownSince === undefined) {
      st.kindUnknownSince = now;
      log.info({ retryMs: KIND_UNKNOWN_RETRY_MS }, refusal.failure.message);
    }
    return now - st.kindUnknownSince < KIND_UNKNOWN_GRACE_MS;
  }

  /** Drops everything about a deleted pool: its state, its polling and schedules, its metrics. */
  #forget(key: string): void {
    this.#state.delete(key);
    this.#parsed.delete(key);
    this.#stopPolling(key);
    this.#dropMetrics(key);
  }

  /** Stops reading a pool's queues and firing its schedules. */
  #stopPolling(key: string): void {
    this.#d.poller.remove(key);
    this.#d.scheduler.removePool(key);
  }

  /**
   * Reads the world for one pool: what its spec resolves to, its Deployment, its latest sample. It also
   * keeps the pool's queues polled and its schedules fired, on the Redis the spec names now.
   */
  async #observe(key: string, pool: JobPool): Promise<Observation> {
    const { poller, scheduler } = this.#d;
    const state = await this.#resolve(key, pool);
    if (state.redis !== undefined) {
      poller.upsert(key, {
        redis: state.redis,
        namespace: pool.spec.redis.namespace,
        queues: pool.spec.queues,
        intervalMs: pool.spec.scaling.pollIntervalSeconds * 1000,
      });
      scheduler.setPool(key, poller.client(state.redis), pool.spec.redis.namespace, state.schedules);
    } else {
      this.#stopPolling(key);
    }
    state.pool = pool;
    const live = this.#d.deployments.get(key);
    return { key, pool, state, live, current: live?.spec?.replicas ?? 0, sample: state.sample };
  }

  /**
   * Server-side applies the pool's Deployment at `desired` replicas when the live one differs from it.
   * A refusal is returned, for the report, rather than thrown.
   */
  async #apply(seen: Observation, desired: number, log: Logger): Promise<Refusal | undefined> {
    const st = seen.state;
    st.manifest ??= desiredDeployment(seen.pool, 0, st.secretRefreshMs === undefined || st.redis === undefined ? undefined : redisSecretHash(seen.pool, targetKey(st.redis)));
    const manifest: V1Deployment = { ...st.manifest, spec: { ...st.manifest.spec, replicas: desired } as V1Deployment['spec'] };
    if (!needsApply(manifest, seen.live)) return undefined;
    try {
      const applied = await this.#d.api.applyDeployment(manifest);
      this.#d.deployments.remember(applied);
      log.debug({ replicas: desired }, 'applied the Deployment');
      return undefined;
    } catch (error) {
      return applyRefusal(error);
    }
  }

  /**
   * Tells what the reconcile did: an Event when the size changed, a Warning Event for each new failure,
   * the status when it differs, the metrics.
   */
  async #report(seen: Observation, decision: ScaleDecision, decidedAt: number, applyError: Failure | undefined, quiet: boolean, log: Logger): Promise<void> {
    const { pool, state: st, current, sample } = seen;
    const desired = decision.desired;
    await this.#overrideEvents(pool, st, decision, log);
    // A refused apply changed nothing: there is no scaling to tell.
    if (desired !== current && applyError === undefined) {
      st.lastScaleTime = new Date().toISOString();
      st.scaleEvents.push({ at: decidedAt, change: desired - current });
      await this.#scaleEvent(pool, current, desired, decision, log);
    }
    const observed: StatusObservation = {
      generation: pool.metadata.generation,
      selector: poolSelector(pool),
      specError: st.specError,
      applyError,
      queues: sample?.queues,
      redisError: sample?.error,
      decision: sample === undefined ? undefined : decision,
      autoscaling: autoscalingStatus(pool.spec, st.rates, desired, sample),
      deployment: deploymentStatus(this.#d.deployments.get(seen.key), desired),
      lastScaleTime: st.lastScaleTime,
      now: new Date().toISOString(),
    };
    // A refusal expected to pass on its own shows in the status but is not a Warning (yet).
    await this.#warn(pool, st, failures(observed).filter((f) => !quiet || f !== applyError), log);
    const status = computeStatus(observed, pool.status);
    await this.#writeStatus(pool, st, status);
    this.#setMetrics(pool, status.queueDepth, status.inFlight, desired, status.replicas, status.readyReplicas);
  }

  /** Writes the status when it differs from the stored one (a change of queue depth alone, at most every STATUS_METRICS_INTERVAL_MS). */
  async #writeStatus(pool: JobPool, st: PoolState, status: JobPoolStatus): Promise<void> {
    const now = Date.now();
    if (statusNeedsWrite(pool.status, status, st.lastStatusWrite, now, STATUS_METRICS_INTERVAL_MS)) {
      const written = await this.#d.api.patchJobPoolStatus(pool.metadata.namespace, pool.metadata.name, status);
      this.#d.pools.remember(written);
      st.lastStatusWrite = now;
      st.statusDeferred = false;
    } else {
      st.statusDeferred = !deepEqual(pool.status, status);
    }
  }

  #parse(key: string, raw: RawJobPool): ReturnType<typeof parseJobPool> {
    const rv = raw.metadata?.resourceVersion;
    const cached = this.#parsed.get(key);
    if (cached !== undefined && rv !== undefined && cached.resourceVersion === rv) return cached.result;
    const result = parseJobPool(raw);
    this.#parsed.set(key, { resourceVersion: rv, result });
    return result;
  }

  /** Derives the Redis target and compiled schedules from the spec once per generation (and re-reads its Secrets now and then). */
  async #resolve(key: string, pool: JobPool): Promise<PoolState> {
    let st = this.#state.get(key);
    if (st !== undefined && st.uid !== pool.metadata.uid) st = undefined;
    const now = performance.now();
    const { urlFrom, tls, auth, sentinel } = pool.spec.redis;
    const fromSecret = urlFrom !== undefined || tls?.caSecretRef !== undefined || tls?.certSecretRef !== undefined || auth !== undefined
      || sentinel?.passwordFrom !== undefined;
    const secretRefreshMs = fromSecret ? pool.spec.scaling.pollIntervalSeconds * 1000 : undefined;
    if (st !== undefined && st.resolvedGeneration === pool.metadata.generation && (secretRefreshMs === undefined || now - st.resolvedAt < secretRefreshMs)) {
      return st;
    }
    st ??= {
      uid: pool.metadata.uid,
      resolvedGeneration: 0,
      resolvedAt: 0,
      secretRefreshMs: undefined,
      redis: undefined,
      specError: undefined,
      schedules: [],
      sample: undefined,
      recommendations: [],
      scaleEvents: [],
      failedReads: 0,
      fallbackThreshold: undefined,
      override: storedOverride(pool.status),
      rates: undefined,
      lastNeeded: undefined,
      pool: undefined,
      lastScaleTime: pool.status?.lastScaleTime,
      lastStatusWrite: undefined,
      manifest: undefined,
      lastReason: undefined,
      statusDeferred: false,
      warned: storedWarning(pool.status),
      kindUnknownSince: undefined,
    };
    const resolved = await this.#resolveRedis(pool);
    let specError = 'failure' in resolved ? resolved.failure : undefined;
    const redis = 'target' in resolved ? resolved.target : undefined;
    const schedules: PoolState['schedules'] = [];
    const scheduleErrors: string[] = [];
    for (const schedule of pool.spec.schedules) {
      const compiled = compileSchedule(schedule);
      if (compiled.ok) schedules.push({ schedule, cron: compiled.cron });
      else scheduleErrors.push(compiled.error);
    }
    if (specError === undefined && scheduleErrors.length > 0) specError = { reason: 'InvalidSchedule', message: scheduleErrors.join('; ') };
    const redisKey = redis === undefined ? undefined : targetKey(redis);
    if (redisKey !== (st.redis === undefined ? undefined : targetKey(st.redis))) {
      st.sample = undefined;
      st.rates = undefined;
    }
    // The manifest is built again only when what it is built from changed: re-read Secrets that say the same keep it.
    const same = st.resolvedGeneration === pool.metadata.generation && redisKey === (st.redis === undefined ? undefined : targetKey(st.redis));
    Object.assign(st, { resolvedGeneration: pool.metadata.generation, resolvedAt: now, secretRefreshMs, redis, specError, schedules, manifest: same ? st.manifest : undefined });
    this.#state.set(key, st);
    return st;
  }

  /**
   * A Secret's key, undefined when either does not exist, or a failure when the operator may not read it
   * (its RBAC, e.g. the chart's rbac.readSecrets=false). Other errors are thrown: the work queue retries them.
   */
  async #readSecretKey(namespace: string, name: string, key: string, field = 'spec.redis.urlFrom'): Promise<string | Failure | undefined> {
    try {
      return await this.#sharedSecretRead(namespace, name, key);
    } catch (err) {
      if (statusCode(err) !== 403) throw err;
      return { reason: 'SecretForbidden', message: `Secret ${name} (${field}) cannot be read: ${apiMessage(err)}` };
    }
  }

  /** A Secret key read, shared by the pools that ask for it within SECRET_READ_SHARED_MS (many pools often use one Secret). */
  #sharedSecretRead(namespace: string, name: string, key: string): Promise<string | undefined> {
    const now = performance.now();
    for (const [k, read] of this.#secretReads) if (now - read.at >= SECRET_READ_SHARED_MS) this.#secretReads.delete(k);
    const id = `${namespace}/${name}/${key}`;
    const shared = this.#secretReads.get(id);
    if (shared !== undefined) return shared.value;
    const value = this.#d.api.readSecretKey(namespace, name, key);
    this.#secretReads.set(id, { at: now, value });
    return value;
  }

  /**
   * The pool's Redis target: its URL, and the credentials and TLS material read from the Secrets its spec
   * names (as the worker pods get them), or the failure that keeps it from being used.
   */
  async #resolveRedis(pool: JobPool): Promise<{ target: RedisTarget } | { failure: Failure }> {
    const { namespace } = pool.metadata;
    const { url, urlFrom, tls, auth, sentinel, cluster } = pool.spec.redis;
    const read = async (field: string, ref: { name: string; key: string }): Promise<string | Failure> => {
      const value = await this.#readSecretKey(namespace, ref.name, ref.key, field);
      if (value === undefined) return { reason: 'SecretNotFound', message: `Secret ${ref.name} with key ${ref.key} (${field}) does not exist` };
      return value;
    };
    const reads: [string, { name: string; key: string }][] = [];
    if (urlFrom) reads.push(['spec.redis.urlFrom', urlFrom.secretKeyRef]);
    if (auth?.usernameFrom) reads.push(['spec.redis.auth.usernameFrom', auth.usernameFrom.secretKeyRef]);
    if (auth?.passwordFrom) reads.push(['spec.redis.auth.passwordFrom', auth.passwordFrom.secretKeyRef]);
    if (sentinel?.passwordFrom) reads.push(['spec.redis.sentinel.passwordFrom', sentinel.passwordFrom.secretKeyRef]);
    if (tls?.caSecretRef) reads.push(['spec.redis.tls.caSecretRef', tls.caSecretRef]);
    if (tls?.certSecretRef) {
      reads.push(['spec.redis.tls.certSecretRef', { name: tls.certSecretRef.name, key: 'tls.crt' }]);
      reads.push(['spec.redis.tls.certSecretRef', { name: tls.certSecretRef.name, key: 'tls.key' }]);
    }
    const values = new Map<string, string>();
    for (const [field, ref] of reads) {
      const value = await read(field, ref);
      if (typeof value === 'object') return { failure: value };
      values.set(`${field} ${ref.key}`, value);
    }
    const get = (field: string, key: string | undefined): string | undefined => (key === undefined ? undefined : values.get(`${field} ${key}`));
    const fromUrl = get('spec.redis.urlFrom', urlFrom?.secretKeyRef.key);
    if (urlFrom && !/^rediss?:\/\//.test(fromUrl ?? '')) {
      return { failure: { reason: 'InvalidRedisURL', message: `Secret ${urlFrom.secretKeyRef.name} key ${urlFrom.secretKeyRef.key} does not hold a redis:// or rediss:// URL` } };
    }
    const pem = (field: string, name: string, key: string): Pem | undefined => {
      const text = get(field, key);
      return text === undefined ? undefined : { pem: text, from: `Secret ${namespace}/${name} key ${key}` };
    };
    const sentinels = sentinel === undefined ? undefined : parseHostPorts(sentinel.sentinels.join(','));
    if (typeof sentinels === 'string') return { failure: { reason: 'InvalidRedisConnection', message: `spec.redis.sentinel.sentinels: ${sentinels}` } };
    const clusterNodes = cluster === undefined ? undefined : parseHostPorts(cluster.nodes.join(','));
    if (typeof clusterNodes === 'string') return { failure: { reason: 'InvalidRedisConnection', message: `spec.redis.cluster.nodes: ${clusterNodes}` } };
    const parsed = RedisTarget.safeParse(JSON.parse(JSON.stringify({
      url: fromUrl ?? url,
      username: get('spec.redis.auth.usernameFrom', auth?.usernameFrom?.secretKeyRef.key),
      password: get('spec.redis.auth.passwordFrom', auth?.passwordFrom?.secretKeyRef.key),
      tls: tls === undefined ? undefined : {
        ca: tls.caSecretRef ? pem('spec.redis.tls.caSecretRef', tls.caSecretRef.name, tls.caSecretRef.key) : undefined,
        cert: tls.certSecretRef ? pem('spec.redis.tls.certSecretRef', tls.certSecretRef.name, 'tls.crt') : undefined,
        key: tls.certSecretRef ? pem('spec.redis.tls.certSecretRef', tls.certSecretRef.name, 'tls.key') : undefined,
        servername: tls.serverName,
      },
      sentinel: sentinel === undefined ? undefined : {
        masterName: sentinel.masterName,
        sentinels,
        password: get('spec.redis.sentinel.passwordFrom', sentinel.passwordFrom?.secretKeyRef.key),
      },
      cluster: clusterNodes === undefined ? undefined : { nodes: clusterNodes },
    })));
    if (!parsed.success) {
      return { failure: { reason: 'InvalidRedisConnection', message: parsed.error.issues.map((i) => `spec.redis${i.path.length > 0 ? `.${i.path.map(String).join('.')}` : ''}: ${i.message}`).join('; ') } };
    }
    try {
      return { target: withClusterNamespace(parsed.data, pool.spec.redis.namespace) };
    } catch (err) {
      return { failure: { reason: 'InvalidRedisConnection', message: `spec.redis.namespace: ${err instanceof Error ? err.message : String(err)}` } };
    }
  }

  /** Marks busy pods expensive to delete and idle ones cheap, just before the operator lowers replicas. */
  async #protectBusyPods(pool: JobPool, redis: RedisTarget, log: Logger): Promise<void> {
    const { namespace, name } = pool.metadata;
    const pods = this.#d.pods
      .list()
      .filter((p) => p.metadata?.namespace === namespace && p.metadata.labels?.[POOL_LABEL] === name && p.metadata.deletionTimestamp == null)
      .map((p) => ({ name: p.metadata?.name ?? '', annotations: p.metadata?.annotations }));
    if (pods.length === 0) return;
    const busy = await jobsByPod(await this.#d.poller.connectedClient(redis), pool.spec.redis.namespace);
    const patches = deletionCostPatches(pods, busy);
    await Promise.all(
      [...patches].map(async ([pod, cost]) => {
        const patched = await this.#d.api.patchPodAnnotations(namespace, pod, { [DELETION_COST_ANNOTATION]: cost });
        this.#d.pods.remember(patched);
      }),
    );
    if (patches.size > 0) log.info({ costs: Object.fromEntries(patches) }, 'set pod deletion costs before scaling down');
  }

  /** An Event when autoscaling stops for a pause (Normal) or a fallback (Warning), and when a pause ends. */
  async #overrideEvents(pool: JobPool, st: PoolState, decision: ScaleDecision, log: Logger): Promise<void> {
    const override = decision.reason === 'Paused' || decision.reason === 'Fallback' ? decision.reason : undefined;
    if (override === st.override) return;
    const was = st.override;
    st.override = override;
    if (override !== undefined) await this.#event(pool.metadata, override === 'Paused' ? 'Normal' : 'Warning', override, decision.message, log);
    if (was === 'Paused') await this.#event(pool.metadata, 'Normal', 'Resumed', `forkpool.io/paused is removed: autoscaling resumes (${decision.message})`, log);
  }

  async #scaleEvent(pool: JobPool, from: number, to: number, decision: ScaleDecision, log: Logger): Promise<void> {
    const reason = to > from ? 'ScaledUp' : 'ScaledDown';
    const message =
      decision.reason === 'ScaledUp' || decision.reason === 'ScaledDown'
        ? decision.message
        : `Scaled ${to > from ? 'up' : 'down'} from ${from} to ${to}: ${decision.message}`;
    log.info({ from, to, reason: decision.reason }, message);
    this.#d.metrics.scaleEvents.inc({ direction: to > from ? 'up' : 'down' });
    await this.#event(pool.metadata, 'Normal', reason, message, log);
  }

  /** Records a Warning Event for each failure not recorded yet while it lasts; a failure that ends may be recorded again when it returns. */
  async #warn(pool: JobPool, st: PoolState, now: Failure[], log: Logger): Promise<void> {
    const warned = new Set<string>();
    for (const failure of now) {
      const key = warningKey(failure);
      if (st.warned.has(key)) {
        warned.add(key);
        continue;
      }
      log.warn({ reason: failure.reason }, failure.message);
      if (await this.#event(pool.metadata, 'Warning', failure.reason, failure.message, log)) warned.add(key);
    }
    st.warned = warned;
  }

  /** Records an Event on a pool; false when it could not be recorded. */
  async #event(pool: { namespace: string; name: string; uid: string }, type: 'Normal' | 'Warning', reason: string, message: string, log: Logger): Promise<boolean> {
    try {
      await this.#d.api.createEvent({ ...pool, apiVersion: `${GROUP}/${VERSION}`, kind: KIND }, type, reason, message, this.#d.identity);
      return true;
    } catch (err) {
      // An Event is a report, not part of converging: losing one must not undo or repeat what it tells.
      log.warn({ err: apiMessage(err), reason }, 'could not record an Event');
      return false;
    }
  }

  /** Reports a pool the operator does not act on (its spec does not fit the schema, or its template is refused): Ready=False and one Warning Event. */
  async #writeUnusable(raw: RawJobPool, failure: Failure, log: Logger): Promise<void> {
    const { namespace = '', name = '', uid = '', generation = 0 } = raw.metadata ?? {};
    const { reason, message } = failure;
    log.warn({ reason, error: message }, 'the JobPool cannot be used as it is');
    const previous = raw.status?.conditions?.find((c) => c.type === 'Ready');
    const sameMessage = previous?.reason === reason && previous.message === message;
    if (sameMessage && previous.observedGeneration === generation) return;
    const now = new Date().toISOString();
    const written = await this.#d.api.patchJobPoolStatus(namespace, name, {
      observedGeneration: generation,
      conditions: [{ type: 'Ready', status: 'False', reason, message, observedGeneration: generation, lastTransitionTime: now }],
    });
    this.#d.pools.remember(written);
    if (!sameMessage) await this.#event({ namespace, name, uid }, 'Warning', reason, message, log);
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
