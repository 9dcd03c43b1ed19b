// Loads every job module of JOBS_DIR once, in the zygote, so that each forked child starts with
// them in memory. Class names follow the worker's convention: `Reports::Daily` is the module
// `Reports/Daily.js` (or `.mjs`, `.cjs`, in that order of preference) exporting `perform`.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { toJobError, type JobError } from './protocol.ts';

/**
 * The optional hooks module, `JOBS_DIR/forkpool.hooks.js` (or `.mjs`, `.cjs`). Both hooks may be
 * async. A hook that throws stops the zygote (beforeFork) or fails the job (afterFork).
 */
export interface ForkHooks {
  /** Runs once in the zygote after the job modules are loaded, before the first fork: close
   * what must not be shared by children (database pools, sockets opened at load time). */
  beforeFork?: () => unknown;
  /** Runs in each child before perform: reconnect, reseed, re-create what beforeFork closed. */
  afterFork?: (job: { className: string; args: unknown[] }) => unknown;
}

/** The hooks module's name without its extension. */
export const HOOKS_MODULE = 'forkpool.hooks';
const EXTENSIONS = ['.js', '.mjs', '.cjs'];
const SEGMENT = /^[A-Za-z_$][\w$]*$/;

interface Performer {
  perform: (...args: unknown[]) => unknown;
}

/** A job module's perform, ready to call, or why the class cannot run. */
export type JobLookup = { ok: true; job: Performer } | { ok: false; error: JobError };

/** The loaded jobs folder. */
export interface JobModules {
  /** Class names with a loadable perform, sorted. */
  readonly classes: string[];
  /** Modules that threw while loading. */
  readonly loadErrors: { className: string; error: JobError }[];
  readonly hooks: ForkHooks;
  lookup(className: string): JobLookup;
}

/** `Reports/Daily.js` -> `Reports::Daily`; null for a file that cannot be a job. */
export function classNameOf(relativePath: string): string | null {
  const ext = EXTENSIONS.find((e) => relativePath.endsWith(e));
  if (ext === undefined) return null;
  const segments = relativePath.slice(0, -ext.length).split(sep);
  return segments.every((s) => SEGMENT.test(s)) ? segments.join('::') : null;
}

function findModules(jobsDir: string): Map<string, string> {
  const files = readdirSync(jobsDir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(jobsDir, join(d.parentPath, d.name)))
    .filter((p) => !p.split(sep).some((s) => s === 'node_modules' || s.startsWith('.')));
  const byClass = new Map<string, string>();
  for (const ext of EXTENSIONS) {
    for (const file of files.filter((f) => f.endsWith(ext))) {
      const className = classNameOf(file);
      if (className !== null && !byClass.has(className)) byClass.set(className, join(jobsDir, file));
    }
  }
  return byClass;
}

function performerOf(mod: Record<string, unknown>): Performer | null {
  if (typeof mod.perform === 'function') return mod as unknown as Performer;
  const def = mod.default as Record<string, unknown> | undefined;
  if ((typeof def === 'object' || typeof def === 'function') && def !== null && typeof def.perform === 'function') {
    return def as unknown as Performer;
  }
  return null;
}

/** Imports the hooks module and every job module. Throws only when the hooks module fails. */
export async function loadJobModules(jobsDir: string): Promise<JobModules> {
  const modules = findModules(jobsDir);
  const hooksPath = EXTENSIONS.map((ext) => join(jobsDir, HOOKS_MODULE + ext)).find((p) => existsSync(p));
  const hooks = hooksPath === undefined ? {} : ((await import(pathToFileURL(hooksPath).href)) as ForkHooks);
  const performers = new Map<string, Performer>();
  const loadErrors: { className: string; error: JobError }[] = [];
  // Helper modules without perform are not reported at start, only if someone runs them.
  const failed = new Map<string, JobError>();
  for (const [className, path] of modules) {
    try {
      const performer = performerOf((await import(pathToFileURL(path).href)) as Record<string, unknown>);
      if (performer !== null) performers.set(className, performer);
      else failed.set(className, { name: 'JobLoadError', message: `${path} exports no perform function`, stack: null });
    } catch (err) {
      const cause = toJobError(err);
      const error = { ...cause, message: `loading ${path}: ${cause.message}` };
      loadErrors.push({ className, error });
      failed.set(className, error);
    }
  }
  return {
    classes: [...performers.keys()].sort(),
    loadErrors,
    hooks,
    lookup(className) {
      const job = performers.get(className);
      if (job !== undefined) return { ok: true, job };
      const error = failed.get(className) ?? {
        name: 'JobNotFound',
        message: `no job module for class ${className} in ${jobsDir} (expected ${className.split('::').join('/')}.js, .mjs or .cjs exporting perform)`,
        stack: null,
      };
      return { ok: false, error };
    },
  };
}
