// The messages of fork mode, one JSON object per line.
//
//   master  --RunCommand-->   zygote   (the zygote's fd 3, a socketpair; read synchronously)
//   zygote  --ZygoteEvent-->  master   (the same socketpair; validated with zod in the master: events.ts)
//   child   --ChildReport-->  zygote   (a pipe made for that child alone, relayed as a ZygoteEvent)
//
// This half is what the zygote loads, and every fork copies the zygote's memory: it checks the two
// messages the zygote reads by hand rather than load zod there (zod adds ~15 MB to a process, measured).
import { writeSync } from 'node:fs';
import type { JobError, JobResult } from '../run-job.ts';

export { toJobError, type JobError, type JobResult } from '../run-job.ts';

/** The command channel's descriptor in the zygote (the master's stdio[3]). */
export const CHANNEL_FD = 3;
/** Environment variable carrying the master's pid to the zygote, which dies with it. */
export const MASTER_PID_ENV = 'FORKPOOL_MASTER_PID';

/** Master -> zygote: fork a child that runs `className.perform(...args)`. `id` is the master's. */
export interface RunCommand {
  readonly type: 'run';
  readonly id: string;
  readonly className: string;
  readonly args: unknown[];
}

/** Child -> zygote, written once just before the child exits. */
export interface ChildReport {
  readonly type: 'result';
  readonly result: JobResult;
  readonly rssBytes: number;
}

/** Zygote -> master. `exit` always comes after the child's `result`, if it sent one. */
export type ZygoteEvent =
  | { readonly type: 'ready'; readonly jobs: readonly string[]; readonly loadErrors: readonly { readonly className: string; readonly error: JobError }[] }
  | { readonly type: 'fatal'; readonly error: JobError }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string }
  | { readonly type: 'forked'; readonly id: string; readonly pid: number }
  | { readonly type: 'forkFailed'; readonly id: string; readonly error: string }
  | { readonly type: 'result'; readonly id: string; readonly result: JobResult; readonly rssBytes: number }
  | { readonly type: 'exit'; readonly id: string; readonly pid: number; readonly code: number | null; readonly signal: string | null };

/**
 * Writes `text` and a newline to a blocking descriptor, all of it. The zygote's events, its commands to spare
 * children and the children's reports all go through this one function, so that a child calls the zygote's
 * optimized code for it with the argument types it was optimized for. A child that wrote a string with
 * writeSync instead deoptimized that code and compiled it again, every child.
 */
export function writeLine(fd: number, text: string): void {
  const data = Buffer.from(text + '\n');
  for (let written = 0; written < data.length;) written += writeSync(fd, data, written);
}

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** A line of JSON, parsed; undefined when it is not JSON (JSON itself never parses to undefined). */
export function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

function parseObject(line: string): Record<string, unknown> | string {
  const json = parseJsonLine(line);
  if (json === undefined) return 'not JSON';
  return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : 'not a JSON object';
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** A command line from the master. */
export function parseCommand(line: string): Parsed<RunCommand> {
  const o = parseObject(line);
  if (typeof o === 'string') return { ok: false, reason: o };
  if (o.type !== 'run') return { ok: false, reason: `unknown command type ${JSON.stringify(o.type)}` };
  if (!nonEmpty(o.id) || !nonEmpty(o.className) || !Array.isArray(o.args)) return { ok: false, reason: 'a run command needs id, className (non-empty strings) and args (an array)' };
  return { ok: true, value: { type: 'run', id: o.id, className: o.className, args: o.args as unknown[] } };
}

function isJobError(v: unknown): v is JobError {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.name === 'string' && typeof e.message === 'string' && Array.isArray(e.stack) && e.stack.every((l) => typeof l === 'string');
}

/** A report line from a child. */
export function parseChildReport(line: string): Parsed<ChildReport> {
  const o = parseObject(line);
  if (typeof o === 'string') return { ok: false, reason: o };
  const r = o.result as Record<string, unknown> | null | undefined;
  const rss = o.rssBytes;
  if (o.type !== 'result' || typeof r !== 'object' || r === null || !Number.isInteger(rss) || (rss as number) < 0) {
    return { ok: false, reason: 'a report needs type "result", result and rssBytes' };
  }
  if (r.ok === true) return { ok: true, value: { type: 'result', result: { ok: true }, rssBytes: rss as number } };
  if (r.ok === false && isJobError(r.error)) return { ok: true, value: { type: 'result', result: { ok: false, error: r.error }, rssBytes: rss as number } };
  return { ok: false, reason: 'result must be {ok: true} or {ok: false, error: {name, message, stack}}' };
}
