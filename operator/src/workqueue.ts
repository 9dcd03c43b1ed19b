// A work queue of object keys: each key waits once however often it is added, is never handled by two
// workers at once, and is retried with exponential backoff after an error, under an overall rate limit
// of retries (controller-runtime's default rate limiter: the larger of the key's backoff and a token
// bucket's wait).

/** What a handler may ask for besides success: to be called again after a while. */
export interface Outcome {
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  /** Keys handled at once (different keys only). */
  concurrency: number;
  /** First retry delay after an error; doubles per consecutive error of the key. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Retries of all keys together, at most this many a second once the burst is spent. Default 10, as controller-runtime. */
  retriesPerSecond?: number;
  /** Retries allowed at once before the rate applies. Default 100, as controller-runtime. */
  retryBurst?: number;
  /** Called after each handling, for metrics and logs. */
  onDone?: (key: string, ms: number, error: unknown) => void;
}

export class WorkQueue {
  readonly #handler: (key: string) => Promise<Outcome | undefined>;
  readonly #options: Required<Omit<WorkQueueOptions, 'onDone'>> & WorkQueueOptions;
  readonly #queue: string[] = [];
  /** Keys added as urgent: handled before every key of #queue. */
  readonly #urgent: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  /** Keys added while being processed, and whether one of those adds was urgent: handled once more afterwards. */
  readonly #dirty = new Map<string, boolean>();
  readonly #failures = new Map<string, number>();
  /** Delayed keys: their timer and when (performance.now()) it fires. */
  readonly #timers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  /** The retry token bucket: tokens left as of `at` (performance.now()). */
  #bucket: { tokens: number; at: number };
  #active = 0;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(handler: (key: string) => Promise<Outcome | undefined>, options: WorkQueueOptions) {
    this.#handler = handler;
    this.#options = { retriesPerSecond: 10, retryBurst: 100, ...options };
    this.#bucket = { tokens: this.#options.retryBurst, at: performance.now() };
  }

  /**
   * Queues a key now (a no-op when it already waits). An urgent key goes ahead of every key that is not,
   * and a waiting key added again as urgent moves there: with a thousand pools queued for their status, a
   * pool whose size must change is not handled last.
   */
  add(key: string, urgent = false): void {
    if (this.#stopped) return;
    if (this.#processing.has(key)) {
      this.#dirty.set(key, urgent || (this.#dirty.get(key) ?? false));
      return;
    }
    if (this.#queued.has(key)) {
      if (!urgent || this.#urgent.includes(key)) return;
      this.#queue.splice(this.#queue.indexOf(key), 1);
      this.#urgent.push(key);
      return;
    }
    this.#queued.add(key);
    (urgent ? this.#urgent : this.#queue).push(key);
    this.#pump();
  }

  /** Queues a key after a delay; of two delays for a key the earlier wins (a 500 ms retry is not held back by a 30 s requeue). */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) return this.add(key);
    const at = performance.now() + ms;
    const pending = this.#timers.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, { timer, at });
  }

  /** The wait before one more retry under the overall rate: a token now, or when the next one is due. */
  #retryRateDelay(): number {
    const { retriesPerSecond, retryBurst } = this.#options;
    const now = performance.now();
    const b = this.#bucket;
    b.tokens = Math.min(retryBurst, b.tokens + ((now - b.at) / 1000) * retriesPerSecond);
    b.at = now;
    b.tokens -= 1;
    return b.tokens >= 0 ? 0 : (-b.tokens / retriesPerSecond) * 1000;
  }

  /** Keys waiting or being handled. */
  get length(): number {
    return this.#urgent.length + this.#queue.length + this.#active;
  }

  /** Resolves when nothing waits and nothing is handled (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Drops waiting keys and timers; handlers already running finish. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
    this.#queue.length = 0;
    this.#urgent.length = 0;
    this.#queued.clear();
  }

  #pump(): void {
    while (!this.#stopped && this.#active < this.#options.concurrency && this.#urgent.length + this.#queue.length > 0) {
      const key = (this.#urgent.length > 0 ? this.#urgent.shift() : this.#queue.shift()) as string;
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#active += 1;
      void this.#handle(key);
    }
  }

  async #handle(key: string): Promise<void> {
    const started = performance.now();
    let error: unknown;
    let outcome: Outcome | undefined;
    try {
      outcome = await this.#handler(key);
    } catch (err) {
      error = err;
    }
    this.#active -= 1;
    this.#processing.delete(key);
    this.#options.onDone?.(key, performance.now() - started, error);
    if (error !== undefined) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const backoff = Math.min(this.#options.baseDelayMs * 2 ** (n - 1), this.#options.maxDelayMs) * (0.8 + Math.random() * 0.4);
      this.addAfter(key, Math.max(backoff, this.#retryRateDelay()));
    } else {
      this.#failures.delete(key);
      if (outcome?.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
    }
    const dirty = this.#dirty.get(key);
    if (dirty !== undefined) {
      this.#dirty.delete(key);
      this.add(key, dirty);
    }
    this.#pump();
    if (this.length === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
