// The JobPool status computed from the observed world, and whether it is worth writing. Pure.
import type { AutoscalingStatus, Condition, JobPoolStatus, QueueStatus } from './jobpool.ts';
import type { ScaleDecision } from './autoscaler.ts';

/** Something a user must act on: a reason in CamelCase and a message naming what to fix. */
export interface Failure {
  reason: string;
  message: string;
}

/** What the operator observed of one pool. */
export interface Observed {
  generation: number;
  selector: string;
  /** The pool spec could not be used (bad cron, missing or unreadable Secret, ...): why, for people. */
  specError: Failure | undefined;
  /** The API server refused the Deployment (an invalid pod template, ...): its reason and message. */
  applyError: Failure | undefined;
  /** Per-queue depth, or undefined when Redis could not be read. */
  queues: QueueStatus[] | undefined;
  /** Why Redis could not be read. */
  redisError: string | undefined;
  decision: ScaleDecision | undefined;
  /** The wait model's estimates, for a pool with spec.scaling.targetWaitSeconds. */
  autoscaling?: AutoscalingStatus | undefined;
  deployment:
    | {
        replicas: number;
        readyReplicas: number;
        updatedReplicas: number;
        upToDate: boolean;
        /** Why the ReplicaSet cannot create pods (the Deployment's ReplicaFailure condition), e.g. Pod Security Admission's refusal. */
        podsRefused: string | undefined;
      }
    | undefined;
  lastScaleTime: string | undefined;
  now: string;
}

/** Decisions that are not queue-depth autoscaling: the Scaling condition is False with them. */
const AUTOSCALING_OFF: ReadonlySet<string> = new Set(['Paused', 'FixedReplicas', 'RedisUnreachable', 'Fallback']);

type ConditionCore = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** Keeps lastTransitionTime when the status of a condition did not change (API conventions). */
function withTransition(core: ConditionCore, previous: Condition[] | undefined, generation: number, now: string): Condition {
  const old = previous?.find((c) => c.type === core.type);
  const lastTransitionTime = old !== undefined && old.status === core.status ? old.lastTransitionTime : now;
  return { ...core, observedGeneration: generation, lastTransitionTime };
}

/**
 * What keeps a pool from working as asked, most severe first: the Deployment refused, the spec unusable,
 * its pods refused. The first is the Ready condition's reason; each is recorded once as a Warning Event.
 */
export function failures(o: Observed): Failure[] {
  const podsRefused = o.deployment?.podsRefused;
  return [o.applyError, o.specError, podsRefused === undefined ? undefined : { reason: 'PodsRefused', message: podsRefused }].filter(
    (f): f is Failure => f !== undefined,
  );
}

/**
 * What makes two Warnings the same: the reason and the message, without the generated pod name a
 * ReplicaSet's refusal carries (`pods "pool-7d9c8-x2k4q" is forbidden: ...`), which changes on every retry of it.
 */
export function warningKey(f: Failure): string {
  return `${f.reason}: ${f.message.replace(/^pods "[^"]*"/, 'pods')}`;
}

/** The status a pool should have, given what was observed and the status stored now. */
export function computeStatus(o: Observed, previous: JobPoolStatus | undefined): JobPoolStatus {
  const redis: ConditionCore =
    o.queues !== undefined
      ? { type: 'RedisReachable', status: 'True', reason: 'QueuesRead', message: 'the queue depths were read' }
      : o.redisError !== undefined
        ? { type: 'RedisReachable', status: 'False', reason: 'RedisError', message: o.redisError }
        : { type: 'RedisReachable', status: 'Unknown', reason: 'NotPolledYet', message: 'Redis has not been read yet' };

  const scaling: ConditionCore =
    o.decision === undefined
      ? { type: 'Scaling', status: 'Unknown', reason: 'NotPolledYet', message: 'no scale decision yet' }
      : {
          type: 'Scaling',
          status: AUTOSCALING_OFF.has(o.decision.reason) ? 'False' : 'True',
          reason: o.decision.reason,
          message: o.decision.message,
        };

  const desired = o.decision?.desired;
  const failure = failures(o)[0];
  let ready: ConditionCore;
  if (failure !== undefined) {
    ready = { type: 'Ready', status: 'False', reason: failure.reason, message: failure.message };
  } else if (o.deployment === undefined) {
    ready = { type: 'Ready', status: 'False', reason: 'DeploymentMissing', message: 'the worker Deployment does not exist yet' };
  } else if (!o.deployment.upToDate || (desired !== undefined && (o.deployment.updatedReplicas < desired || o.deployment.readyReplicas < desired))) {
    ready = {
      type: 'Ready',
      status: 'False',
      reason: 'ReplicasNotReady',
      message: `${o.deployment.readyReplicas} of ${desired ?? o.deployment.replicas} worker pods ready`,
    };
  } else if (o.queues === undefined) {
    ready = { type: 'Ready', status: 'False', reason: 'RedisUnreachable', message: 'the workers run, but their Redis cannot be read' };
  } else {
    ready = { type: 'Ready', status: 'True', reason: 'ReplicasReady', message: `${o.deployment.readyReplicas} worker pods ready` };
  }

  const prevConditions = previous?.conditions;
  const status: JobPoolStatus = {
    observedGeneration: o.generation,
    replicas: o.deployment?.replicas ?? 0,
    readyReplicas: o.deployment?.readyReplicas ?? 0,
    selector: o.selector,
    conditions: [ready, redis, scaling].map((c) => withTransition(c, prevConditions, o.generation, o.now)),
  };
  if (desired !== undefined) status.desiredReplicas = desired;
  // Without a fresh reading, the last known depth stays (with RedisReachable False saying it is stale).
  const queues = o.queues ?? previous?.queues;
  if (queues !== undefined) {
    status.queues = queues;
    status.queueDepth = queues.reduce((n, q) => n + q.waiting, 0);
    status.inFlight = queues.reduce((n, q) => n + q.inFlight, 0);
  }
  const shownBefore = previous?.autoscaling ?? undefined;
  if (o.autoscaling !== undefined) status.autoscaling = withCleared(o.autoscaling, shownBefore);
  else if (shownBefore !== undefined) status.autoscaling = null;
  const lastScaleTime = o.lastScaleTime ?? previous?.lastScaleTime;
  if (lastScaleTime !== undefined) status.lastScaleTime = lastScaleTime;
  return status;
}

/** `next`, with null for each field `before` has and `next` lacks: status is written as a merge patch, which keeps what it leaves out. */
function withCleared<T extends object>(next: T, before: T | undefined): T {
  if (before === undefined) return next;
  const gone = Object.keys(before).filter((k) => !(k in next) && (before as Record<string, unknown>)[k] !== undefined);
  return { ...next, ...Object.fromEntries(gone.map((k) => [k, null])) };
}

const METRIC_FIELDS = new Set(['queueDepth', 'inFlight', 'queues', 'autoscaling']);

/** Structural equality, ignoring key order and keys whose value is undefined. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual(ra[k], rb[k]));
}

/**
 * Whether `next` must be written over `stored`. A change of anything but the queue depths, the wait
 * estimates and the condition messages is written at once; those at most every `metricsIntervalMs`, so that busy pools do not turn every
 * poll into an API write (the depths are in the metrics endpoint in real time).
 */
export function statusNeedsWrite(
  stored: JobPoolStatus | undefined,
  next: JobPoolStatus,
  lastWriteAt: number | undefined,
  now: number,
  metricsIntervalMs: number,
): boolean {
  if (stored === undefined) return true;
  // Condition messages carry live counts ("57 jobs waiting"), so they rank with the depths.
  const significant = (s: JobPoolStatus): Record<string, unknown> => ({
    ...Object.fromEntries(Object.entries(s).filter(([k]) => !METRIC_FIELDS.has(k))),
    conditions: s.conditions?.map(({ message: _message, ...rest }) => rest),
  });
  if (!deepEqual(significant(stored), significant(next))) return true;
  if (deepEqual(stored, next)) return false;
  return lastWriteAt === undefined || now - lastWriteAt >= metricsIntervalMs;
}
