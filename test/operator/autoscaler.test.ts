// The scale decision, case by case: demand, bounds, pause, fallback, and the behavior's windows and policies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideReplicas, type BehaviorInput, type ScaleInput, type ScaleDecision } from '../../operator/src/autoscaler.ts';

const T = 1_000_000;
const base: ScaleInput = {
  waiting: 0,
  inFlight: 0,
  current: 0,
  minReplicas: 0,
  maxReplicas: 20,
  jobsPerReplica: 10,
  scaleDownDelaySeconds: 60,
  fixedReplicas: undefined,
  paused: undefined,
  failedReads: 0,
  fallback: undefined,
  behavior: { scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [] }, scaleDown: { selectPolicy: 'Max', policies: [] } },
  recommendations: [],
  scaleEvents: [],
  now: T,
};

/** The schema's default behavior with some rules changed. */
const behavior = (up: Partial<BehaviorInput['scaleUp']>, down: Partial<BehaviorInput['scaleDown']> = {}): BehaviorInput => ({
  scaleUp: { ...base.behavior.scaleUp, ...up },
  scaleDown: { ...base.behavior.scaleDown, ...down },
});
const unreadable: Partial<ScaleInput> = { waiting: undefined, inFlight: undefined };

const cases: Record<string, { input: Partial<ScaleInput>; want: Partial<ScaleDecision> }> = {
  'idle pool stays at zero': { input: {}, want: { desired: 0, reason: 'DemandMet', recommendations: [{ at: T, replicas: 0 }] } },
  'one job wakes a pool from zero': { input: { waiting: 1 }, want: { desired: 1, reason: 'ScaledUp', message: 'Scaled up from 0 to 1: 1 job waiting, 0 in flight' } },
  'a burst scales up at once': {
    input: { waiting: 57, inFlight: 3, current: 2 },
    want: { desired: 6, reason: 'ScaledUp', message: 'Scaled up from 2 to 6: 57 jobs waiting, 3 in flight', recommendations: [{ at: T, replicas: 6 }] },
  },
  'capped at maxReplicas': { input: { waiting: 1000, current: 20 }, want: { desired: 20, reason: 'AtMaxReplicas', needed: 100 } },
  'scale-up capped at maxReplicas': { input: { waiting: 1000, current: 3 }, want: { desired: 20, reason: 'ScaledUp' } },
  'held at minReplicas': { input: { minReplicas: 2, current: 2 }, want: { desired: 2, reason: 'AtMinReplicas' } },
  'raised to minReplicas': { input: { minReplicas: 2, current: 0 }, want: { desired: 2, reason: 'ScaledUp' } },
  'lower demand waits for the delay': {
    input: { waiting: 5, current: 4, recommendations: [{ at: T - 30_000, replicas: 4 }] },
    want: {
      desired: 4,
      reason: 'ScaleDownDelayed',
      recommendations: [{ at: T - 30_000, replicas: 4 }, { at: T, replicas: 1 }],
      message: '5 jobs waiting, 0 in flight fit 1 replica: scaling down from 4 in 30s unless demand rises',
    },
  },
  'lower demand after the delay scales down': {
    input: { waiting: 5, current: 4, recommendations: [{ at: T - 60_000, replicas: 4 }] },
    want: { desired: 1, reason: 'ScaledDown', message: 'Scaled down from 4 to 1: 5 jobs waiting, 0 in flight', recommendations: [{ at: T, replicas: 1 }] },
  },
  'unknown history starts the delay now': {
    input: { waiting: 0, current: 3 },
    want: { desired: 3, reason: 'ScaleDownDelayed', message: '0 jobs waiting, 0 in flight fit 0 replicas: scaling down from 3 in 60s unless demand rises' },
  },
  'to zero only when nothing waits and nothing runs': {
    input: { waiting: 0, inFlight: 1, current: 3, recommendations: [{ at: T - 120_000, replicas: 3 }] },
    want: { desired: 1, reason: 'ScaledDown' },
  },
  'to zero after the delay': { input: { current: 3, recommendations: [{ at: T - 60_000, replicas: 3 }] }, want: { desired: 0, reason: 'ScaledDown' } },
  'no delay configured scales down at once': { input: { current: 3, scaleDownDelaySeconds: 0 }, want: { desired: 0, reason: 'ScaledDown' } },
  'in-flight jobs count as demand': { input: { inFlight: 25, current: 3 }, want: { desired: 3, reason: 'DemandMet' } },
  'Redis unreachable holds the size': {
    input: { ...unreadable, current: 5, recommendations: [{ at: T - 30_000, replicas: 5 }] },
    want: { desired: 5, reason: 'RedisUnreachable', message: 'Redis cannot be read: holding 5 replicas', recommendations: [{ at: T - 30_000, replicas: 5 }] },
  },
  'Redis unreachable never scales to zero': { input: { waiting: undefined, inFlight: undefined, current: 1 }, want: { desired: 1, reason: 'RedisUnreachable' } },
  'Redis unreachable still honours a lowered maxReplicas': {
    input: { waiting: undefined, inFlight: undefined, current: 30 },
    want: { desired: 20, reason: 'RedisUnreachable' },
  },
  'a lowered maxReplicas applies at once': { input: { waiting: 500, current: 30, recommendations: [{ at: T - 1000, replicas: 30 }] }, want: { desired: 20, reason: 'ScaledDown' } },
  'a raised minReplicas applies at once, whatever the policies': {
    input: { minReplicas: 5, current: 1, behavior: behavior({ policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] }) },
    want: { desired: 5, reason: 'ScaledUp' },
  },
  'spec.replicas overrides the autoscaler': {
    input: { waiting: 500, current: 2, fixedReplicas: 3 },
    want: { desired: 3, reason: 'FixedReplicas', recommendations: [] },
  },
  'spec.replicas 0 pauses the pool': { input: { waiting: 500, current: 2, fixedReplicas: 0 }, want: { desired: 0, reason: 'FixedReplicas' } },

  // forkpool.io/paused and paused-replicas
  'a paused pool holds its size while the queue grows': {
    input: { waiting: 500, current: 2, paused: { replicas: undefined } },
    want: { desired: 2, reason: 'Paused', message: 'forkpool.io/paused is set: autoscaling is off, holding 2 replicas', recommendations: [] },
  },
  'a paused pool goes to paused-replicas': {
    input: { waiting: 500, current: 2, paused: { replicas: 0 } },
    want: { desired: 0, reason: 'Paused', message: 'forkpool.io/paused is set: autoscaling is off, 0 replicas as forkpool.io/paused-replicas says' },
  },
  'a pause wins over spec.replicas': { input: { current: 4, fixedReplicas: 1, paused: { replicas: undefined } }, want: { desired: 4, reason: 'Paused' } },
  'a pause wins over an unreadable Redis': { input: { ...unreadable, current: 3, paused: { replicas: 1 } }, want: { desired: 1, reason: 'Paused' } },

  // spec.scaling.fallback
  'fewer failed reads than the threshold hold the size': {
    input: { ...unreadable, current: 1, failedReads: 2, fallback: { failureThreshold: 3, replicas: 4 } },
    want: { desired: 1, reason: 'RedisUnreachable', message: 'Redis cannot be read: holding 1 replica (fallback after 3 failed reads)' },
  },
  'the threshold reached scales to the fallback': {
    input: { ...unreadable, current: 1, failedReads: 3, fallback: { failureThreshold: 3, replicas: 4 } },
    want: { desired: 4, reason: 'Fallback', message: 'Redis could not be read 3 times in a row: scaled up from 1 to the fallback of 4 replicas' },
  },
  'a fallback stays within maxReplicas': {
    input: { ...unreadable, current: 1, failedReads: 9, fallback: { failureThreshold: 3, replicas: 50 } },
    want: { desired: 20, reason: 'Fallback' },
  },
  'a fallback below the size never removes busy pods': {
    input: { ...unreadable, current: 6, failedReads: 3, fallback: { failureThreshold: 3, replicas: 2 } },
    want: { desired: 6, reason: 'Fallback', message: 'Redis could not be read 3 times in a row: holding 6 replicas (fallback 2; a fallback never removes pods)' },
  },
  'a fallback keeps the history for when Redis is back': {
    input: { ...unreadable, current: 2, failedReads: 5, fallback: { failureThreshold: 1, replicas: 3 }, recommendations: [{ at: T - 5000, replicas: 2 }] },
    want: { desired: 3, recommendations: [{ at: T - 5000, replicas: 2 }] },
  },

  // spec.scaling.behavior
  'a scale-down window set in behavior replaces scaleDownDelaySeconds': {
    input: { current: 4, recommendations: [{ at: T - 30_000, replicas: 4 }], behavior: behavior({}, { stabilizationWindowSeconds: 20 }) },
    want: { desired: 0, reason: 'ScaledDown' },
  },
  'the scale-down window keeps its highest recommendation, not only the current size': {
    input: { waiting: 10, current: 6, recommendations: [{ at: T - 70_000, replicas: 6 }, { at: T - 40_000, replicas: 4 }, { at: T - 10_000, replicas: 2 }] },
    want: { desired: 4, reason: 'ScaleDownDelayed', message: 'Scaled down from 6 to 4: 10 jobs waiting, 0 in flight fit 1 replica, further in 20s unless demand rises' },
  },
  'a scale-up window holds a spike back to its lowest recommendation': {
    input: { waiting: 100, current: 2, recommendations: [{ at: T - 20_000, replicas: 2 }, { at: T - 5000, replicas: 5 }], behavior: behavior({ stabilizationWindowSeconds: 30 }) },
    want: { desired: 2, reason: 'ScaleUpDelayed', message: 'Holding 2: 100 jobs waiting, 0 in flight need 10, the scale-up stabilization window (30s) holds it' },
  },
  'a scale-up window lets the lowest recent recommendation through': {
    input: { waiting: 100, current: 2, recommendations: [{ at: T - 40_000, replicas: 2 }, { at: T - 5000, replicas: 5 }], behavior: behavior({ stabilizationWindowSeconds: 30 }) },
    want: { desired: 5, reason: 'ScaleUpDelayed' },
  },
  'a Pods policy limits a scale-up': {
    input: { waiting: 200, current: 2, behavior: behavior({ policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }] }) },
    want: { desired: 6, reason: 'ScaleUpLimited', message: 'Scaled up from 2 to 6: 200 jobs waiting, 0 in flight need 20, behavior.scaleUp.policies allow no more for now' },
  },
  'a Pods policy counts the changes of its period': {
    input: { waiting: 200, current: 6, scaleEvents: [{ at: T - 30_000, change: 4 }], behavior: behavior({ policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }] }) },
    want: { desired: 6, reason: 'ScaleUpLimited', message: 'Holding 6: 200 jobs waiting, 0 in flight need 20, behavior.scaleUp.policies allow no more for now' },
  },
  'changes older than the period no longer count': {
    input: { waiting: 200, current: 6, scaleEvents: [{ at: T - 60_000, change: 4 }], behavior: behavior({ policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }] }) },
    want: { desired: 10, reason: 'ScaleUpLimited', scaleEvents: [] },
  },
  'Max picks the policy allowing the larger scale-up': {
    input: {
      waiting: 200,
      current: 10,
      behavior: behavior({ policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }, { type: 'Percent', value: 100, periodSeconds: 60 }] }),
    },
    want: { desired: 20, reason: 'ScaledUp' },
  },
  'Min picks the policy allowing the smaller scale-up': {
    input: {
      waiting: 200,
      current: 10,
      behavior: behavior({ selectPolicy: 'Min', policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }, { type: 'Percent', value: 100, periodSeconds: 60 }] }),
    },
    want: { desired: 14, reason: 'ScaleUpLimited' },
  },
  'a Percent scale-up rounds up, so a small pool still grows': {
    input: { waiting: 200, current: 1, behavior: behavior({ policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] }) },
    want: { desired: 2, reason: 'ScaleUpLimited' },
  },
  'Disabled scale-up holds the size': {
    input: { waiting: 200, current: 1, behavior: behavior({ selectPolicy: 'Disabled' }) },
    want: { desired: 1, reason: 'ScaleUpLimited', message: 'Holding 1: 200 jobs waiting, 0 in flight need 20, behavior.scaleUp.selectPolicy is Disabled' },
  },
  'a Pods policy limits a scale-down after the window': {
    input: { current: 10, recommendations: [{ at: T - 60_000, replicas: 10 }], behavior: behavior({}, { policies: [{ type: 'Pods', value: 2, periodSeconds: 15 }] }) },
    want: { desired: 8, reason: 'ScaleDownLimited', message: 'Scaled down from 10 to 8: 0 jobs waiting, 0 in flight fit 0 replicas, behavior.scaleDown.policies allow no more for now' },
  },
  'a scale-down within the period counts against its policy': {
    input: {
      current: 8,
      scaleEvents: [{ at: T - 10_000, change: -2 }],
      recommendations: [{ at: T - 60_000, replicas: 10 }],
      behavior: behavior({}, { policies: [{ type: 'Pods', value: 2, periodSeconds: 15 }] }),
    },
    want: { desired: 8, reason: 'ScaleDownLimited' },
  },
  'a Percent scale-down rounds down': {
    input: { current: 5, recommendations: [{ at: T - 60_000, replicas: 5 }], behavior: behavior({}, { policies: [{ type: 'Percent', value: 50, periodSeconds: 15 }] }) },
    want: { desired: 2, reason: 'ScaleDownLimited' },
  },
  'Disabled scale-down holds the size': {
    input: { current: 5, recommendations: [{ at: T - 60_000, replicas: 5 }], behavior: behavior({}, { selectPolicy: 'Disabled' }) },
    want: { desired: 5, reason: 'ScaleDownLimited' },
  },
  'the wait model\'s demand replaces jobsPerReplica, and the message names the target': {
    input: { waiting: 2, inFlight: 3, current: 1, waitDemand: { replicas: 4, expectedWaitSeconds: 0.2, summary: '4 jobs/s arriving, 0.5 s each, target wait 1 s' } },
    want: { desired: 4, reason: 'ScaledUp', needed: 4, message: 'Scaled up from 1 to 4: 2 jobs waiting, 3 in flight, 4 jobs/s arriving, 0.5 s each, target wait 1 s' },
  },
  'the wait model\'s demand goes through the scale-down delay': {
    input: { current: 4, recommendations: [{ at: T - 10_000, replicas: 4 }], waitDemand: { replicas: 1, expectedWaitSeconds: 0.5, summary: '0.5 jobs/s arriving, 0.5 s each, target wait 1 s' } },
    want: { desired: 4, reason: 'ScaleDownDelayed' },
  },
  'the wait model\'s demand is capped at maxReplicas': {
    input: { current: 20, waitDemand: { replicas: 21, expectedWaitSeconds: Number.POSITIVE_INFINITY, summary: '90 jobs/s arriving, 0.5 s each, target wait 1 s' } },
    want: { desired: 20, reason: 'AtMaxReplicas', needed: 21 },
  },
  'Redis unreachable holds the size whatever the wait model said': {
    input: { waiting: undefined, inFlight: undefined, current: 5, waitDemand: { replicas: 0, expectedWaitSeconds: 0, summary: '' } },
    want: { desired: 5, reason: 'RedisUnreachable' },
  },
};

for (const [name, { input, want }] of Object.entries(cases)) {
  test(name, () => {
    const got = decideReplicas({ ...base, ...input });
    const picked = Object.fromEntries(Object.keys(want).map((k) => [k, got[k as keyof ScaleDecision]]));
    assert.deepEqual(picked, want);
  });
}

/** Decisions every 2 s from `current` as the controller makes them: each one's history and the applied changes feed the next. */
function run(input: Partial<ScaleInput>, waitingAt: (t: number) => number, untilMs: number): number[] {
  let current = input.current ?? 0;
  let recommendations: ScaleInput['recommendations'] = [];
  let scaleEvents: ScaleInput['scaleEvents'] = [];
  const sizes: number[] = [];
  for (let t = 0; t <= untilMs; t += 2_000) {
    const d = decideReplicas({ ...base, ...input, waiting: waitingAt(t), current, recommendations, scaleEvents, now: T + t });
    recommendations = d.recommendations;
    scaleEvents = d.desired === current ? d.scaleEvents : [...d.scaleEvents, { at: T + t, change: d.desired - current }];
    current = d.desired;
    sizes.push(current);
  }
  return sizes;
}

test('a steady stream keeps pushing the scale-down back', () => {
  // Demand fits 4 replicas every 30 s, 1 replica in between: never 60 s of lower demand.
  const sizes = run({ current: 4 }, (t) => (t % 30_000 === 0 ? 40 : 5), 120_000);
  assert.ok(sizes.every((n) => n === 4), sizes.join(' '));
});

test('a scale-down policy of 2 pods per 15 s takes 10 pods to zero in steps of 2', () => {
  const sizes = run({ current: 10, behavior: behavior({}, { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 2, periodSeconds: 15 }] }) }, () => 0, 80_000);
  // Every 2 s a decision; a step of 2 only once the previous one has left the 15 s period.
  const steps = sizes.filter((n, i) => n !== (i === 0 ? 10 : sizes[i - 1]));
  assert.deepEqual(steps, [8, 6, 4, 2, 0]);
  assert.equal(sizes.indexOf(6), 8, sizes.join(' '));
});
