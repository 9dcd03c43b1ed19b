// The wait-time model: rates from the counters, Erlang C, and the replicas a target needs, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  erlangWaitSeconds,
  expectedWaitSeconds,
  observeRates,
  rateEstimate,
  replicasForWait,
  type EstimatorState,
  type RateEstimate,
  type RateReading,
  type WaitTarget,
} from '../../operator/src/wait-estimator.ts';

const T = 1_700_000_000_000;

/** Readings every `everyMs` of a pool that finishes `perTick` jobs of `serviceMs` each per poll, with this depth and in-flight. */
function steady(n: number, o: { perTick: number; serviceMs: number; everyMs?: number; waiting?: number; inFlight?: number; from?: RateReading }): RateReading[] {
  const every = o.everyMs ?? 2000;
  const start = o.from ?? { at: T, waiting: o.waiting ?? 0, inFlight: o.inFlight ?? 0, processed: 1000, busyMs: 500_000 };
  return Array.from({ length: n }, (_, i) => ({
    at: start.at + (o.from ? i + 1 : i) * every,
    waiting: o.waiting ?? 0,
    inFlight: o.inFlight ?? 0,
    processed: (start.processed ?? 0) + (o.from ? i + 1 : i) * o.perTick,
    busyMs: (start.busyMs ?? 0) + (o.from ? i + 1 : i) * o.perTick * o.serviceMs,
  }));
}

function fold(readings: (RateReading | undefined)[], state?: EstimatorState): EstimatorState | undefined {
  return readings.reduce<EstimatorState | undefined>((s, r) => observeRates(s, r), state);
}

const close = (got: number | undefined, want: number, what: string, tolerance = 0.02): void => {
  assert.ok(got !== undefined && Math.abs(got - want) <= tolerance * Math.max(1, Math.abs(want)), `${what}: got ${got}, want ${want}`);
};

const target = (t: Partial<WaitTarget>): WaitTarget => ({ targetWaitSeconds: 1, concurrency: 1, waiting: 0, horizonSeconds: 5, ...t });

test('Erlang C: M/M/1 and M/M/2 against their closed forms', () => {
  // M/M/1: W_q = ρ / (μ − λ); M/M/2 with a = 1: C = 1/3, W_q = C / (2μ − λ).
  close(erlangWaitSeconds({ arrivalPerSecond: 0.5, serviceSeconds: 1 }, 1), 1, 'M/M/1 at ρ = 0.5');
  close(erlangWaitSeconds({ arrivalPerSecond: 1, serviceSeconds: 1 }, 2), 1 / 3, 'M/M/2 at a = 1');
  assert.equal(erlangWaitSeconds({ arrivalPerSecond: 2, serviceSeconds: 1 }, 2), Number.POSITIVE_INFINITY, 'c·μ = λ cannot keep up');
  assert.equal(erlangWaitSeconds({ arrivalPerSecond: 0, serviceSeconds: 1 }, 0), 0, 'no arrivals, no wait');
  // Many slots: the recursion stays finite (a = 500).
  const w = erlangWaitSeconds({ arrivalPerSecond: 500, serviceSeconds: 1 }, 560);
  assert.ok(w > 0 && w < 0.01, `a = 500 on 560 slots waits a little: ${w}`);
});

interface Case {
  readings: (RateReading | undefined)[];
  /** Expected estimate, or undefined when the model must not be used (the autoscaler falls back to jobsPerReplica). */
  rates: RateEstimate | undefined;
  /** With this target: the replicas needed. */
  target?: Partial<WaitTarget>;
  replicas?: number;
}

const steadyLoad = steady(30, { perTick: 8, serviceMs: 500, inFlight: 2 });
const lastSteady = steadyLoad.at(-1) as RateReading;

const cases: Record<string, Case> = {
  'steady load: 4 jobs/s of 0.5 s need 3 slots for a 1 s target (2 would be saturated)': {
    readings: steadyLoad,
    rates: { arrivalPerSecond: 4, serviceSeconds: 0.5 },
    target: {},
    replicas: 3,
  },
  'steady load on pods of 2 slots: 2 replicas': {
    readings: steadyLoad,
    rates: { arrivalPerSecond: 4, serviceSeconds: 0.5 },
    target: { concurrency: 2 },
    replicas: 2,
  },
  'a tighter target needs more slots': {
    readings: steadyLoad,
    rates: { arrivalPerSecond: 4, serviceSeconds: 0.5 },
    target: { targetWaitSeconds: 0.05 },
    replicas: 4,
  },
  'burst: 200 jobs land in one poll; the arrival rate rises within the poll, and a job arriving before the next decision starts within the target': {
    readings: [...steadyLoad, { ...lastSteady, at: lastSteady.at + 2000, waiting: 200, processed: (lastSteady.processed ?? 0) + 8, busyMs: (lastSteady.busyMs ?? 0) + 4000 }],
    // 208 arrivals in 2 s move the rising average by 1 − e^(−2/4) of the way from 4 to 104.
    rates: { arrivalPerSecond: 4 + (104 - 4) * (1 - Math.exp(-0.5)), serviceSeconds: 0.5 },
    target: { waiting: 200, targetWaitSeconds: 10 },
    // λ ≈ 43.3, μ = 2, horizon 5 s: on 15 slots the backlog within the horizon is 200 + (43.3 − 30)·5 + √(43.3·5)
    // ≈ 281 jobs, started in 281 / 30 ≈ 9.4 s; on 14, 10.8 s. The steady state would need 22 (200 / 44 s ahead).
    replicas: 15,
  },
  'zero traffic: nothing arrives, waits or runs for the quiet time, so nothing is needed': {
    readings: [...steadyLoad, ...steady(16, { perTick: 0, serviceMs: 500, from: { ...lastSteady, inFlight: 0 } })],
    rates: { arrivalPerSecond: 0, serviceSeconds: 0.5 },
    target: {},
    replicas: 0,
  },
  'a lull shorter than the quiet time keeps one replica for the next job': {
    readings: [...steadyLoad, ...steady(5, { perTick: 0, serviceMs: 500, from: { ...lastSteady, inFlight: 0 } })],
    rates: { arrivalPerSecond: 4 * Math.exp(-10 / 30), serviceSeconds: 0.5 },
    target: {},
    replicas: 2,
  },
  'Redis unreachable: readings that cannot be had leave the estimates as they were': {
    readings: [...steadyLoad, undefined, undefined, undefined],
    rates: { arrivalPerSecond: 4, serviceSeconds: 0.5 },
  },
  'Redis back after a gap: the counters span the gap, so the rate is the gap\'s average': {
    readings: [...steadyLoad, undefined, undefined, { ...lastSteady, at: lastSteady.at + 8000, processed: (lastSteady.processed ?? 0) + 32, busyMs: (lastSteady.busyMs ?? 0) + 16_000 }],
    rates: { arrivalPerSecond: 4, serviceSeconds: 0.5 },
  },
  'a worker that never reports: no counters, so no estimate (jobsPerReplica sizes the pool)': {
    readings: steady(10, { perTick: 8, serviceMs: 500, inFlight: 2 }).map((r, i) => ({ ...r, waiting: 50 - i * 5, processed: undefined, busyMs: undefined })),
    rates: undefined,
  },
  'counters present but no job finished yet: no service time, no estimate': {
    readings: steady(10, { perTick: 0, serviceMs: 500, inFlight: 1 }),
    rates: undefined,
  },
  'counters reset (Redis flushed): no estimate from the poll that saw it': {
    readings: [...steadyLoad, { ...lastSteady, at: lastSteady.at + 2000, processed: 3, busyMs: 1500 }],
    rates: undefined,
  },
  'counters reset: the next poll estimates again, from the new counters': {
    readings: [...steadyLoad, { ...lastSteady, at: lastSteady.at + 2000, processed: 3, busyMs: 1500 }, { ...lastSteady, at: lastSteady.at + 4000, processed: 11, busyMs: 5500 }],
    rates: { arrivalPerSecond: 4, serviceSeconds: 0.5 },
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(name, () => {
    const state = fold(c.readings);
    const rates = rateEstimate(state);
    if (c.rates === undefined) {
      assert.equal(rates, undefined, 'no estimate');
      return;
    }
    assert.ok(rates !== undefined, 'an estimate');
    close(rates.arrivalPerSecond, c.rates.arrivalPerSecond, 'arrivals/s');
    close(rates.serviceSeconds, c.rates.serviceSeconds, 'service s');
    if (c.target !== undefined && c.replicas !== undefined) {
      const t = target(c.target);
      const demand = replicasForWait(rates, t);
      assert.equal(demand.replicas, c.replicas, demand.summary);
      if (c.replicas > 0 && t.waiting === 0) assert.ok(demand.expectedWaitSeconds <= t.targetWaitSeconds, `expected wait ${demand.expectedWaitSeconds} within the target`);
    }
  });
}

test('the replicas found are the fewest that meet the target', () => {
  for (const [lambda, s, goal, waiting] of [[4, 0.5, 1, 0], [0.2, 30, 10, 0], [120, 0.25, 0.5, 0], [9.5, 1, 0.1, 0], [4, 0.5, 1, 30], [50, 2, 5, 400]] as const) {
    const rates = { arrivalPerSecond: lambda, serviceSeconds: s };
    const now = { waiting, horizonSeconds: 5 };
    const { replicas } = replicasForWait(rates, target({ targetWaitSeconds: goal, ...now }));
    assert.ok(expectedWaitSeconds(rates, replicas, now) <= goal, `${replicas} slots meet ${goal} s at λ ${lambda}, s ${s}, ${waiting} waiting`);
    assert.ok(expectedWaitSeconds(rates, replicas - 1, now) > goal, `${replicas - 1} slots do not`);
  }
});

test('while the slots keep up, the steady state and a random burst agree, and a tight target pays for bursts', () => {
  // 4 jobs/s of 0.5 s on 3 slots: Erlang C gives 0.222 s; the worst burst within the horizon is
  // 1.645²·4 / (4·2) ≈ 1.35 jobs ahead, 0.226 s. The lower one counts.
  const rates = { arrivalPerSecond: 4, serviceSeconds: 0.5 };
  const burst = (1.645 ** 2 * 4) / (4 * 2) / 6;
  close(expectedWaitSeconds(rates, 3, { waiting: 0, horizonSeconds: 5 }), Math.min(erlangWaitSeconds(rates, 3), burst), 'the lower view');
  assert.ok(Math.abs(erlangWaitSeconds(rates, 3) - burst) < 0.01, 'the views agree here');
  // A 0.05 s target: 3 slots wait 0.22 s, 4 slots 0.04 s (Erlang C).
  assert.equal(replicasForWait(rates, target({ targetWaitSeconds: 0.05 })).replicas, 4);
});

test('near saturation the horizon bounds the wait where the steady state grows without bound', () => {
  // 6 jobs/s of 0.5 s on 3 slots is exactly saturated: Erlang C says Infinity; within 5 s a job finds at most
  // 1.645·√(6·5) ≈ 9 jobs ahead, started in 1.5 s. A target of 2 s is met with 3 slots until a backlog builds.
  const rates = { arrivalPerSecond: 6, serviceSeconds: 0.5 };
  assert.equal(erlangWaitSeconds(rates, 3), Number.POSITIVE_INFINITY);
  close(expectedWaitSeconds(rates, 3, { waiting: 0, horizonSeconds: 5 }), (1.645 * Math.sqrt(30)) / 6, 'horizon view');
  assert.equal(replicasForWait(rates, target({ targetWaitSeconds: 2 })).replicas, 3);
  assert.equal(replicasForWait(rates, target({ targetWaitSeconds: 2, waiting: 4 })).replicas, 4, 'four jobs already waiting tip it');
});

test('jobs in flight are not a floor: a pool whose slots are all busy at a poll is not held at its size by them', () => {
  const demand = replicasForWait({ arrivalPerSecond: 0.1, serviceSeconds: 1 }, target({ concurrency: 2 }));
  assert.equal(demand.replicas, 1);
});

test('a longer horizon (a slower poll) asks for more slots for the same load', () => {
  // 7 jobs/s of 0.5 s, target 5 s: 3 slots fall behind by 1 job/s, which 5 s allow and 33 s do not.
  const rates = { arrivalPerSecond: 7, serviceSeconds: 0.5 };
  assert.equal(replicasForWait(rates, target({ targetWaitSeconds: 5, horizonSeconds: 5 })).replicas, 3);
  assert.equal(replicasForWait(rates, target({ targetWaitSeconds: 5, horizonSeconds: 33 })).replicas, 4);
});

test('the arrival rate rises faster than it falls', () => {
  const up = fold([...steady(3, { perTick: 2, serviceMs: 500 }), ...steady(1, { perTick: 20, serviceMs: 500, from: steady(3, { perTick: 2, serviceMs: 500 })[2] })]);
  const down = fold([...steady(3, { perTick: 20, serviceMs: 500 }), ...steady(1, { perTick: 2, serviceMs: 500, from: steady(3, { perTick: 20, serviceMs: 500 })[2] })]);
  const rose = (rateEstimate(up)?.arrivalPerSecond ?? 0) - 1;
  const fell = 10 - (rateEstimate(down)?.arrivalPerSecond ?? 0);
  assert.ok(rose > 2 * fell, `one poll moved the rate up by ${rose} and down by ${fell}`);
});
