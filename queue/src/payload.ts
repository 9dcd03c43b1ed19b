// Payloads and records as Resque 3, resque-scheduler and ActiveJob write them: zod schemas for what is read,
// encoders that produce the same bytes Resque would for what is written.
import { z } from 'zod';

/** A job payload: `{"class": "...", "args": [...]}`; other keys (resque-scheduler's "queue") are kept. */
export const JobPayload = z.looseObject({
  class: z.string().min(1, 'payload has an empty "class"'),
  args: z.array(z.unknown()).default([]),
});
export type JobPayload = z.infer<typeof JobPayload>;

/** The class ActiveJob's Resque adapter enqueues; the real job is described in `args[0]`. */
export const ACTIVE_JOB_WRAPPER = 'ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper';

const ActiveJobData = z.looseObject({
  job_class: z.string().min(1),
  job_id: z.string().optional(),
  arguments: z.array(z.unknown()).default([]),
  enqueued_at: z.string().nullish(),
});

/** A job ready to run: the class to load, its arguments and what identifies it. */
export interface RunnableJob {
  readonly className: string;
  readonly args: readonly unknown[];
  /** ActiveJob's job_id when there is one */
  readonly jobId: string | undefined;
  /** when it was enqueued, when the payload says so (ActiveJob does) */
  readonly enqueuedAt: Date | undefined;
  /** the attempt number for forkpool's retries, 0 on the first run */
  readonly attempt: number;
  readonly payload: JobPayload;
}

/** Why a queue item cannot run: its failure record's exception and error. */
export interface Unrunnable {
  readonly ok: false;
  readonly exception: 'Forkpool::MalformedPayload' | 'Forkpool::PayloadTooLarge';
  readonly reason: string;
  /** whether the item is known to be JSON text (see FailureInput.json) */
  readonly json: boolean;
}

export type ParseResult<T> = { ok: true; value: T } | Unrunnable;

/** The default largest payload, in bytes: what the client enqueues and the worker runs (MAX_PAYLOAD_BYTES). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const malformed = (reason: string, json: boolean): Unrunnable => ({ ok: false, exception: 'Forkpool::MalformedPayload', reason, json });

/**
 * Parses a raw queue item into the job to run; never throws, a bad item gives the reason. An item over
 * `maxBytes` is refused before it is parsed: parsing tens of MB would hold the worker for seconds and could
 * exhaust its memory.
 */
export function parseJob(raw: string, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): ParseResult<RunnableJob> {
  const bytes = Buffer.byteLength(raw);
  if (bytes > maxBytes) {
    return {
      ok: false,
      exception: 'Forkpool::PayloadTooLarge',
      reason: `payload is ${bytes} bytes, over the limit of ${maxBytes} bytes (MAX_PAYLOAD_BYTES); it was not run: ${truncate(raw)}`,
      json: false,
    };
  }
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return malformed(`payload is not valid JSON (${(err as Error).message}): ${truncate(raw)}`, false);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return malformed(`payload is not a JSON object: ${truncate(raw)}`, true);
  }
  if (!('class' in data)) return malformed(`payload has no "class": ${truncate(raw)}`, true);
  const parsed = JobPayload.safeParse(data);
  if (!parsed.success) return malformed(`payload is malformed: ${describe(parsed.error)}`, true);
  const payload = parsed.data;
  const attempt = typeof payload.forkpool_attempt === 'number' ? payload.forkpool_attempt : 0;
  if (payload.class !== ACTIVE_JOB_WRAPPER) {
    return { ok: true, value: { className: payload.class, args: payload.args, jobId: undefined, enqueuedAt: undefined, attempt, payload } };
  }
  const job = ActiveJobData.safeParse(payload.args[0]);
  if (!job.success) return malformed(`ActiveJob payload is malformed: ${describe(job.error)}`, true);
  const enqueuedAt = job.data.enqueued_at ? new Date(job.data.enqueued_at) : undefined;
  return {
    ok: true,
    value: {
      className: job.data.job_class,
      args: job.data.arguments,
      jobId: job.data.job_id,
      enqueuedAt: enqueuedAt && !Number.isNaN(enqueuedAt.getTime()) ? enqueuedAt : undefined,
      attempt,
      payload,
    },
  };
}

/** A failure record in `<ns>:failed`, Resque::Failure::Redis's fields in its order. */
export const FailureRecord = z.looseObject({
  failed_at: z.string(),
  payload: z.unknown(),
  exception: z.string(),
  error: z.string(),
  backtrace: z.array(z.string()).default([]),
  worker: z.string(),
  queue: z.string().nullable(),
  retried_at: z.string().optional(),
});
export type FailureRecord = z.infer<typeof FailureRecord>;

/** What a worker is running, as in `<ns>:worker:<id>`. */
export const RunningJob = z.object({
  queue: z.string(),
  run_at: z.string(),
  payload: z.unknown(),
});
export type RunningJob = z.infer<typeof RunningJob>;

/** Encodes a payload exactly as `Resque.enqueue` does: `{"class":...,"args":[...]}`. */
export function encodePayload(className: string, args: readonly unknown[]): string {
  return JSON.stringify({ class: className, args });
}

/** Encodes a delayed item exactly as resque-scheduler's `delayed_push` does: `{"class","args","queue"}`. */
export function encodeDelayed(className: string, args: readonly unknown[], queue: string): string {
  return JSON.stringify({ class: className, args, queue });
}

export interface FailureInput {
  readonly at: Date;
  /** the raw item as it was in the queue */
  readonly raw: string;
  /**
   * Whether `raw` is JSON text, when the caller knows: true embeds it in the record as it is, false as a
   * string (without reading it: an item too large to parse). Unset, it is checked.
   */
  readonly json?: boolean;
  readonly exception: string;
  readonly error: string;
  readonly backtrace: readonly string[];
  readonly worker: string;
  readonly queue: string | null;
}

/**
 * Encodes a failure record with Resque's fields in Resque's order. The payload is embedded as the text it was in
 * the queue, byte for byte (its numbers as written); one that is not JSON is kept as a string.
 */
export function encodeFailure(f: FailureInput): string {
  const payload = (f.json ?? isJson(f.raw)) ? f.raw : JSON.stringify(f.raw);
  const head = JSON.stringify({ failed_at: formatFailedAt(f.at) });
  const tail = JSON.stringify({ exception: f.exception, error: f.error, backtrace: f.backtrace, worker: f.worker, queue: f.queue });
  return `${head.slice(0, -1)},"payload":${payload},${tail.slice(1)}`;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const pad = (n: number): string => String(n).padStart(2, '0');
const ymd = (d: Date, sep: string): string => `${d.getUTCFullYear()}${sep}${pad(d.getUTCMonth() + 1)}${sep}${pad(d.getUTCDate())}`;
const hms = (d: Date): string => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;

/** Resque's `failed_at` / `retried_at`: `2026/11/27 07:12:13 UTC`. */
export const formatFailedAt = (d: Date): string => `${ymd(d, '/')} ${hms(d)} UTC`;
/** Resque's `run_at`: `2026-11-27T07:12:02Z`. */
export const formatRunAt = (d: Date): string => `${ymd(d, '-')}T${hms(d)}Z`;
/** Resque's `worker:<id>:started`: `2026-11-27 07:12:02 +0000`. */
export const formatStarted = (d: Date): string => `${ymd(d, '-')} ${hms(d)} +0000`;
/** Resque's heartbeat: `2026-11-27T07:12:02+00:00`. */
export const formatHeartbeat = (d: Date): string => `${ymd(d, '-')}T${hms(d)}+00:00`;

function truncate(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
