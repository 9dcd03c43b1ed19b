// How fast a pool may change size, as the HorizontalPodAutoscaler's `behavior` says it: a stabilization
// window over past recommendations, then rate policies over past scale events. Pure.

/** One recommendation of the autoscaler (the bounded size demand asked for), at a time in ms since the epoch. */
export interface Recommendation {
  at: number;
  replicas: number;
}

/** One change of size the operator made: `change` is positive for a scale-up, negative for a scale-down. */
export interface ScaleEvent {
  at: number;
  change: number;
}

/** A limit on how much the size may change within a period, in pods or in percent of the size at the period's start. */
export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

/** The rules of one direction, as HPAScalingRules. */
export interface ScalingRules {
  stabilizationWindowSeconds: number;
  /** Max: the policy allowing the largest change applies; Min: the smallest; Disabled: no change in this direction. */
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  /** No policy: the change is not rate-limited. */
  policies: readonly ScalingPolicy[];
}

export interface ScalingBehavior {
  scaleUp: ScalingRules;
  scaleDown: ScalingRules;
}

/**
 * The size the stabilization windows allow: at least the lowest recommendation of the scale-up window and
 * at most the highest of the scale-down window, both including `recommended`; the current size where
 * those bounds allow it. An empty history counts as the current size recommended `now`, so that an
 * operator that starts does not scale down before a whole window has passed.
 */
export function stabilize(history: readonly Recommendation[], recommended: number, current: number, behavior: ScalingBehavior, now: number): number {
  const upCutoff = now - behavior.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - behavior.scaleDown.stabilizationWindowSeconds * 1000;
  const seen = history.length > 0 ? history : [{ at: now, replicas: current }];
  let up = recommended;
  let down = recommended;
  for (const r of seen) {
    if (r.at > upCutoff) up = Math.min(up, r.replicas);
    if (r.at > downCutoff) down = Math.max(down, r.replicas);
  }
  return Math.min(Math.max(current, up), down);
}

/** Pods added (direction 1) or removed (direction -1) by the events within `periodSeconds` before `now`. */
function changedWithin(events: readonly ScaleEvent[], periodSeconds: number, direction: 1 | -1, now: number): number {
  const cutoff = now - periodSeconds * 1000;
  return events.filter((e) => e.at > cutoff && Math.sign(e.change) === direction).reduce((n, e) => n + Math.abs(e.change), 0);
}

/**
 * The largest size the scale-up rules allow (direction 1) or the smallest the scale-down rules allow
 * (direction -1), from the size at the start of each policy's period. Only changes in the same direction
 * count: a scale-up just before a drop in demand must not let the scale-down remove more than its policy
 * allows. Undefined when nothing limits it.
 */
export function rateLimit(current: number, events: readonly ScaleEvent[], rules: ScalingRules, direction: 1 | -1, now: number): number | undefined {
  if (rules.selectPolicy === 'Disabled') return current;
  if (rules.policies.length === 0) return undefined;
  const proposals = rules.policies.map((p) => {
    const start = current - direction * changedWithin(events, p.periodSeconds, direction, now);
    if (direction === 1) return p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    return p.type === 'Pods' ? start - p.value : Math.floor(start * (1 - p.value / 100));
  });
  // Max picks the largest change (the highest size up, the lowest down); Min the smallest.
  const highest = (direction === 1) === (rules.selectPolicy === 'Max');
  const limit = highest ? Math.max(...proposals) : Math.min(...proposals);
  // Changes of the period already spent more than a policy allows: no further change, never a reverse one.
  return direction === 1 ? Math.max(limit, current) : Math.min(limit, current);
}

/** The history a decision keeps: what is still inside either window, plus the new recommendation (one per time). */
export function keepRecommendations(history: readonly Recommendation[], latest: Recommendation, behavior: ScalingBehavior): Recommendation[] {
  const longest = Math.max(behavior.scaleUp.stabilizationWindowSeconds, behavior.scaleDown.stabilizationWindowSeconds) * 1000;
  return [...history.filter((r) => r.at > latest.at - longest && r.at < latest.at), latest];
}

/** The scale events a decision keeps: those inside the longest policy period. */
export function keepScaleEvents(events: readonly ScaleEvent[], behavior: ScalingBehavior, now: number): ScaleEvent[] {
  const periods = [...behavior.scaleUp.policies, ...behavior.scaleDown.policies].map((p) => p.periodSeconds);
  const longest = Math.max(0, ...periods) * 1000;
  return events.filter((e) => e.at > now - longest);
}
