// The scale decision: how many worker pods a pool should have, from its queue depth and the clock. Pure.

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
  scaleDownDelaySeconds: number;
  /** spec.replicas of the JobPool: set by `kubectl scale`, an HPA or KEDA, it overrides the autoscaler. */
  fixedReplicas: number | undefined;
  /**
   * The last time demand was at least the current size (so no scale-down was due). Undefined when not
   * known, e.g. after the operator started: the delay then starts now, so a restart never scales down early.
   */
  demandHighAt: number | undefined;
  now: number;
}

/** Why the pool has the size it has; CamelCase, used as the Scaling condition's reason. */
export type ScaleReason =
  | 'FixedReplicas'
  | 'RedisUnreachable'
  | 'ScaledUp'
  | 'ScaledDown'
  | 'ScaleDownDelayed'
  | 'AtMaxReplicas'
  | 'AtMinReplicas'
  | 'DemandMet';

export interface ScaleDecision {
  desired: number;
  reason: ScaleReason;
  /** One sentence for people, e.g. `Scaled up from 2 to 6: 57 jobs waiting, 3 in flight`. */
  message: string;
  /** The value of `demandHighAt` to pass to the next decision. */
  demandHighAt: number | undefined;
  /** Demand before the min/max clamp: ceil((waiting + inFlight) / jobsPerReplica). */
  needed: number | undefined;
}

const clamp = (n: number, min: number, max: number): number => Math.min(Math.max(n, min), max);
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/**
 * Desired replicas = clamp(ceil((waiting + inFlight) / jobsPerReplica), min, max). Up at once; down only
 * once demand has stayed lower for scaleDownDelaySeconds (to zero only when nothing waits and nothing
 * runs, since any job makes ceil() at least 1); when Redis cannot be read, hold the current size.
 */
export function decideReplicas(input: ScaleInput): ScaleDecision {
  const { current, minReplicas, maxReplicas, now } = input;
  if (input.fixedReplicas !== undefined) {
    const desired = input.fixedReplicas;
    return {
      desired,
      reason: 'FixedReplicas',
      message: `spec.replicas is ${desired}: queue-depth autoscaling is off until it is removed`,
      demandHighAt: undefined,
      needed: undefined,
    };
  }
  if (input.waiting === undefined || input.inFlight === undefined) {
    // Never scale on an error; only a spec change of the bounds still applies.
    const desired = clamp(current, minReplicas, maxReplicas);
    return {
      desired,
      reason: 'RedisUnreachable',
      message: `Redis cannot be read: holding ${plural(desired, 'replica', 'replicas')}`,
      demandHighAt: input.demandHighAt,
      needed: undefined,
    };
  }
  const jobs = `${plural(input.waiting, 'job', 'jobs')} waiting, ${input.inFlight} in flight`;
  const needed = Math.ceil((input.waiting + input.inFlight) / input.jobsPerReplica);
  const target = clamp(needed, minReplicas, maxReplicas);

  if (target >= current) {
    const reason: ScaleReason = target > current ? 'ScaledUp' : needed > maxReplicas ? 'AtMaxReplicas' : needed < minReplicas ? 'AtMinReplicas' : 'DemandMet';
    const message =
      target > current
        ? `Scaled up from ${current} to ${target}: ${jobs}`
        : reason === 'AtMaxReplicas'
          ? `${jobs} would need ${needed} replicas: capped at maxReplicas ${maxReplicas}`
          : reason === 'AtMinReplicas'
            ? `${jobs}: held at minReplicas ${minReplicas}`
            : `${plural(current, 'replica', 'replicas')} for ${jobs}`;
    return { desired: target, reason, message, demandHighAt: now, needed };
  }

  // target < current. Above maxReplicas (the spec was lowered) is not a demand decision: apply it now.
  if (current > maxReplicas) {
    return { desired: target, reason: 'ScaledDown', message: `Scaled down from ${current} to ${target}: maxReplicas is ${maxReplicas}; ${jobs}`, demandHighAt: now, needed };
  }
  const since = input.demandHighAt ?? now;
  const waitMs = input.scaleDownDelaySeconds * 1000 - (now - since);
  if (waitMs > 0) {
    return {
      desired: current,
      reason: 'ScaleDownDelayed',
      message: `${jobs} fit ${plural(target, 'replica', 'replicas')}: scaling down from ${current} in ${Math.ceil(waitMs / 1000)}s unless demand rises`,
      demandHighAt: since,
      needed,
    };
  }
  return { desired: target, reason: 'ScaledDown', message: `Scaled down from ${current} to ${target}: ${jobs}`, demandHighAt: now, needed };
}
