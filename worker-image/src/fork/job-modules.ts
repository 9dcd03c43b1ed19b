// Loads every job module of JOBS_DIR once, in the zygote, so that each forked child starts with
// them in memory. Finding and importing modules is the worker's own (../jobs.ts), so a class runs
// or fails the same way in every isolation mode.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { classNameFor, findJobModule, HOOKS_MODULE, JOB_EXTENSIONS, listJobModules, loadJob, type Loaded } from '../jobs.ts';
import type { JobError } from './zygote-protocol.ts';

/**
 * The optional hooks module, `JOBS_DIR/forkpool.hooks.js` (or `.mjs`, `.cjs`). Both hooks may be
 * async. A hook that throws stops the zygote (beforeFork) or fails the job (afterFork).
 */
export interface ForkHooks {
  /** Runs once in the zygote after the job modules are loaded, before the first fork: close
   * what children must not share (database pools, sockets opened at load time). */
  beforeFork?: () => unknown;
  /** Runs in each child before perform: reconnect what beforeFork closed. */
  afterFork?: (job: { className: string; args: unknown[] }) => unknown;
}

/** The loaded jobs folder. */
export interface JobModules {
  /** Class names with a loadable perform, sorted. */
  readonly classes: string[];
  /** Modules that failed to load or export no perform; running one fails with its error. */
  readonly loadErrors: { className: string; error: JobError }[];
  readonly hooks: ForkHooks;
  /** A class's module: preloaded, or (for a module added since the zygote started) loaded now. */
  lookup(className: string): Promise<Loaded>;
}

/** Imports the hooks module and every job module. Throws only when the hooks module fails. */
export async function loadJobModules(jobsDir: string): Promise<JobModules> {
  const hooksPath = JOB_EXTENSIONS.map((ext) => join(jobsDir, HOOKS_MODULE + ext)).find((p) => existsSync(p));
  const hooks = hooksPath === undefined ? {} : ((await import(pathToFileURL(hooksPath).href)) as ForkHooks);
  const loaded = new Map<string, Loaded>();
  for (const path of listJobModules(jobsDir)) loaded.set(classNameFor(relative(jobsDir, path)), await loadJob(jobsDir, path));
  const classes: string[] = [];
  const loadErrors: { className: string; error: JobError }[] = [];
  for (const [className, job] of loaded) {
    if ('error' in job) loadErrors.push({ className, error: job.error });
    else classes.push(className);
  }
  return {
    classes: classes.sort(),
    loadErrors,
    hooks,
    async lookup(className) {
      const preloaded = loaded.get(className);
      if (preloaded !== undefined) return preloaded;
      const path = findJobModule(jobsDir, className);
      if (path !== undefined) return loadJob(jobsDir, path);
      return {
        error: {
          name: 'Forkpool::UnknownJobClass',
          message: `no job module for class ${className} in ${jobsDir} (looked for ${className.split('::').join('/')}.js, .mjs or .cjs)`,
          stack: [],
        },
      };
    },
  };
}
