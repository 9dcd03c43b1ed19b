// The JSON of GET /api/state, as the page reads it: the server's answer is typed with it, and so is the browser
// script's reading of it. Types only, importing nothing, so that the browser's type-check (ui/tsconfig.json, DOM
// lib, no Node types) can include it. A field that is undefined on the server is absent from the JSON.

/** A job payload as Redis holds it: untrusted, it may be anything. */
export type UntrustedPayload = unknown;

export interface StatsState {
  readonly processed: number;
  readonly failed: number;
  readonly pending: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly workers: number;
  readonly working: number;
}

export interface QueueState {
  readonly name: string;
  readonly waiting: number;
  readonly inFlight: number;
  /** the sampled depths, oldest first, ending with `waiting` */
  readonly history: readonly number[];
}

export interface WorkerState {
  readonly id: string;
  readonly queues: readonly string[];
  readonly started?: string | undefined;
  /** its last heartbeat, as Resque records it */
  readonly heartbeat?: string | undefined;
  /** whether its heartbeat is older than the prune age: `Prune dead workers` hands back its jobs and unregisters it */
  readonly dead: boolean;
  /** the job it runs now; absent when idle */
  readonly job?: { readonly queue: string; readonly run_at: string; readonly payload: UntrustedPayload } | undefined;
}

export interface FailureState {
  readonly index: number;
  /** the SHA-1 of `raw`: with `index`, what names it in a retry or a removal */
  readonly id: string;
  readonly raw: string;
  /** whether a retry can work: the failure names a queue and holds a readable job */
  readonly retryable: boolean;
  /** absent when the item is unreadable; `problem` says why */
  readonly record?: {
    readonly failed_at: string;
    readonly payload: UntrustedPayload;
    readonly exception: string;
    readonly error: string;
    readonly backtrace: readonly string[];
    readonly worker: string;
    readonly queue: string | null;
    readonly retried_at?: string | undefined;
  } | undefined;
  readonly problem?: string | undefined;
}

export interface DelayedState {
  /** when it is due, seconds since the epoch */
  readonly timestamp: number;
  /** the SHA-1 of `raw` */
  readonly id: string;
  readonly raw: string;
  /** absent when the item is unreadable; resque-scheduler's `queue` is one of its other keys */
  readonly payload?: { readonly class: string; readonly args: readonly unknown[]; readonly [key: string]: unknown } | undefined;
}

/** A job waiting in a queue, at its index (0 is the next to run). */
export interface QueuedState {
  readonly index: number;
  readonly id: string;
  readonly raw: string;
  /** absent when the item is unreadable */
  readonly payload?: { readonly class: string; readonly args: readonly unknown[] } | undefined;
}

/** One page of a list: `total` items in all, these from `start`. */
export interface Page<T> {
  readonly total: number;
  readonly start: number;
  readonly items: readonly T[];
}

export interface ScheduleState {
  readonly name: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly queue: string;
  readonly class: string;
  readonly args: readonly unknown[];
  readonly next?: string | undefined;
  readonly lastFired?: string | undefined;
  readonly error?: string | undefined;
}

export interface DashboardState {
  readonly namespace: string;
  /** whether this request carried the token */
  readonly canWrite: boolean;
  readonly stats: StatsState;
  readonly queues: readonly QueueState[];
  readonly workers: readonly WorkerState[];
  /** items shown per page of every list */
  readonly pageSize: number;
  /** the failures matching the filter, newest first */
  readonly failed: Page<FailureState> & { readonly queue?: string | undefined; readonly className?: string | undefined };
  readonly delayed: Page<DelayedState>;
  /** the queue opened, with a page of its jobs */
  readonly queue?: (Page<QueuedState> & { readonly name: string }) | undefined;
  /** a worker whose heartbeat is older than this is dead and may be pruned */
  readonly pruneAfterSeconds: number;
  /** whether the dashboard was given a JobPool file */
  readonly schedulesKnown: boolean;
  readonly schedules: readonly ScheduleState[];
  /** every fire time in the scheduler's hash, `field` being `<pool key>/<schedule name>` */
  readonly fired: readonly { readonly field: string; readonly lastFired: string }[];
}
