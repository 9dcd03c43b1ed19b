// Running one job with its hooks, the same in a spawn-mode child and in a forked child, with Resque's order:
//
//   afterFork (global, fork mode), beforeJob (global), beforePerform* -> aroundPerform* around perform -> afterPerform*, afterJob (global)
//   on an error anywhere in that: onFailure* (the job's), then onFailure (global); the job fails with the error
//
// A `DontPerform` thrown by afterFork, beforeJob or a beforePerform hook skips the job: nothing after it runs, and the job
// has not failed (the master counts it as processed, as Resque does). Imported by the child: Node only.
import type { GlobalHooks, JobInfo, LoadedGlobalHooks } from './global-hooks.ts';
import { stackLines, type Loaded, type NamedHook } from './jobs.ts';

/** What a job threw, as a failure record needs it. */
export interface JobError {
  readonly name: string;
  readonly message: string;
  /** The stack's frames, one per line, without the message line. */
  readonly stack: string[];
}

/** What the job did: ran (or was skipped), or failed with an error. */
export type JobResult = { readonly ok: true } | { readonly ok: false; readonly error: JobError };

/** An error's name as a failure record shows it: its class's name when the name is plain `Error`. */
function errorName(e: Error): string {
  return e.name !== 'Error' ? e.name : ((e.constructor as { name?: string } | undefined)?.name ?? 'Error');
}

function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}

/** Turns anything thrown into a JobError. */
export function toJobError(thrown: unknown): JobError {
  const e = asError(thrown);
  return { name: errorName(e), message: e.message, stack: stackLines(e).slice(0, 200) };
}

/** Resque's `DontPerform`: any error whose name (or class name) is `DontPerform`, whichever copy of the class threw it. */
export function isDontPerform(thrown: unknown): boolean {
  return thrown instanceof Error && errorName(thrown) === 'DontPerform';
}

/**
 * Writes one log line in the worker's format (pino's JSON, on stdout as the master's lines are): a child
 * has no logger of its own, which would cost every child its start-up.
 */
export function childLog(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
  const levels = { info: 30, warn: 40, error: 50 };
  process.stdout.write(JSON.stringify({ level: levels[level], time: Date.now(), pid: process.pid, name: 'forkpool-worker', ...fields, msg }) + '\n');
}

/** pino's shape of an error in a log line. */
function logged(thrown: unknown): { type: string; message: string; stack: string } {
  const e = asError(thrown);
  return { type: errorName(e), message: e.message, stack: e.stack ?? '' };
}

/** A JobError as the Error a failure hook receives. */
function fromJobError(error: JobError): Error {
  const e = new Error(error.message);
  e.name = error.name;
  e.stack = [`${error.name}: ${error.message}`, ...error.stack.map((l) => `    ${l}`)].join('\n');
  return e;
}

/** Runs a job and its hooks, and says how it ended; `forked`: in fork mode's child, where afterFork runs first. Never throws. */
export async function runJob(job: Loaded, global: LoadedGlobalHooks, info: JobInfo, { forked = false } = {}): Promise<JobResult> {
  const fields = { class: info.className };
  const hooks: GlobalHooks = 'hooks' in global ? global.hooks : {};
  const { args } = info;
  const failed = async (thrown: unknown, jobFailureHooks: readonly NamedHook[]): Promise<JobResult> => {
    const calls = [
      ...jobFailureHooks.map((h) => ({ hook: h.name, call: () => h.fn(thrown, ...args) })),
      ...(hooks.onFailure ? [{ hook: 'onFailure (global)', call: () => hooks.onFailure?.(thrown, info) }] : []),
    ];
    for (const { hook, call } of calls) {
      try {
        await call();
      } catch (err) {
        childLog('error', 'a failure hook threw; the job keeps its own error', { ...fields, hook, err: logged(err) });
      }
    }
    return { ok: false, error: toJobError(thrown) };
  };
  if ('error' in global) return { ok: false, error: global.error };
  if ('error' in job) return failed(fromJobError(job.error), []);
  try {
    const globalBefore = [
      ...(forked && hooks.afterFork ? [{ name: 'afterFork', fn: () => hooks.afterFork?.(info) }] : []),
      ...(hooks.beforeJob ? [{ name: 'beforeJob', fn: () => hooks.beforeJob?.(info) }] : []),
    ];
    const before: NamedHook[] = [...globalBefore, ...job.hooks.before];
    for (const hook of before) {
      try {
        await hook.fn(...args);
      } catch (err) {
        if (!isDontPerform(err)) throw err;
        childLog('info', 'job skipped: a before hook threw DontPerform', { ...fields, hook: hook.name, reason: asError(err).message });
        return { ok: true };
      }
    }
    const perform = async (): Promise<unknown> => await job.perform(...args);
    // The first around hook is the outermost; each gets the next as its continuation, the last gets perform.
    const chain = job.hooks.around.reduceRight<() => Promise<unknown>>((next, hook) => async () => await hook.fn(next, ...args), perform);
    await chain();
    for (const hook of job.hooks.after) await hook.fn(...args);
    await hooks.afterJob?.(info);
    return { ok: true };
  } catch (err) {
    return failed(err, job.hooks.onFailure);
  }
}
