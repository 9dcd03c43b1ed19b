// The scale decision: how many worker pods a pool should have, from its queue depth and the clock. Pure.
import type { WaitDemand } from './wait-estimator.ts';

import { keepRecommendations, keepScaleEvents, rateLimit, stabilize, type Recommendation, type ScaleEvent, type ScalingBehavior, type ScalingRules } from './scaling-behavior.ts';

/** spec.scaling.behavior as the schema gives it: the scale-down window is scaleDownDelaySeconds unless set. */
export interface BehaviorInput {
  scaleUp: ScalingRules;
  scaleDown: Omit<ScalingRules, 'stabilizationWindowSeconds'> & { stabilizationWindowSeconds?: number | undefined };
}

/** What the decision is made from. Times are milliseconds since the epoch. */
export interface ScaleInput {
  /** Jobs waiting in the pool's queues, or undefined when Redis could not be read this tick. */
  waiting: number | undefined;
  /** Jobs of the pool's queues held by workers (undefined with `waiting`). */
  inFlight: number | undefined;
  /** The Deployment's current spec.replicas (0 when it does not exist yet). */
  current: number;
  minReplicas: number;
  maxReplicas: number;
  jobsPerReplica: number;
  /**
   * With spec.scaling.targetWaitSeconds and rate estimates at hand: the replicas the wait-time model needs
   * (see wait-estimator.ts), used for demand instead of jobsPerReplica. Undefined: jobsPerReplica decides.
   */
  waitDemand?: WaitDemand | undefined;
  /** The scale-down stabilization window when behavior.scaleDown.stabilizationWindowSeconds is not set. */
  scaleDownDelaySeconds: number;
  /** spec.replicas of the JobPool: set by `kubectl scale`, an HPA or KEDA, it overrides the autoscaler. */
  fixedReplicas: number | undefined;
  /** Set while the pool carries forkpool.io/paused: the size from forkpool.io/paused-replicas, or undefined to hold it. */
  paused: { replicas: number | undefined } | undefined;
  /** Polls in a row, this one included, that could not read Redis. */
  failedReads: number;
  /** spec.scaling.fallback: the size to go to after failureThreshold failed reads in a row. */
  fallback: { failureThreshold: number; replicas: number } | undefined;
  behavior: BehaviorInput;
  /**
   * Recommendations of earlier decisions (from the last decision's `recommendations`). Empty when not
   * known, e.g. after the operator started: the scale-down window then starts now, so a restart never
   * scales down early.
   */
  recommendations: readonly Recommendation[];
  /** Changes of size the operator made, for the rate policies (from the last decision's `scaleEvents`, plus the one it applied). */
  scaleEvents: readonly ScaleEvent[];
  now: number;
}

/** Why the pool has the size it has; CamelCase, used as the Scaling condition's reason. */
export type ScaleReason =
  | 'Paused'
  | 'FixedReplicas'
  | 'RedisUnreachable'
  | 'Fallback'
  | 'ScaledUp'
  | 'ScaledDown'
  | 'ScaleUpDelayed'
  | 'ScaleDownDelayed'
  | 'ScaleUpLimited'
  | 'ScaleDownLimited'
  | 'AtMaxReplicas'
  | 'AtMinReplicas'
  | 'DemandMet';

export interface ScaleDecision {
  desired: number;
  reason: ScaleReason;
  /** One sentence for people, e.g. `Scaled up from 2 to 6: 57 jobs waiting, 3 in flight`. */
  message: string;
  /** The value of `recommendations` to pass to the next decision. */
  recommendations: Recommendation[];
  /** The value of `scaleEvents` to pass to the next decision, once the change of this one (if any) is added. */
  scaleEvents: ScaleEvent[];
  /** Demand before the min/max clamp: ceil((waiting + inFlight) / jobsPerReplica), or the wait model's replicas. */
  needed: number | undefined;
}

const clamp = (n: number, min: number, max: number): number => Math.min(Math.max(n, min), max);
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** The behavior with the scale-down window filled in from scaleDownDelaySeconds. */
function resolveBehavior(input: ScaleInput): ScalingBehavior {
  const { scaleUp, scaleDown } = input.behavior;
  return { scaleUp, scaleDown: { ...scaleDown, stabilizationWindowSeconds: scaleDown.stabilizationWindowSeconds ?? input.scaleDownDelaySeconds } };
}

/** The decision while Redis cannot be read: hold the size, or after enough failed reads raise it to the fallback size. */
function decideUnreadable(input: ScaleInput): ScaleDecision {
  const { current, minReplicas, maxReplicas, fallback, failedReads } = input;
  // Never scale on an error; only a spec change of the bounds still applies.
  const held = clamp(current, minReplicas, maxReplicas);
  const kept = { recommendations: [...input.recommendations], scaleEvents: [...input.scaleEvents], needed: undefined };
  if (fallback === undefined || failedReads < fallback.failureThreshold) {
    const after = fallback === undefined ? '' : ` (fallback after ${plural(fallback.failureThreshold, 'failed read', 'failed reads')})`;
    return { desired: held, reason: 'RedisUnreachable', message: `Redis cannot be read: holding ${plural(held, 'replica', 'replicas')}${after}`, ...kept };
  }
  // Busy pods cannot be told from idle ones without Redis: a fallback raises the size, never lowers it.
  const desired = Math.max(held, clamp(fallback.replicas, minReplicas, maxReplicas));
  const reads = `Redis could not be read ${plural(failedReads, 'time', 'times')} in a row`;
  const message =
    desired > held
      ? `${reads}: scaled up from ${current} to the fallback of ${desired} replicas`
      : `${reads}: holding ${plural(desired, 'replica', 'replicas')} (fallback ${fallback.replicas}; a fallback never removes pods)`;
  return { desired, reason: 'Fallback', message, ...kept };
}

/**
 * Desired replicas = clamp(ceil((waiting + inFlight) / jobsPerReplica), min, max), then moved towards by
 * spec.scaling.behavior as an HPA would: within the stabilization windows (the scale-down one is
 * scaleDownDelaySeconds unless set), at the rate the policies allow. To zero only when nothing waits and
 * nothing runs, since any job makes ceil() at least 1. A paused pool or spec.replicas overrides all of it;
 * when Redis cannot be read the size holds, or goes up to spec.scaling.fallback.replicas.
 */
export function decideReplicas(input: ScaleInput): ScaleDecision {
  const { current, minReplicas, maxReplicas } = input;
  if (input.paused !== undefined) {
    const desired = input.paused.replicas ?? current;
    const message =
      input.paused.replicas === undefined
        ? `forkpool.io/paused is set: autoscaling is off, holding ${plural(desired, 'replica', 'replicas')}`
        : `forkpool.io/paused is set: autoscaling is off, ${plural(desired, 'replica', 'replicas')} as forkpool.io/paused-replicas says`;
    return { desired, reason: 'Paused', message, recommendations: [], scaleEvents: [...input.scaleEvents], needed: undefined };
  }
  if (input.fixedReplicas !== undefined) {
    const desired = input.fixedReplicas;
    return {
      desired,
      reason: 'FixedReplicas',
      message: `spec.replicas is ${desired}: queue-depth autoscaling is off until it is removed`,
      recommendations: [],
      scaleEvents: [...input.scaleEvents],
      needed: undefined,
    };
  }
  if (input.waiting === undefined || input.inFlight === undefined) return decideUnreadable(input);
  const depth = `${plural(input.waiting, 'job', 'jobs')} waiting, ${input.inFlight} in flight`;
  const jobs = input.waitDemand === undefined ? depth : `${depth}, ${input.waitDemand.summary}`;
  const needed = input.waitDemand?.replicas ?? Math.ceil((input.waiting + input.inFlight) / input.jobsPerReplica);
  const target = clamp(needed, minReplicas, maxReplicas);
  return moveTowards(input, target, needed, jobs);
}

/** The step from the current size towards `target` that the stabilization windows and rate policies allow, and its reason. */
function moveTowards(input: ScaleInput, target: number, needed: number, jobs: string): ScaleDecision {
  const { current, minReplicas, maxReplicas, now } = input;
  const behavior = resolveBehavior(input);
  const recommendations = keepRecommendations(input.recommendations, { at: now, replicas: target }, behavior);
  const scaleEvents = keepScaleEvents(input.scaleEvents, behavior, now);
  const decided = (desired: number, reason: ScaleReason, message: string): ScaleDecision => ({ desired, reason, message, recommendations, scaleEvents, needed });

  if (target === current) {
    if (needed > maxReplicas) return decided(current, 'AtMaxReplicas', `${jobs} would need ${needed} replicas: capped at maxReplicas ${maxReplicas}`);
    if (needed < minReplicas) return decided(current, 'AtMinReplicas', `${jobs}: held at minReplicas ${minReplicas}`);
    return decided(current, 'DemandMet', `${plural(current, 'replica', 'replicas')} for ${jobs}`);
  }
  // Outside the bounds (the spec changed them) is not a demand decision: apply them now.
  if (current > maxReplicas || current < minReplicas) {
    const verb = target > current ? 'up' : 'down';
    return decided(target, target > current ? 'ScaledUp' : 'ScaledDown', `Scaled ${verb} from ${current} to ${target}: the bounds are ${minReplicas}..${maxReplicas}; ${jobs}`);
  }

  const stabilized = stabilize(input.recommendations, target, current, behavior, now);
  if (target > current) {
    const limit = rateLimit(current, scaleEvents, behavior.scaleUp, 1, now);
    const desired = Math.min(stabilized, limit ?? stabilized);
    if (desired === target) return decided(desired, 'ScaledUp', `Scaled up from ${current} to ${desired}: ${jobs}`);
    const why =
      desired < stabilized
        ? behavior.scaleUp.selectPolicy === 'Disabled'
          ? 'behavior.scaleUp.selectPolicy is Disabled'
          : 'behavior.scaleUp.policies allow no more for now'
        : `the scale-up stabilization window (${behavior.scaleUp.stabilizationWindowSeconds}s) holds it`;
    const step = desired > current ? `Scaled up from ${current} to ${desired}` : `Holding ${current}`;
    return decided(desired, desired < stabilized ? 'ScaleUpLimited' : 'ScaleUpDelayed', `${step}: ${jobs} need ${target}, ${why}`);
  }

  const limit = rateLimit(current, scaleEvents, behavior.scaleDown, -1, now);
  const desired = Math.max(stabilized, limit ?? stabilized);
  if (desired === target) return decided(desired, 'ScaledDown', `Scaled down from ${current} to ${desired}: ${jobs}`);
  if (desired > stabilized) {
    const why = behavior.scaleDown.selectPolicy === 'Disabled' ? 'behavior.scaleDown.selectPolicy is Disabled' : 'behavior.scaleDown.policies allow no more for now';
    const step = desired < current ? `Scaled down from ${current} to ${desired}` : `Holding ${current}`;
    return decided(desired, 'ScaleDownLimited', `${step}: ${jobs} fit ${plural(target, 'replica', 'replicas')}, ${why}`);
  }
  // Held by the window: the scale-down goes on once the recommendations at least as high as `desired` leave it.
  const windowMs = behavior.scaleDown.stabilizationWindowSeconds * 1000;
  const seen = input.recommendations.length > 0 ? input.recommendations : [{ at: now, replicas: current }];
  const lastHigh = Math.max(...seen.filter((r) => r.replicas >= desired && r.at > now - windowMs).map((r) => r.at));
  const inSeconds = Math.max(1, Math.ceil((lastHigh + windowMs - now) / 1000));
  const fits = `${jobs} fit ${plural(target, 'replica', 'replicas')}`;
  return decided(
    desired,
    'ScaleDownDelayed',
    desired < current
      ? `Scaled down from ${current} to ${desired}: ${fits}, further in ${inSeconds}s unless demand rises`
      : `${fits}: scaling down from ${current} in ${inSeconds}s unless demand rises`,
  );
}
