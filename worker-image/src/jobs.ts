// Finding and loading job modules: `Reports::Daily` -> `<JOBS_DIR>/Reports/Daily.js` (or .mjs, .cjs).
// Imported by the child, so it uses nothing but Node itself, and takes Node's modules with
// process.getBuiltinModule rather than `import`: in a fresh process, ES-module imports of built-ins cost
// ~3 ms of CPU at start-up (measured in a child for one job, whose start-up and job take ~37 ms of CPU in
// all; `node -e 0` takes ~35).
const { existsSync, readdirSync } = process.getBuiltinModule('node:fs');
const nodePath = process.getBuiltinModule('node:path');
const { pathToFileURL } = process.getBuiltinModule('node:url');

export const JOB_EXTENSIONS = ['.js', '.mjs', '.cjs'] as const;
/** A module in JOBS_DIR with this base name holds the fork hooks, not a job. */
export const HOOKS_MODULE = 'forkpool.hooks';

/** The class name Resque would use for a module path relative to JOBS_DIR. */
export function classNameFor(relPath: string): string {
  return relPath.replace(/\.(m|c)?js$/, '').split(nodePath.sep).join('::');
}

/** What a class name with a module can look like: `Name` or `Name::Space::Name`. */
export function isClassName(name: string): boolean {
  return /^[A-Za-z_$][\w$]*(::[A-Za-z_$][\w$]*)*$/.test(name);
}

/** The module file for a class name, or undefined when there is none. */
export function findJobModule(jobsDir: string, className: string): string | undefined {
  if (!isClassName(className)) return undefined;
  const base = nodePath.join(jobsDir, ...className.split('::'));
  return JOB_EXTENSIONS.map((ext) => base + ext).find((p) => existsSync(p));
}

/** Every job module under JOBS_DIR (skipping node_modules, dot- and underscore-files, and the hooks module). */
export function listJobModules(jobsDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name.startsWith('_') || entry.name === 'node_modules') continue;
      const path = nodePath.join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (JOB_EXTENSIONS.some((ext) => entry.name.endsWith(ext)) && !entry.name.startsWith(`${HOOKS_MODULE}.`)) out.push(path);
    }
  };
  if (existsSync(jobsDir)) walk(jobsDir);
  return out.sort();
}

export type Perform = (...args: unknown[]) => unknown;

/** A loaded job module's `perform`, or the error that stops it from running. */
export type Loaded = { perform: Perform } | { error: { name: string; message: string; stack: string[] } };

// CommonJS's `require`, in the build's CommonJS child (spawn-child.cjs); undefined in an ES module.
const cjsRequire = typeof require === 'function' ? require : undefined;

/**
 * A job module's exports. Where this runs as CommonJS it `require`s the module (ES modules too, as Node 24
 * does): a fresh child then never starts Node's ES loader for modules of its own, ~1.2 ms of CPU per child
 * (measured). A module `require` cannot load (one with top-level `await`) is imported.
 */
async function importJob(path: string): Promise<Record<string, unknown>> {
  if (cjsRequire) {
    try {
      return cjsRequire(path) as Record<string, unknown>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    }
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

/** Imports a job module and finds its `perform` (a named export, or on the default export). */
export async function loadJob(jobsDir: string, path: string): Promise<Loaded> {
  const rel = nodePath.relative(jobsDir, path);
  let mod: Record<string, unknown>;
  try {
    mod = await importJob(path);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { error: { name: 'Forkpool::JobLoadError', message: `${rel} failed to load: ${e.name}: ${e.message}`, stack: stackLines(e) } };
  }
  const def = mod.default as Record<string, unknown> | undefined;
  const perform = typeof mod.perform === 'function' ? mod.perform : typeof def?.perform === 'function' ? def.perform : undefined;
  if (typeof perform !== 'function') {
    return { error: { name: 'Forkpool::JobLoadError', message: `${rel} does not export a perform(...args) function`, stack: [] } };
  }
  return { perform: perform as Perform };
}

export function stackLines(err: Error): string[] {
  return (err.stack ?? '').split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
}
