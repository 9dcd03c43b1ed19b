// Starting a spawn-mode child: `node spawn-child.js` with fd 3 (jobs in) and fd 4 (results out) piped to the
// master. Node's child_process.spawn (libuv) fork()s the master to exec the child, copying the page tables
// of its ~90 MB only for exec to drop them: ~1.5-2.3 ms of the master's CPU per child, measured, a few % of
// a no-op job's whole cost with JOBS_PER_CHILD=1, with the event loop blocked meanwhile. process.node's
// spawn runs the child in the master's memory until exec instead, as posix_spawn does (~0.2 ms of CPU), on
// the thread pool; the master reaps these children itself, on SIGCHLD. Such a child is killed by the kernel
// when its master dies (PR_SET_PDEATHSIG). Without the addon (not built, not Linux), Node's spawn is used,
// and the child checks for its master on a timer (spawn-child.ts), which a job that keeps the CPU busy delays.
//
// Either way a child leads a process group of its own, and is signalled through it: the processes its job
// starts are in that group, and die with it (a program that calls setsid itself leaves the group and escapes).
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { loadProcessAddon, type ProcessAddon } from './process-addon.ts';
import { signalName } from './outcome.ts';

/** How a child ended: its exit code or the signal that killed it; `error` when it never started. */
export interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

/** A started child, whichever way it was started. */
export interface Launched {
  /** undefined when it could not be started (see `ended`) */
  readonly pid: number | undefined;
  /** the child's fd 3 */
  readonly jobs: Writable;
  /** the child's fd 4 */
  readonly results: Readable;
  /** resolves once the child has exited and been reaped */
  readonly ended: Promise<Ended>;
  /**
   * Sends `signal` (SIGKILL by default) to the child's process group, unless the child has already been reaped
   * (its pid, and so its group's id, could be another process's by then).
   */
  kill(signal?: NodeJS.Signals): void;
}

export type Launcher = (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => Launched;

/** The fastest way to start children here: the addon's spawn (`posix_spawn` in the logs: how it starts a
 * child), or Node's spawn and why not the addon. The launchers themselves are exported for the tests, which
 * run both. */
export function launcher(): { launch: Launcher; how: 'posix_spawn' } | { launch: Launcher; how: 'child_process'; why: string } {
  const load = loadProcessAddon();
  return load.ok ? { launch: posixSpawnLauncher(load.addon), how: 'posix_spawn' } : { launch: nodeLaunch, how: 'child_process', why: load.reason };
}

/** Signals a process group; one already gone is not an error. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing of the group is left
  }
}

export const nodeLaunch: Launcher = (file, args, env) => {
  // detached: the child calls setsid, which makes it the leader of a new process group (and session).
  const proc = spawn(file, args, { env, stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'], detached: true });
  const ended = new Promise<Ended>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (error) => { if (proc.pid === undefined) resolve({ code: null, signal: null, error }); });
  });
  return {
    pid: proc.pid,
    jobs: proc.stdio[3] as Writable,
    results: proc.stdio[4] as Readable,
    ended,
    kill: (signal = 'SIGKILL') => {
      if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) signalGroup(proc.pid, signal);
    },
  };
};

/** Children started by the addon's spawn (process.c): posix_spawn's way, and killed when the master dies. */
export function posixSpawnLauncher(addon: ProcessAddon): Launcher {
  /** children not yet reaped, and what to call when they are */
  const live = new Map<number, (e: Ended) => void>();
  const reap = (): void => {
    for (const [pid, done] of live) {
      let status: ReturnType<ProcessAddon['waitpid']>;
      try {
        status = addon.waitpid(pid);
      } catch {
        status = { code: null, signal: null }; // reaped by someone else (ECHILD): how it ended is unknown
      }
      if (status === null) continue;
      live.delete(pid);
      done({ code: status.code, signal: status.signal === null ? null : signalName(status.signal) });
    }
    if (live.size === 0) {
      clearInterval(sweep);
      sweep = undefined;
    }
  };
  process.on('SIGCHLD', reap);
  // While children live, a slow sweep too: a signal listener does not keep the event loop alive (a child's
  // pipes may close before its SIGCHLD is handled), and it is a safety net for a signal missed.
  let sweep: NodeJS.Timeout | undefined;
  const envCache = new WeakMap<NodeJS.ProcessEnv, string[]>();
  return (file, args, env) => {
    let envList = envCache.get(env);
    if (!envList) {
      envList = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
      envCache.set(env, envList);
    }
    const [jobsIn, jobsOut] = addon.pipe(true);
    const [resultsIn, resultsOut] = addon.pipe(true);
    let pid: number | undefined;
    let signalWanted: NodeJS.Signals | undefined;
    // Once the child has its copies (or never will), the master's copies of its ends go: they would keep
    // the pipes open after the child is gone.
    const closeChildEnds = (): void => {
      closeSync(jobsIn);
      closeSync(resultsOut);
    };
    const ended = addon.spawn(file, [file, ...args], envList, [-1, 1, 2, jobsIn, resultsOut]).then(
      (started) => {
        closeChildEnds();
        pid = started;
        const exit = new Promise<Ended>((resolve) => live.set(started, resolve));
        sweep ??= setInterval(reap, 1000);
        reap(); // its SIGCHLD may have been handled before it was listed
        if (signalWanted) signalGroup(started, signalWanted);
        return exit;
      },
      (error: unknown): Ended => {
        closeChildEnds();
        return { code: null, signal: null, error: error instanceof Error ? error : new Error(String(error)) };
      },
    );
    return {
      get pid() { return pid; },
      jobs: new Socket({ fd: jobsOut, readable: false, writable: true }),
      results: new Socket({ fd: resultsIn, readable: true, writable: false }),
      ended,
      kill: (signal = 'SIGKILL') => {
        if (pid === undefined) signalWanted = signalWanted === 'SIGKILL' ? signalWanted : signal;
        else if (live.has(pid)) signalGroup(pid, signal);
      },
    };
  };
}
