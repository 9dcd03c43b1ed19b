// The forked child's side: undo what it must not share with the zygote and its siblings, run one
// job, report the result on its own pipe, and leave with _exit. Everything here runs in a process
// that fork() just made from the zygote; docs/fork-mode.md lists the rules job code follows.
import { randomUUID, getRandomValues } from 'node:crypto';
import { closeSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { constants } from 'node:os';
import type { ProcessAddon } from '../process-addon.ts';
import type { JobModules } from './job-modules.ts';
import { toJobError, writeLine, type ChildReport, type JobResult, type RunCommand } from './zygote-protocol.ts';
import type { TimerTracker } from './timers.ts';
import { watchStdio } from '../stdio.ts';
import { runJob } from '../run-job.ts';

/** What the zygote hands to a child it has just forked. */
export interface ForkedChild {
  command: RunCommand;
  /** The write end of this child's own result pipe. */
  reportFd: number;
  /** The zygote's descriptors: its command channel and its other children's pipes and pidfds. */
  inheritedFds: number[];
}

export interface ChildDeps {
  addon: ProcessAddon;
  jobs: JobModules;
  timers: TimerTracker;
}

// Node's buffered randomUUID hands out 128 UUIDs from one random fill; every child would hand out
// the zygote's leftovers first. Drawing a whole batch forces the next fill to happen in the child.
const UUID_BATCH = 128;

/** Set in each fresh child: its first randomUUID call must first draw the zygote's leftovers away. */
let uuidDrainOwed = false;

/**
 * Replaces node:crypto's and Web Crypto's randomUUID with pass-throughs that, on a child's first
 * call, draw a whole batch before answering. Most jobs never ask for a UUID: draining in every child
 * up front would cost each of them the faults of the buffer's pages for nothing. Called in the
 * zygote before job modules load, so that their imports (live ESM bindings, synced here) and
 * `require('node:crypto')` see the guarded function. The two share Node's one buffer.
 */
export function guardRandomUUID(): void {
  const cjsCrypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  const nodeRandomUUID = cjsCrypto.randomUUID;
  const drainIfOwed = (): void => {
    if (!uuidDrainOwed) return;
    uuidDrainOwed = false;
    for (let i = 0; i < UUID_BATCH; i++) nodeRandomUUID();
  };
  cjsCrypto.randomUUID = (options) => {
    drainIfOwed();
    return nodeRandomUUID(options);
  };
  syncBuiltinESMExports();
  const web = globalThis.crypto;
  const webRandomUUID = web.randomUUID.bind(web);
  Object.defineProperty(web, 'randomUUID', {
    value: (): ReturnType<typeof webRandomUUID> => {
      drainIfOwed();
      return webRandomUUID();
    },
    configurable: true,
    writable: true,
  });
}

/** Math.random from the OS's generator: V8's state is per process image, so every child would
 * otherwise draw the zygote's sequence, and V8 offers no way to reseed it. Its pool is made at the
 * first call: a child that never asks for a random number does not pay for 4 KiB of fresh memory. */
function osSeededRandom(): () => number {
  let pool: Uint32Array | undefined;
  let next = 0;
  return () => {
    if (pool === undefined || next >= pool.length) {
      pool ??= new Uint32Array(1024);
      getRandomValues(pool);
      next = 0;
    }
    const high = (pool[next++] ?? 0) >>> 5;
    const low = (pool[next++] ?? 0) >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  };
}

/** Runs, once in the zygote, the one-time set-up of what every child calls, so children find
 * it done: the UUID buffer and the random generator's first use cost milliseconds. */
export function warmUpForChildren(): void {
  for (let i = 0; i < UUID_BATCH; i++) randomUUID();
  osSeededRandom()();
}

/**
 * Makes the fresh child safe to run job code. Synchronous, and called before the child returns to
 * the event loop: nothing inherited gets a chance to run first. A spare child does it before its job
 * arrives, so that the copy-on-write faults it causes are off the job's path.
 */
export function makeForkSafe(inheritedFds: readonly number[], deps: ChildDeps): void {
  // The zygote reads its channel synchronously, so no libuv handle watches it; closing the fds
  // leaves the child no way to read commands or siblings' results, or hold their pipes open.
  for (const fd of inheritedFds) closeSync(fd);
  deps.timers.clearAndStop();
  // Default dispositions, as in a fresh process: the master's SIGTERM means what it says. Signals
  // were blocked since fork, so none was handled by the zygote's listeners in the meantime. Only the
  // signals that have listeners have a handler installed (Node drops it with the last listener).
  for (const event of process.eventNames()) {
    if (typeof event === 'string' && Object.hasOwn(constants.signals, event)) process.removeAllListeners(event);
  }
  deps.addon.unblockSignals();
  Math.random = osSeededRandom();
  uuidDrainOwed = true;
  // process.pid is a value Node read at start-up: the zygote's.
  Object.defineProperty(process, 'pid', { value: deps.addon.getpid(), configurable: true, enumerable: true });
}

/** Runs afterFork and the job with its hooks, reports, and exits the child. Never returns. */
export async function runForkedJob(child: ForkedChild, deps: ChildDeps): Promise<never> {
  const { addon } = deps;
  let reported = false;
  const report = (result: JobResult): void => {
    if (reported) return;
    reported = true;
    const msg: ChildReport = { type: 'result', result, rssBytes: process.memoryUsage.rss() };
    try {
      writeLine(child.reportFd, JSON.stringify(msg));
    } catch {
      // The zygote is gone; there is no one left to tell.
    }
  };
  const finish = (result: JobResult, code: number): never => {
    report(result);
    return addon.exit(code);
  };
  // When the job has ended: reported at once, then out once its output is (see stdio.ts).
  const stdioWritten = watchStdio();
  const ended = async (result: JobResult): Promise<never> => {
    report(result);
    await stdioWritten();
    return addon.exit(0);
  };
  // Node's own exit path tears down threads that only the zygote has: a job calling process.exit
  // would hang. It leaves with _exit instead, without a result: the master records a crash.
  Object.defineProperty(process, 'reallyExit', { value: (code?: number) => addon.exit(code ?? 0), configurable: true, writable: true });
  for (const event of ['uncaughtException', 'unhandledRejection', 'beforeExit'] as const) process.removeAllListeners(event);
  process.on('uncaughtException', (err) => finish({ ok: false, error: toJobError(err) }, 1));
  process.on('unhandledRejection', (reason) => finish({ ok: false, error: toJobError(reason) }, 1));
  // The loop ran dry while perform's promise is still pending: it can never settle.
  process.on('beforeExit', () =>
    finish({ ok: false, error: { name: 'Forkpool::JobNeverSettled', message: 'perform returned a promise that can never settle: nothing is left to run', stack: [] } }, 1),
  );

  const { className, args } = child.command;
  process.title = `forkpool-job ${className}`;
  return await ended(await runJob(await deps.jobs.lookup(className), deps.jobs.hooks, { className, args }, { forked: true }));
}
