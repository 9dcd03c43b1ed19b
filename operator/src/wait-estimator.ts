// The wait-time model behind spec.scaling.targetWaitSeconds: arrival and service rates estimated from the
// counters Redis keeps, and the replicas that keep a new job's expected wait within the target, by an M/M/c
// queue's steady state and the backlog that can build before the next decision takes effect.
// Pure: the clock comes in with each reading.

/** What one poll read of a pool, summed over its queues. Times are milliseconds since the epoch. */
export interface RateReading {
  at: number;
  waiting: number;
  inFlight: number;
  /** Jobs finished since the counters began (qstats `processed:<queue>`), undefined when no worker has reported. */
  processed: number | undefined;
  /** Their run time summed, ms (qstats `busy_ms:<queue>`). */
  busyMs: number | undefined;
}

/** How fast the estimates follow a change; the defaults suit polls every few seconds. */
export interface EstimatorOptions {
  /** Time constant of the arrival rate's average while it rises: short, so a surge is met before a backlog builds. */
  riseSeconds: number;
  /** Time constant while it falls, and of the service time: long, so a lull does not shed replicas at once. */
  fallSeconds: number;
  /** With nothing waiting or running and no arrival for this long, the arrival rate is zero (the pool may go to its minimum). */
  quietSeconds: number;
}

/** Seconds a pod takes from a scale-up to its first job, as the model's horizon counts them (pollInterval + this). */
export const POD_START_SECONDS = 3;

export const DEFAULT_ESTIMATOR_OPTIONS: EstimatorOptions = { riseSeconds: 4, fallSeconds: 30, quietSeconds: 30 };

/** What the estimator carries from one reading to the next. */
export interface EstimatorState {
  last: RateReading;
  /** Jobs arriving per second, smoothed; undefined until two readings with counters were seen. */
  arrivalPerSecond: number | undefined;
  /** Seconds one job occupies a slot, smoothed; undefined until some job finished between two readings. */
  serviceSeconds: number | undefined;
  /** When a job last arrived (or the first reading's time). */
  lastArrivalAt: number;
}

/** The model's inputs as the autoscaler uses them. */
export interface RateEstimate {
  arrivalPerSecond: number;
  serviceSeconds: number;
}

/**
 * Folds one reading into the estimates. A reading of undefined (Redis could not be read) keeps them as they
 * are: the counters are cumulative, so the next reading's deltas cover the gap. Arrivals are derived, since
 * Resque's enqueuers count nothing: jobs finished + change of depth + change of in-flight, over the window.
 */
export function observeRates(prev: EstimatorState | undefined, reading: RateReading | undefined, opts: EstimatorOptions = DEFAULT_ESTIMATOR_OPTIONS): EstimatorState | undefined {
  if (reading === undefined) return prev;
  const fresh: EstimatorState = { last: reading, arrivalPerSecond: undefined, serviceSeconds: undefined, lastArrivalAt: reading.at };
  if (prev === undefined) return fresh;
  const { last } = prev;
  const dt = (reading.at - last.at) / 1000;
  if (dt <= 0) return prev;
  if (reading.processed === undefined || last.processed === undefined || reading.processed < last.processed) {
    // No counters yet, or they were reset (Redis flushed or replaced): start again from this reading.
    return { ...fresh, serviceSeconds: prev.serviceSeconds };
  }
  const finished = reading.processed - last.processed;
  const arrived = Math.max(0, finished + reading.waiting - last.waiting + reading.inFlight - last.inFlight);
  const lastArrivalAt = arrived > 0 ? reading.at : prev.lastArrivalAt;

  const rate = arrived / dt;
  let arrivalPerSecond: number;
  if (prev.arrivalPerSecond === undefined) arrivalPerSecond = rate;
  else arrivalPerSecond = smooth(prev.arrivalPerSecond, rate, dt, rate > prev.arrivalPerSecond ? opts.riseSeconds : opts.fallSeconds);
  const idle = reading.waiting === 0 && reading.inFlight === 0;
  if (idle && reading.at - lastArrivalAt >= opts.quietSeconds * 1000) arrivalPerSecond = 0;

  let serviceSeconds = prev.serviceSeconds;
  const busyMs = (reading.busyMs ?? 0) - (last.busyMs ?? 0);
  if (finished > 0 && busyMs >= 0) {
    const perJob = busyMs / finished / 1000;
    serviceSeconds = serviceSeconds === undefined ? perJob : smooth(serviceSeconds, perJob, dt, opts.fallSeconds);
  }
  return { last: reading, arrivalPerSecond, serviceSeconds, lastArrivalAt };
}

/** An exponentially weighted moving average over time: a window of dt seconds moves it by 1 - e^(-dt/tau). */
function smooth(previous: number, value: number, dt: number, tau: number): number {
  const alpha = 1 - Math.exp(-dt / tau);
  return previous + alpha * (value - previous);
}

/** The estimates, once both rates are known; undefined means the model cannot be used yet (fall back). */
export function rateEstimate(state: EstimatorState | undefined): RateEstimate | undefined {
  if (state?.arrivalPerSecond === undefined || state.serviceSeconds === undefined) return undefined;
  // A job that reports no run time (it failed before it started) must not make the service rate infinite.
  return { arrivalPerSecond: state.arrivalPerSecond, serviceSeconds: Math.max(state.serviceSeconds, 0.001) };
}

/**
 * Expected wait in the queue of an M/M/c system in its steady state (Erlang C): W_q = C(c, a) / (c·μ − λ),
 * a = λ/μ. Infinity when the slots cannot keep up (c·μ ≤ λ); 0 with no arrivals.
 */
export function erlangWaitSeconds(rates: RateEstimate, slots: number): number {
  const lambda = rates.arrivalPerSecond;
  if (lambda <= 0) return 0;
  const mu = 1 / rates.serviceSeconds;
  if (slots * mu <= lambda) return Number.POSITIVE_INFINITY;
  return erlangC(slots, lambda / mu) / (slots * mu - lambda);
}

/** Erlang C's probability of waiting, through Erlang B's recursion (stable for any number of slots). */
function erlangC(c: number, a: number): number {
  let b = 1;
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  return (c * b) / (c - a * (1 - b));
}

/** What the pool holds now, and how far ahead a decision must look. */
export interface QueueNow {
  /** Jobs waiting now: a new job starts after them. */
  waiting: number;
  /**
   * Seconds until capacity added by a later decision can serve: a poll interval plus a pod's start. A job
   * that arrives within them is served by the slots decided now.
   */
  horizonSeconds: number;
}

/**
 * Poisson arrivals above their mean that the horizon allows for, in standard deviations: 1.645 is the
 * normal approximation's 95th percentile, so that the target bounds most jobs' waits rather than their mean.
 */
const BURST_DEVIATIONS = 1.645;

/**
 * The largest backlog a job arriving within the horizon may find ahead of it on c slots: the jobs waiting now,
 * plus, at the worst moment t of the horizon, what arrived beyond what the slots started, (λ − c·μ)·t, with a
 * burst of z = BURST_DEVIATIONS standard deviations of Poisson arrivals, z·√(λ·t), on top. While the slots
 * keep up the worst moment is early, t = z²·λ / (4(c·μ − λ)²), where the excess is z²·λ / (4(c·μ − λ)); while
 * they do not, it is the horizon's end.
 */
function backlogWithin(rates: RateEstimate, slots: number, now: QueueNow): number {
  const lambda = rates.arrivalPerSecond;
  const h = now.horizonSeconds;
  const z = BURST_DEVIATIONS;
  const drift = lambda - slots / rates.serviceSeconds;
  const worst = drift < 0 ? Math.min(h, (z * z * lambda) / (4 * drift * drift)) : h;
  return now.waiting + Math.max(0, drift * worst + z * Math.sqrt(lambda * worst));
}

/**
 * The expected wait of a new job on c slots, s: the lower of two views, since each overstates it where the
 * other does not. The steady state: the jobs waiting now start at c·μ, then the M/M/c wait (Infinity when the
 * slots cannot keep up). The horizon: the backlog a job arriving before the next decision takes effect finds
 * (backlogWithin), over c·μ. Near saturation the steady state's wait grows without bound, but a queue grows
 * only so far within the horizon, and the next poll decides again from the depth it sees. 0 with nothing
 * arriving or waiting; Infinity on no slots otherwise.
 */
export function expectedWaitSeconds(rates: RateEstimate, slots: number, now: QueueNow): number {
  if (rates.arrivalPerSecond <= 0 && now.waiting <= 0) return 0;
  if (slots <= 0) return Number.POSITIVE_INFINITY;
  const rate = slots / rates.serviceSeconds;
  const steady = now.waiting / rate + erlangWaitSeconds(rates, slots);
  return Math.min(steady, backlogWithin(rates, slots, now) / rate);
}

/** What the pool needs to meet the target, and why, for the autoscaler. */
export interface WaitDemand {
  /** Replicas needed (before the min/max clamp). */
  replicas: number;
  /** Expected wait of a new job with that many replicas, s (Infinity when they cannot keep up). */
  expectedWaitSeconds: number;
  /** One clause for the condition message, e.g. `4.1 jobs/s arriving, 0.5 s each, target wait 2 s`. */
  summary: string;
}

export interface WaitTarget extends QueueNow {
  targetWaitSeconds: number;
  /** Slots per replica (spec.worker.concurrency). */
  concurrency: number;
}

/**
 * The fewest replicas whose expected wait of a new job (expectedWaitSeconds) is at or under the target; with
 * nothing arriving or waiting, zero. Jobs in flight are not a floor: pods are removed idle first and a busy
 * one finishes its jobs (scale-down safety), and such a floor would hold a pool at whatever size it had
 * whenever all its slots happened to be busy at a poll.
 */
export function replicasForWait(rates: RateEstimate, t: WaitTarget): WaitDemand {
  const { arrivalPerSecond: lambda, serviceSeconds } = rates;
  let slots = 0;
  if (lambda > 0 || t.waiting > 0) {
    // Both views fall as slots are added and the horizon's reaches the target at some c, so the first c that
    // meets it is the fewest. Erlang B's recursion along c keeps the steady state's share O(1) per step.
    const mu = 1 / serviceSeconds;
    const a = lambda / mu;
    let b = 1;
    for (let c = 1; ; c++) {
      b = (a * b) / (c + a * b);
      const steady = c * mu > lambda ? t.waiting / (c * mu) + (lambda > 0 ? (c * b) / (c - a * (1 - b)) / (c * mu - lambda) : 0) : Number.POSITIVE_INFINITY;
      if (Math.min(steady, backlogWithin(rates, c, t) / (c * mu)) <= t.targetWaitSeconds) {
        slots = c;
        break;
      }
    }
  }
  const replicas = Math.ceil(slots / t.concurrency);
  return {
    replicas,
    expectedWaitSeconds: expectedWaitSeconds(rates, replicas * t.concurrency, t),
    summary: `${round(lambda)} jobs/s arriving, ${round(serviceSeconds)} s each, target wait ${t.targetWaitSeconds} s`,
  };
}

/** Three significant digits, for status and messages (the estimates are not more exact than that). */
export function round(n: number): number {
  return Number.isFinite(n) ? Number(n.toPrecision(3)) : n;
}
