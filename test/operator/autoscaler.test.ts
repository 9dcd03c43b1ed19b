// The scale decision, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideReplicas, type ScaleInput, type ScaleDecision } from '../../operator/src/autoscaler.ts';

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
  demandHighAt: undefined,
  now: T,
};

const cases: Record<string, { input: Partial<ScaleInput>; want: Partial<ScaleDecision> }> = {
  'idle pool stays at zero': { input: {}, want: { desired: 0, reason: 'DemandMet', demandHighAt: T } },
  'one job wakes a pool from zero': { input: { waiting: 1 }, want: { desired: 1, reason: 'ScaledUp', message: 'Scaled up from 0 to 1: 1 job waiting, 0 in flight' } },
  'a burst scales up at once': {
    input: { waiting: 57, inFlight: 3, current: 2 },
    want: { desired: 6, reason: 'ScaledUp', message: 'Scaled up from 2 to 6: 57 jobs waiting, 3 in flight', demandHighAt: T },
  },
  'capped at maxReplicas': { input: { waiting: 1000, current: 20 }, want: { desired: 20, reason: 'AtMaxReplicas', needed: 100 } },
  'scale-up capped at maxReplicas': { input: { waiting: 1000, current: 3 }, want: { desired: 20, reason: 'ScaledUp' } },
  'held at minReplicas': { input: { minReplicas: 2, current: 2 }, want: { desired: 2, reason: 'AtMinReplicas' } },
  'raised to minReplicas': { input: { minReplicas: 2, current: 0 }, want: { desired: 2, reason: 'ScaledUp' } },
  'lower demand waits for the delay': {
    input: { waiting: 5, current: 4, demandHighAt: T - 30_000 },
    want: { desired: 4, reason: 'ScaleDownDelayed', demandHighAt: T - 30_000, message: '5 jobs waiting, 0 in flight fit 1 replica: scaling down from 4 in 30s unless demand rises' },
  },
  'lower demand after the delay scales down': {
    input: { waiting: 5, current: 4, demandHighAt: T - 60_000 },
    want: { desired: 1, reason: 'ScaledDown', message: 'Scaled down from 4 to 1: 5 jobs waiting, 0 in flight', demandHighAt: T },
  },
  'unknown history starts the delay now': { input: { waiting: 0, current: 3 }, want: { desired: 3, reason: 'ScaleDownDelayed', demandHighAt: T } },
  'to zero only when nothing waits and nothing runs': {
    input: { waiting: 0, inFlight: 1, current: 3, demandHighAt: T - 120_000 },
    want: { desired: 1, reason: 'ScaledDown' },
  },
  'to zero after the delay': { input: { current: 3, demandHighAt: T - 60_000 }, want: { desired: 0, reason: 'ScaledDown' } },
  'no delay configured scales down at once': { input: { current: 3, scaleDownDelaySeconds: 0 }, want: { desired: 0, reason: 'ScaledDown' } },
  'in-flight jobs count as demand': { input: { inFlight: 25, current: 3 }, want: { desired: 3, reason: 'DemandMet' } },
  'Redis unreachable holds the size': {
    input: { waiting: undefined, inFlight: undefined, current: 5, demandHighAt: T - 600_000 },
    want: { desired: 5, reason: 'RedisUnreachable', message: 'Redis cannot be read: holding 5 replicas', demandHighAt: T - 600_000 },
  },
  'Redis unreachable never scales to zero': { input: { waiting: undefined, inFlight: undefined, current: 1 }, want: { desired: 1, reason: 'RedisUnreachable' } },
  'Redis unreachable still honours a lowered maxReplicas': {
    input: { waiting: undefined, inFlight: undefined, current: 30 },
    want: { desired: 20, reason: 'RedisUnreachable' },
  },
  'a lowered maxReplicas applies at once': { input: { waiting: 500, current: 30, demandHighAt: T }, want: { desired: 20, reason: 'ScaledDown' } },
  'spec.replicas overrides the autoscaler': {
    input: { waiting: 500, current: 2, fixedReplicas: 3 },
    want: { desired: 3, reason: 'FixedReplicas', demandHighAt: undefined },
  },
  'spec.replicas 0 pauses the pool': { input: { waiting: 500, current: 2, fixedReplicas: 0 }, want: { desired: 0, reason: 'FixedReplicas' } },
};

for (const [name, { input, want }] of Object.entries(cases)) {
  test(name, () => {
    const got = decideReplicas({ ...base, ...input });
    const picked = Object.fromEntries(Object.keys(want).map((k) => [k, got[k as keyof ScaleDecision]]));
    assert.deepEqual(picked, want);
  });
}

test('a steady stream keeps pushing the scale-down back', () => {
  let state = { current: 4, demandHighAt: undefined as number | undefined };
  for (let t = 0; t <= 120_000; t += 2_000) {
    // Demand fits 4 replicas every 30 s, 1 replica in between: never 60 s of lower demand.
    const waiting = t % 30_000 === 0 ? 40 : 5;
    const d = decideReplicas({ ...base, waiting, current: state.current, demandHighAt: state.demandHighAt, now: T + t });
    state = { current: d.desired, demandHighAt: d.demandHighAt };
    assert.equal(d.desired, 4, `at ${t} ms`);
  }
});
