// The master's handle on fork mode: starts the zygote process and runs jobs in children it forks.
//
//   const zygote = await startZygote({ jobsDir, logger });      // loads JOBS_DIR once
//   const job = zygote.run('Reports::Daily', [42], { timeoutMs: 300_000, maxRssBytes: 512 << 20 });
//   await job.started;                                            // the child's pid (for kill, logs)
//   const outcome = await job.done;                               // see ForkOutcome
//   await zygote.close();
//
// Any number of jobs may run at once (CONCURRENCY); each is its own child of the zygote.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ZygoteEventSchema } from './events.ts';
import { LineSplitter } from '../line-splitter.ts';
import { GATHER_HEAP_ENV, loadProcessAddon } from '../process-addon.ts';
import { CHANNEL_FD, MASTER_PID_ENV, parseJsonLine, type JobError, type JobResult, type ZygoteEvent } from './zygote-protocol.ts';

/** The part of a pino logger fork mode uses. */
export interface ForkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface StartZygoteOptions {
  /** The jobs folder (JOBS_DIR): every job module in it is loaded once, in the zygote. */
  jobsDir: string;
  /** Receives the zygote's own messages (load errors, invalid reports); silent when absent. */
  logger?: ForkLogger;
  /** How long loading the jobs and beforeFork may take. Default 120 s. */
  startTimeoutMs?: number;
  /** How often a child with a memory cap has its resident memory read from /proc. Default 250 ms. */
  memoryCheckMs?: number;
  /** The zygote's environment (children inherit it). Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Extra Node flags for the zygote, which its children share (e.g. --max-old-space-size). */
  execArgv?: string[];
}

export interface RunOptions {
  /** Kill the child (with its process group) with SIGKILL after this long; the outcome is `killed`, reason
   * `timeout`. */
  timeoutMs?: number;
  /** Kill the child (with its process group) with SIGKILL when its resident memory exceeds this; reason
   * `memory`. Shared copy-on-write pages count, as they would in a process of its own. */
  maxRssBytes?: number;
}

/** How a process ended: exactly one of the two is set. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface OutcomeBase {
  id: string;
  className: string;
  /** The child's pid; null if it was never forked. */
  pid: number | null;
  /** From run() to the child's exit. */
  durationMs: number;
}

/** How a forked job ended. */
export type ForkOutcome =
  /** perform returned or resolved. */
  | (OutcomeBase & { status: 'ok'; exit: ExitStatus; rssBytes: number })
  /** perform threw or rejected (or the class is unknown, or afterFork threw). */
  | (OutcomeBase & { status: 'failed'; error: JobError; exit: ExitStatus; rssBytes: number })
  /** Killed on the master's behalf before it reported a result; `rssBytes` is what went over
   * the cap (reason `memory`), else null. */
  | (OutcomeBase & { status: 'killed'; reason: 'timeout' | 'memory' | 'request'; exit: ExitStatus; rssBytes: number | null })
  /** Ended without a result: killed by a signal from elsewhere, process.exit in the job, a native crash. */
  | (OutcomeBase & { status: 'crashed'; exit: ExitStatus })
  /** Never forked (fork failed, zygote closed), or the zygote died while the child ran. */
  | (OutcomeBase & { status: 'lost'; reason: string });

/** One job running in a forked child. */
export interface ForkedJob {
  readonly id: string;
  readonly className: string;
  /** The child's pid once forked, else null. */
  readonly pid: number | null;
  /** The child's pid once forked, or null when it never will be. Never rejects. */
  readonly started: Promise<number | null>;
  /** How the job ended, once the child has exited. Never rejects. */
  readonly done: Promise<ForkOutcome>;
  /**
   * What perform did, as soon as the child reports it (before its exit, which tears down a copy of the
   * zygote's memory and takes a while); null when the child ends without a report. Never rejects.
   */
  readonly reported: Promise<{ result: JobResult; rssBytes: number } | null>;
  /** Sends `signal` (default SIGKILL) to the child's process group (the child and the processes its job
   * started) now, or as soon as it is forked. A job that has not reported a result by the time it exits is
   * `killed`, reason `request`. */
  kill(signal?: NodeJS.Signals): void;
}

/** A running zygote. */
export interface Zygote {
  readonly pid: number;
  /** Job classes loaded with a perform function. */
  readonly jobs: readonly string[];
  /** Job modules that threw while loading; running one fails with its error. */
  readonly loadErrors: readonly { className: string; error: JobError }[];
  /** Jobs started and not done. */
  readonly running: number;
  /** Forks a child that runs `className.perform(...args)`. `args` must survive JSON. */
  run(className: string, args: unknown[], options?: RunOptions): ForkedJob;
  /** Resolves when the zygote process has exited, whether closed or not. */
  readonly exited: Promise<ExitStatus>;
  /** Stops the zygote; children still running are killed (their jobs end `killed`, reason `request`). */
  close(): Promise<ExitStatus>;
}

/** Why a zygote did not start: the addon, beforeFork, or a timeout. */
export class ZygoteStartError extends Error {
  readonly kind = 'ZygoteStartError';
  override name = 'ZygoteStartError';
}

// --single-threaded: see zygote-main.ts. --use-largepages: Node's code moves to anonymous huge pages,
// which a child inherits mapped instead of faulting the binary in again (measured: ~20% less CPU per job).
// --no-lazy: V8 compiles every function of a module when it loads, in the zygote, once, instead of at its
// first call, which would be in every child: the child's side of fork mode and the job modules' functions
// (measured: ~0.6 ms less CPU per no-op job across zygote and children, ~50 fewer page faults, ~10% more
// jobs/s at CONCURRENCY=2). It costs the zygote's start a compile of all it loads. And
// --no-flush-bytecode, or V8 would drop the bytecode of functions the zygote itself never runs.
const ZYGOTE_FLAGS = ['--single-threaded', '--use-largepages=silent', '--no-lazy', '--no-flush-bytecode'];
const ZYGOTE_MAIN = fileURLToPath(new URL(`./zygote-main${extname(import.meta.filename)}`, import.meta.url));

/**
 * The zygote's environment: process.node goes first in its LD_PRELOAD, to gather V8's heap pages before Node
 * starts (GATHER_HEAP_ENV). Measured: half the zygote's page tables, and ~15% less CPU per no-op job.
 */
function zygoteEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const load = loadProcessAddon();
  // The dynamic loader splits LD_PRELOAD at spaces and colons.
  if (!load.ok || /[\s:]/.test(load.path)) return env;
  const preload = env.LD_PRELOAD ?? '';
  return { ...env, LD_PRELOAD: preload === '' ? load.path : `${load.path}:${preload}`, [GATHER_HEAP_ENV]: preload };
}

function residentBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

class Job implements ForkedJob {
  readonly id: string;
  readonly className: string;
  pid: number | null = null;
  readonly started: Promise<number | null>;
  readonly done: Promise<ForkOutcome>;
  readonly reported: Promise<{ result: JobResult; rssBytes: number } | null>;
  readonly #startedAt = performance.now();
  #resolveReported!: (r: { result: JobResult; rssBytes: number } | null) => void;
  readonly #resolveStarted: (pid: number | null) => void;
  readonly #resolveDone: (outcome: ForkOutcome) => void;
  readonly #timers: NodeJS.Timeout[] = [];
  #pendingSignal: NodeJS.Signals | null = null;
  #killedFor: 'timeout' | 'memory' | 'request' | null = null;
  #rssOverCap: number | null = null;
  #result: { result: JobResult; rssBytes: number } | null = null;
  #finished = false;

  constructor(id: string, className: string, options: RunOptions, memoryCheckMs: number) {
    this.id = id;
    this.className = className;
    let resolveStarted!: (pid: number | null) => void;
    let resolveDone!: (outcome: ForkOutcome) => void;
    this.started = new Promise((resolve) => (resolveStarted = resolve));
    this.reported = new Promise((resolve) => (this.#resolveReported = resolve));
    this.done = new Promise((resolve) => (resolveDone = resolve));
    this.#resolveStarted = resolveStarted;
    this.#resolveDone = resolveDone;
    if (options.timeoutMs !== undefined) {
      this.#timers.push(setTimeout(() => this.#killFor('timeout'), options.timeoutMs));
    }
    const cap = options.maxRssBytes;
    if (cap !== undefined) {
      this.#timers.push(
        setInterval(() => {
          const rss = this.pid === null ? null : residentBytes(this.pid);
          if (rss === null || rss <= cap) return;
          this.#rssOverCap ??= rss;
          this.#killFor('memory');
        }, memoryCheckMs),
      );
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.#killedFor ??= 'request';
    this.#signal(signal);
  }

  #killFor(reason: 'timeout' | 'memory'): void {
    if (this.#result !== null) return;
    this.#killedFor ??= reason;
    this.#signal('SIGKILL');
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#finished || this.#result !== null) return;
    if (this.pid === null) {
      this.#pendingSignal = this.#pendingSignal === 'SIGKILL' ? 'SIGKILL' : signal;
      return;
    }
    try {
      // The child leads a process group of its own (see process.c): the processes its job started go too.
      process.kill(-this.pid, signal);
    } catch {
      // Already exited: the exit report is on its way.
    }
  }

  onForked(pid: number): void {
    this.pid = pid;
    this.#resolveStarted(pid);
    if (this.#pendingSignal !== null) this.#signal(this.#pendingSignal);
  }

  onResult(result: JobResult, rssBytes: number): void {
    if (this.#finished || this.#result !== null) return;
    this.#result = { result, rssBytes };
    this.#resolveReported(this.#result);
  }

  onExit(exit: ExitStatus): void {
    const base = { id: this.id, className: this.className, pid: this.pid, durationMs: performance.now() - this.#startedAt };
    const r = this.#result;
    if (r !== null && r.result.ok) this.#finish({ ...base, status: 'ok', exit, rssBytes: r.rssBytes });
    else if (r !== null && !r.result.ok) this.#finish({ ...base, status: 'failed', error: r.result.error, exit, rssBytes: r.rssBytes });
    else if (this.#killedFor !== null) this.#finish({ ...base, status: 'killed', reason: this.#killedFor, exit, rssBytes: this.#killedFor === 'memory' ? this.#rssOverCap : null });
    else this.#finish({ ...base, status: 'crashed', exit });
  }

  onLost(reason: string): void {
    const base = { id: this.id, className: this.className, pid: this.pid, durationMs: performance.now() - this.#startedAt };
    this.#finish({ ...base, status: 'lost', reason });
  }

  #finish(outcome: ForkOutcome): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#resolveStarted(this.pid);
    this.#resolveReported(this.#result);
    this.#resolveDone(outcome);
  }
}

class RunningZygote implements Zygote {
  readonly pid: number;
  jobs: readonly string[] = [];
  loadErrors: readonly { className: string; error: JobError }[] = [];
  readonly exited: Promise<ExitStatus>;
  readonly #process: ChildProcess;
  readonly #channel: Writable;
  readonly #logger: ForkLogger | undefined;
  readonly #memoryCheckMs: number;
  readonly #jobs = new Map<string, Job>();
  #nextId = 1;
  #closed = false;
  #exit: ExitStatus | null = null;
  #onStartEvent: ((event: ZygoteEvent) => void) | null = null;

  constructor(child: ChildProcess, channel: Readable & Writable, options: StartZygoteOptions) {
    this.pid = child.pid ?? 0;
    this.#process = child;
    this.#channel = channel;
    this.#logger = options.logger;
    this.#memoryCheckMs = options.memoryCheckMs ?? 250;
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': only then has every event the zygote sent been read.
      child.once('close', (code, signal) => {
        this.#exit = { code, signal };
        this.#closed = true;
        const why = signal !== null ? `signal ${signal}` : `code ${String(code)}`;
        for (const job of this.#jobs.values()) job.onLost(`the zygote exited (${why}) while the job ran`);
        this.#jobs.clear();
        resolve(this.#exit);
      });
    });
    child.on('error', (err) => this.#logger?.error({ zygotePid: this.pid, err }, 'zygote process error'));
    const lines = new LineSplitter();
    channel.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) this.#onLine(line);
    });
    // A write after the zygote died fails here; its exit event already accounts for every job.
    channel.on('error', (err) => this.#logger?.warn({ zygotePid: this.pid, err }, 'zygote channel error'));
  }

  get running(): number {
    return this.#jobs.size;
  }

  /** Resolves once jobs are loaded; rejects with what stopped the zygote, once it has exited. */
  waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (message: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#onStartEvent = null;
        this.#process.kill('SIGKILL');
        // Once it is gone, so that a master falling back to spawn mode leaves no zygote behind.
        void this.exited.then(() => reject(new ZygoteStartError(message)));
      };
      const timer = setTimeout(() => fail(`the zygote did not load ${timeoutMs} ms after start`), timeoutMs);
      void this.exited.then((exit) => fail(`the zygote exited before it was ready (code ${String(exit.code)}, signal ${String(exit.signal)})`));
      this.#onStartEvent = (event) => {
        if (event.type === 'fatal') return fail(`${event.error.name}: ${event.error.message}`);
        if (event.type !== 'ready') return;
        settled = true;
        clearTimeout(timer);
        this.#onStartEvent = null;
        this.jobs = event.jobs;
        this.loadErrors = event.loadErrors;
        resolve();
      };
    });
  }

  run(className: string, args: unknown[], options: RunOptions = {}): ForkedJob {
    const id = String(this.#nextId++);
    const job = new Job(id, className, options, this.#memoryCheckMs);
    if (this.#closed) {
      job.onLost('the zygote is closed');
      return job;
    }
    this.#jobs.set(id, job);
    this.#channel.write(JSON.stringify({ type: 'run', id, className, args }) + '\n');
    return job;
  }

  close(): Promise<ExitStatus> {
    if (!this.#closed) {
      this.#closed = true;
      for (const job of this.#jobs.values()) job.kill();
      this.#channel.end();
      const force = setTimeout(() => this.#process.kill('SIGKILL'), 5000);
      void this.exited.then(() => clearTimeout(force));
    }
    return this.exited;
  }

  #onLine(line: string): void {
    const parsed = ZygoteEventSchema.safeParse(parseJsonLine(line));
    if (!parsed.success) {
      this.#logger?.error({ zygotePid: this.pid, line: line.slice(0, 200) }, 'invalid message from the zygote');
      return;
    }
    const event = parsed.data;
    this.#onStartEvent?.(event);
    switch (event.type) {
      case 'ready':
      case 'fatal':
        return;
      case 'log':
        this.#logger?.[event.level]({ zygotePid: this.pid }, event.msg);
        return;
      case 'forked':
        this.#jobs.get(event.id)?.onForked(event.pid);
        return;
      case 'forkFailed':
        this.#jobs.get(event.id)?.onLost(`fork failed: ${event.error}`);
        this.#jobs.delete(event.id);
        return;
      case 'result':
        this.#jobs.get(event.id)?.onResult(event.result, event.rssBytes);
        return;
      case 'exit':
        this.#jobs.get(event.id)?.onExit({ code: event.code, signal: event.signal as NodeJS.Signals | null });
        this.#jobs.delete(event.id);
        return;
    }
  }
}

/**
 * Starts a zygote for `jobsDir` and resolves once its job modules are loaded and beforeFork has
 * run. Rejects with a ZygoteStartError (kind 'ZygoteStartError') when it cannot serve; check
 * loadProcessAddon() first to fall back to spawn mode when fork mode is unavailable.
 */
export async function startZygote(options: StartZygoteOptions): Promise<Zygote> {
  const child = spawn(process.execPath, [...ZYGOTE_FLAGS, ...(options.execArgv ?? []), ZYGOTE_MAIN, options.jobsDir], {
    // fd 3 is the command channel; a session of its own keeps a terminal's ^C away from jobs:
    // the master decides what a signal means for them.
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    detached: true,
    env: { ...zygoteEnv(options.env ?? process.env), [MASTER_PID_ENV]: String(process.pid) },
  });
  if (child.pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new ZygoteStartError(`cannot start the zygote: ${err.message}`);
  }
  const channel = child.stdio[CHANNEL_FD] as (Readable & Writable) | null;
  if (channel === null) throw new ZygoteStartError('the zygote has no command channel');
  const zygote = new RunningZygote(child, channel, options);
  await zygote.waitReady(options.startTimeoutMs ?? 120_000);
  return zygote;
}
