// The worker's global hooks: `JOBS_DIR/forkpool.hooks.js` (or .mjs, .cjs), loaded once per child in spawn
// mode and once in the zygote in fork mode. Loaded by the child, so Node's modules only (see jobs.ts); its
// exports are checked by hand rather than with zod, which would cost every child and every fork its ~15 MB.
import { HOOKS_MODULE, importModule, JOB_EXTENSIONS, stackLines } from './jobs.ts';
import type { JobError } from './run-job.ts';

const { existsSync } = process.getBuiltinModule('node:fs');
const nodePath = process.getBuiltinModule('node:path');

/** The job a global hook is called for. */
export interface JobInfo {
  readonly className: string;
  readonly args: readonly unknown[];
}

/** What the hooks module may export; every hook is optional and may be async. */
export interface GlobalHooks {
  /** Fork mode: once, in the zygote, after the job modules are loaded and before the first fork. */
  beforeFork?: () => unknown;
  /** Fork mode: in each child, before its job (and before beforeJob). */
  afterFork?: (job: JobInfo) => unknown;
  /** Before every job's own hooks; a `DontPerform` it throws skips the job, any other error fails it. */
  beforeJob?: (job: JobInfo) => unknown;
  /** After a job's afterPerform hooks; an error it throws fails the job. */
  afterJob?: (job: JobInfo) => unknown;
  /** After a failed job's own onFailure hooks, with what the job threw. */
  onFailure?: (error: unknown, job: JobInfo) => unknown;
}

const HOOK_NAMES = ['beforeFork', 'afterFork', 'beforeJob', 'afterJob', 'onFailure'] as const satisfies readonly (keyof GlobalHooks)[];

/** The hooks module's hooks, or the error every job fails with while it cannot be used. */
export type LoadedGlobalHooks = { readonly hooks: GlobalHooks } | { readonly error: JobError };

export const NO_GLOBAL_HOOKS: LoadedGlobalHooks = { hooks: {} };

// Names a module system adds to what a module exports: Node's `module.exports` on a CommonJS module's
// namespace, the `__esModule` flag of transpiled code.
const MODULE_SYSTEM_NAMES = new Set(['default', 'module.exports', '__esModule']);

/** The exports a hooks module means: its named exports, or its default export's when it has only that. */
function exportedHooks(mod: Record<string, unknown>): Record<string, unknown> {
  const named = Object.keys(mod).filter((k) => !MODULE_SYSTEM_NAMES.has(k));
  const def = mod.default;
  if (named.length === 0 && typeof def === 'object' && def !== null) return def as Record<string, unknown>;
  return Object.fromEntries(named.map((k) => [k, mod[k]]));
}

/** The hooks module's path in JOBS_DIR, or undefined when there is none. */
export function findHooksModule(jobsDir: string): string | undefined {
  return JOB_EXTENSIONS.map((ext) => nodePath.join(jobsDir, HOOKS_MODULE + ext)).find((p) => existsSync(p));
}

/** Imports and checks the hooks module; a module that throws or exports anything but the hooks is an error. */
export async function loadGlobalHooks(jobsDir: string): Promise<LoadedGlobalHooks> {
  const path = findHooksModule(jobsDir);
  if (path === undefined) return NO_GLOBAL_HOOKS;
  const rel = nodePath.relative(jobsDir, path);
  const fail = (message: string, stack: string[] = []): LoadedGlobalHooks => ({ error: { name: 'Forkpool::HooksLoadError', message, stack } });
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(path);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return fail(`${rel} failed to load: ${e.name}: ${e.message}`, stackLines(e));
  }
  const exports = exportedHooks(mod);
  const hooks: GlobalHooks = {};
  for (const [name, value] of Object.entries(exports)) {
    if (!(HOOK_NAMES as readonly string[]).includes(name)) return fail(`${rel} exports ${name}, which is not a hook (the hooks are ${HOOK_NAMES.join(', ')})`);
    if (typeof value !== 'function') return fail(`${rel} exports ${name} as ${typeof value}; a hook must be a function`);
    Object.assign(hooks, { [name]: value });
  }
  return { hooks };
}
