// Loads fork.node, the native half of fork mode (worker-image/native/fork.c), without throwing:
// a worker that cannot load it says why and runs in spawn mode instead.
import { closeSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's exports; see fork.c for why each exists. Errors are thrown with errno codes. */
export interface ForkAddon {
  /** fork(2) after marking V8's memory inheritable: the child's pid in the parent, 0 in the child
   * (with every signal blocked, and its libuv loop made its own). */
  fork(): number;
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
  /** posix_spawn(3) on the thread pool: `fds[i]` becomes the child's fd i (-1: /dev/null; i: inherited).
   * Resolves with its pid once it has exec'd; the caller reaps it. */
  spawn(file: string, argv: readonly string[], env: readonly string[], fds: readonly number[]): Promise<number>;
}

/** The addon, or why fork mode is unavailable here. */
export type AddonLoad = { ok: true; addon: ForkAddon; path: string } | { ok: false; reason: string };

/** Environment variable naming the fork.node to load, for layouts other than this repository's. */
export const ADDON_PATH_ENV = 'FORKPOOL_FORK_ADDON';

const ADDON_EXPORTS = ['fork', 'unblockSignals', 'exit', 'dieWithParent', 'pipe', 'pidfdOpen', 'poll', 'waitpid', 'spawn'] as const;

// Source tree: worker-image/src/fork/addon.ts; compiled: dist/worker-image/src/fork/addon.js.
function candidatePaths(): string[] {
  const fromEnv = process.env[ADDON_PATH_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return [fromEnv];
  return [
    fileURLToPath(new URL('../../native/build/fork.node', import.meta.url)),
    fileURLToPath(new URL('../../../../worker-image/native/build/fork.node', import.meta.url)),
  ];
}

let cached: AddonLoad | undefined;

/** Loads the addon once per process; never throws. */
export function loadForkAddon(): AddonLoad {
  cached ??= load();
  return cached;
}

function load(): AddonLoad {
  if (process.platform !== 'linux') return { ok: false, reason: `fork mode needs Linux, this is ${process.platform}` };
  const candidates = candidatePaths();
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    return {
      ok: false,
      reason: `fork.node is not built (looked at ${candidates.join(', ')}); build it with "node worker-image/native/build.ts"`,
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
  const addon = loaded as ForkAddon;
  try {
    closeSync(addon.pidfdOpen(process.pid));
  } catch (err) {
    return { ok: false, reason: `pidfd_open is unavailable (Linux >= 5.3 needed): ${err instanceof Error ? err.message : String(err)}` };
  }
  return { ok: true, addon, path };
}
