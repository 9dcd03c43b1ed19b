// Loads every job module of JOBS_DIR once, in the zygote, so that each forked child starts with
// them in memory. Finding and importing modules is the worker's own (../jobs.ts), so a class runs
// or fails the same way in every isolation mode.
import { relative } from 'node:path';
import { loadGlobalHooks, type LoadedGlobalHooks } from '../global-hooks.ts';
import { classNameFor, findJobModule, listJobModules, loadJob, type Loaded } from '../jobs.ts';
import type { JobError } from './zygote-protocol.ts';

/** The loaded jobs folder. */
export interface JobModules {
  /** Class names with a loadable perform, sorted. */
  readonly classes: string[];
  /** Modules that failed to load or export no perform; running one fails with its error. */
  readonly loadErrors: { className: string; error: JobError }[];
  /** The hooks module's hooks (../global-hooks.ts), or the error every job fails with. */
  readonly hooks: LoadedGlobalHooks;
  /** A class's module: preloaded, or (for a module added since the zygote started) loaded now. */
  lookup(className: string): Promise<Loaded>;
}

/** Imports the hooks module and every job module. */
export async function loadJobModules(jobsDir: string): Promise<JobModules> {
  const hooks = await loadGlobalHooks(jobsDir);
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
