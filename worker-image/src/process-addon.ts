// Loads process.node (worker-image/native/process.c), the native addon behind fork mode and spawn mode's
// spawn, without throwing: a worker that cannot load it says why and runs in spawn mode, starting
// its children with Node's spawn.
import { closeSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's exports; see process.c for why each exists. Errors are thrown with errno codes. */
export interface ProcessAddon {
  /** What the build does (ADDON_VERSION in process.c). */
  readonly version: number;
  /** fork(2) after marking V8's memory inheritable: the child's pid in the parent, 0 in the child
   * (with every signal blocked, and its libuv loop made its own). */
  fork(): number;
  /** getpid(2): in a forked child, its own pid (process.pid is the zygote's). */
  getpid(): number;
  /** In a forked child, which starts with every signal blocked: delivers them again. */
  unblockSignals(): void;
  /** _exit(2): leaves without Node's exit path, which hangs or crashes in a forked child. */
  exit(code: number): never;
  /** Asks for SIGKILL when the parent dies; false when the parent is already not `expectedParentPid`. */
  dieWithParent(expectedParentPid: number): boolean;
  /** [readFd (non-blocking, unless `blocking`), writeFd (blocking)], both close-on-exec. */
  pipe(blocking?: boolean): [number, number];
  /** An fd that polls readable once `pid` has exited. */
  pidfdOpen(pid: number): number;
  /** poll(2) for readability: revents per fd, all 0 on timeout or interruption. */
  poll(fds: number[], timeoutMs: number): number[];
  /** waitpid(pid, WNOHANG): null while running, else the exit code or the signal number. */
  waitpid(pid: number): { code: number | null; signal: number | null } | null;
  /** Starts a program as posix_spawn(3) does, on the thread pool: `fds[i]` becomes the child's fd i (-1:
   * /dev/null; i: inherited). The child leads a process group of its own and is killed when this process
   * dies (PR_SET_PDEATHSIG). Resolves with its pid once it has exec'd; the caller reaps it. */
  spawn(file: string, argv: readonly string[], env: readonly string[], fds: readonly number[]): Promise<number>;
}

/** The addon, or why it is unavailable here. */
export type ProcessAddonLoad = { ok: true; addon: ProcessAddon; path: string } | { ok: false; reason: string };

/** Environment variable naming the process.node to load, for layouts other than this repository's. */
export const ADDON_PATH_ENV = 'FORKPOOL_PROCESS_ADDON';

const ADDON_EXPORTS = ['fork', 'getpid', 'unblockSignals', 'exit', 'dieWithParent', 'pipe', 'pidfdOpen', 'poll', 'waitpid', 'spawn'] as const;
/**
 * The build this code needs (ADDON_VERSION in process.c): children that lead process groups of their own, which
 * the master signals, spawned children that die with the master, and a zygote's heap gathered when the addon is
 * preloaded (see GATHER_HEAP_ENV). An older build would leave those signals going nowhere, and the zygote's
 * LD_PRELOAD to the programs its jobs start.
 */
const ADDON_VERSION = 3;

/**
 * Set in a zygote's environment, with process.node first in its LD_PRELOAD: before Node starts, the addon then
 * reserves the address space V8 scatters its heap pages over, so that they are mapped together (every fork
 * copies fewer page tables), and sets LD_PRELOAD back to this variable's value (see process.c).
 */
export const GATHER_HEAP_ENV = 'FORKPOOL_GATHER_HEAP';

// Source tree: worker-image/src/process-addon.ts; compiled: dist/worker-image/src/process-addon.js.
function candidatePaths(): string[] {
  const fromEnv = process.env[ADDON_PATH_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return [fromEnv];
  return [
    fileURLToPath(new URL('../native/build/process.node', import.meta.url)),
    fileURLToPath(new URL('../../../worker-image/native/build/process.node', import.meta.url)),
  ];
}

let cached: ProcessAddonLoad | undefined;

/** Loads the addon once per process; never throws. */
export function loadProcessAddon(): ProcessAddonLoad {
  cached ??= load();
  return cached;
}

function load(): ProcessAddonLoad {
  if (process.platform !== 'linux') return { ok: false, reason: `process.node needs Linux, this is ${process.platform}` };
  const candidates = candidatePaths();
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    return {
      ok: false,
      reason: `process.node is not built (looked at ${candidates.join(', ')}); build it with "node worker-image/native/build.ts"`,
    };
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(path);
  } catch (err) {
    return { ok: false, reason: `cannot load ${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const missing = ADDON_EXPORTS.filter((name) => typeof (loaded as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) return { ok: false, reason: `${path} lacks ${missing.join(', ')}: rebuild it` };
  const version = (loaded as Record<string, unknown>).version;
  if (version !== ADDON_VERSION) {
    const built = typeof version === 'number' ? version : 1;
    return { ok: false, reason: `${path} is build ${built}, this worker needs build ${ADDON_VERSION}: rebuild it with "node worker-image/native/build.ts"` };
  }
  const addon = loaded as ProcessAddon;
  try {
    closeSync(addon.pidfdOpen(process.pid));
  } catch (err) {
    return { ok: false, reason: `pidfd_open is unavailable (Linux >= 5.3 needed): ${err instanceof Error ? err.message : String(err)}` };
  }
  return { ok: true, addon, path };
}
