// Finding and loading job modules: `Reports::Daily` -> `<JOBS_DIR>/Reports/Daily.js` (or .mjs, .cjs).
// Imported by the child, so it uses nothing but Node itself, and takes Node's modules with
// process.getBuiltinModule rather than `import`: in a fresh process, ES-module imports of built-ins cost
// ~3 ms of CPU at start-up (measured in a child for one job, whose start-up and job take ~37 ms of CPU in
// all; `node -e 0` takes ~35).
const { readdirSync, realpathSync, statSync } = process.getBuiltinModule('node:fs');
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

// Which modules are jobs is decided by the rules below, the same for the listing of JOBS_DIR and for a class
// looked up by name: a class name reaches exactly the module the listing finds for it, and nothing else.

/** A file or folder name a job's path may have: not hidden (`.`), not a helper (`_`), not node_modules. */
function isJobPathName(name: string): boolean {
  return !name.startsWith('.') && !name.startsWith('_') && name !== 'node_modules';
}

/** A job module's file name: a job extension, and not the hooks module. */
function isJobFileName(name: string): boolean {
  return isJobPathName(name) && JOB_EXTENSIONS.some((ext) => name.endsWith(ext)) && !name.startsWith(`${HOOKS_MODULE}.`);
}

/** JOBS_DIR's real path, or undefined when it does not exist. */
function realJobsDir(jobsDir: string): string | undefined {
  try {
    return realpathSync.native(jobsDir);
  } catch {
    return undefined;
  }
}

/**
 * What a path is, followed through symlinks, when it really is inside JOBS_DIR (`root`, its real path): a
 * symlink that stays inside, as a ConfigMap volume's files are, is followed; one that leads out is not.
 */
function kindInside(root: string, path: string): { kind: 'file' | 'dir'; real: string } | undefined {
  let real: string;
  try {
    real = realpathSync.native(path);
  } catch {
    return undefined;
  }
  if (!real.startsWith(root + nodePath.sep)) return undefined;
  const stat = statSync(real, { throwIfNoEntry: false });
  return stat?.isDirectory() ? { kind: 'dir', real } : stat?.isFile() ? { kind: 'file', real } : undefined;
}

/** The module file for a class name, or undefined when the listing of JOBS_DIR has none for it. */
export function findJobModule(jobsDir: string, className: string): string | undefined {
  if (!isClassName(className)) return undefined;
  const names = className.split('::');
  const root = realJobsDir(jobsDir);
  if (root === undefined || !names.every(isJobPathName)) return undefined;
  let dir = jobsDir;
  const folders = [root];
  for (const name of names.slice(0, -1)) {
    dir = nodePath.join(dir, name);
    const found = kindInside(root, dir);
    if (found?.kind !== 'dir' || folders.includes(found.real)) return undefined; // not a folder, or a loop
    folders.push(found.real);
  }
  const base = nodePath.join(dir, names.at(-1) ?? '');
  return JOB_EXTENSIONS.map((ext) => base + ext).find((p) => isJobFileName(nodePath.basename(p)) && kindInside(root, p)?.kind === 'file');
}

/**
 * Every job module under JOBS_DIR: files with a job extension whose path makes a class name, skipping names
 * that start with `.` or `_`, node_modules, the hooks module, and anything a symlink leads to outside JOBS_DIR.
 */
export function listJobModules(jobsDir: string): string[] {
  const root = realJobsDir(jobsDir);
  if (root === undefined) return [];
  const out: string[] = [];
  /** `folders`: the real paths of the folders it is in, so that a symlink back to one of them is a loop, not followed */
  const walk = (dir: string, folders: readonly string[]): void => {
    const real = folders.at(-1) ?? root;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!isJobPathName(entry.name)) continue;
      const path = nodePath.join(dir, entry.name);
      const found = entry.isSymbolicLink()
        ? kindInside(root, path)
        : { kind: entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : undefined, real: nodePath.join(real, entry.name) };
      if (found?.kind === 'dir' && !folders.includes(found.real)) walk(path, [...folders, found.real]);
      else if (found?.kind === 'file' && isJobFileName(entry.name) && isClassName(classNameFor(nodePath.relative(jobsDir, path)))) out.push(path);
    }
  };
  walk(jobsDir, [root]);
  return out.sort();
}

export type Perform = (...args: unknown[]) => unknown;
export interface NamedHook {
  readonly name: string;
  readonly fn: (...args: unknown[]) => unknown;
}

/**
 * A job's own hooks, found as Resque finds them: every export whose name starts with `beforePerform`,
 * `aroundPerform`, `afterPerform` or `onFailure`, each kind in alphabetical order (the bare name first).
 */
export interface JobHooks {
  readonly before: readonly NamedHook[];
  readonly around: readonly NamedHook[];
  readonly after: readonly NamedHook[];
  readonly onFailure: readonly NamedHook[];
}

const HOOK_PREFIXES = { before: 'beforePerform', around: 'aroundPerform', after: 'afterPerform', onFailure: 'onFailure' } as const;

export const NO_JOB_HOOKS: JobHooks = { before: [], around: [], after: [], onFailure: [] };

/** A loaded job module's `perform` and hooks, or the error that stops it from running. */
export type Loaded = { perform: Perform; hooks: JobHooks } | { error: { name: string; message: string; stack: string[] } };

// CommonJS's `require`, in the build's CommonJS child (spawn-child.cjs); undefined in an ES module.
const cjsRequire = typeof require === 'function' ? require : undefined;

/**
 * A module's exports. Where this runs as CommonJS it `require`s the module (ES modules too, as Node 24
 * does): a fresh child then never starts Node's ES loader for modules of its own, ~1.2 ms of CPU per child
 * (measured). A module `require` cannot load (one with top-level `await`) is imported.
 */
export async function importModule(path: string): Promise<Record<string, unknown>> {
  if (cjsRequire) {
    try {
      return cjsRequire(path) as Record<string, unknown>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    }
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

/** The hooks among a job module's exports, or the name of one that is not a function. */
function jobHooks(exports: Record<string, unknown>): JobHooks | { notAFunction: string } {
  const hooks = { before: [] as NamedHook[], around: [] as NamedHook[], after: [] as NamedHook[], onFailure: [] as NamedHook[] };
  for (const name of Object.keys(exports).sort()) {
    const kind = (Object.keys(HOOK_PREFIXES) as (keyof typeof HOOK_PREFIXES)[]).find((k) => name.startsWith(HOOK_PREFIXES[k]));
    if (kind === undefined) continue;
    const fn = exports[name];
    if (typeof fn !== 'function') return { notAFunction: name };
    hooks[kind].push({ name, fn: fn as NamedHook['fn'] });
  }
  return hooks;
}

/**
 * Imports a job module and finds its `perform` and hooks: named exports, or the default export's properties
 * when `perform` is there.
 */
export async function loadJob(jobsDir: string, path: string): Promise<Loaded> {
  const rel = nodePath.relative(jobsDir, path);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(path);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { error: { name: 'Forkpool::JobLoadError', message: `${rel} failed to load: ${e.name}: ${e.message}`, stack: stackLines(e) } };
  }
  const def = mod.default as Record<string, unknown> | undefined;
  const exports = typeof mod.perform === 'function' ? mod : typeof def?.perform === 'function' ? def : undefined;
  if (exports === undefined) {
    return { error: { name: 'Forkpool::JobLoadError', message: `${rel} does not export a perform(...args) function`, stack: [] } };
  }
  const hooks = jobHooks(exports);
  if ('notAFunction' in hooks) {
    return { error: { name: 'Forkpool::JobLoadError', message: `${rel} exports ${hooks.notAFunction}, which is not a function: a name starting with beforePerform, aroundPerform, afterPerform or onFailure must be a hook`, stack: [] } };
  }
  return { perform: exports.perform as Perform, hooks };
}

export function stackLines(err: Error): string[] {
  return (err.stack ?? '').split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
}
