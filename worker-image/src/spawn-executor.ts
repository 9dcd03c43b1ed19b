// Spawn mode: each child is a fresh `node` running spawn-child.ts. A spare child is started as soon as the
// current one is given its last job, so a new process is warm (modules loaded) when the next job arrives.
// With JOBS_PER_CHILD > 1 the executor accepts up to PIPELINE_DEPTH jobs at once and sends them ahead to
// the child, which runs them one after another: under a backlog a child goes from one job to the next
// without waiting for the master to hear about the last one.
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { parseJsonLine } from './fork/zygote-protocol.ts';
import { LineSplitter } from './line-splitter.ts';
import { ChildMessage } from './child-protocol.ts';
import { MEMORY_SAMPLE_MS, type Executor, type JobToRun, type Limits, type RunResult } from './executor.ts';
import type { Outcome } from './outcome.ts';
import type { Ended, Launched, Launcher } from './launch.ts';
import { isClassName } from './jobs.ts';

// The build's CommonJS child when there is one (see scripts/build.ts), else spawn-child.ts/.js beside this file.
const childEntry = [new URL('./spawn-child.cjs', import.meta.url), new URL(`./spawn-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url)]
  .map((u) => fileURLToPath(u)).find((p) => existsSync(p)) as string;

/** Jobs a reused child may be sent at once: the running one and those it starts next. */
export const PIPELINE_DEPTH = 10;
/**
 * A reused child's successor is spawned when it has this many jobs left, so that under a backlog the new
 * child is warm (a spawn takes tens of ms) when the old one ends; with JOBS_PER_CHILD=1, with the job.
 */
export const SPARE_LEAD_JOBS = 100;
/**
 * A new child loads the modules of the classes its slot ran last, up to this many, rather than every module
 * in JOBS_DIR: with JOBS_PER_CHILD=1 every job pays for what its child loads, and one job needs one module. A
 * job of another class loads its module when it comes; a slot's first child, with nothing run yet, loads all.
 */
export const PRELOAD_CLASSES = 8;
/** How long after a child's exit its results pipe may take to end (a process it started may hold it). */
const EXIT_READ_GRACE_MS = 200;

/** Resident memory of a process in MiB, from /proc (Linux); undefined when it cannot be read. */
export function residentMb(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(pages) ? Math.round((pages * 4096) / 1048576) : undefined;
  } catch {
    return undefined;
  }
}

/** A job given to the executor, until it ends. */
interface Assigned {
  readonly job: JobToRun;
  readonly resolve: (r: RunResult) => void;
}

interface ChildEvents {
  /** a job sent to the child ended (the child carries on with the next one it was sent) */
  settled(): void;
  /** the child is gone: `unstarted` are the jobs it was sent but never began */
  exited(child: Child, unstarted: Assigned[]): void;
}

/** One spawned child: the jobs sent to it, run in order, the first one under the timeout and memory cap. */
class Child {
  readonly #proc: Launched;
  readonly #jobs: Writable;
  /** how it ended, once it has */
  end: Ended | undefined;
  readonly spawnedAt = performance.now();
  readonly ready: Promise<number>;
  isReady = false;
  /** jobs it may still be sent */
  jobsLeft: number;
  exited = false;
  /** set before the master kills the child, so the running job's end is reported as what caused it */
  killedFor: Outcome | undefined;
  /** the SIGKILL that follows a SIGTERM (see terminate) */
  #graceTimer: NodeJS.Timeout | undefined;
  /** sent and not ended, in the order the child runs them: the first is running */
  readonly sent: Assigned[] = [];
  readonly #limits: Limits;
  readonly #events: ChildEvents;
  #headStartedAt = 0;
  #closed: () => void = () => undefined;
  /** resolves once the child is gone and its end accounted for */
  readonly gone = new Promise<void>((resolve) => { this.#closed = resolve; });
  #timer: NodeJS.Timeout | undefined;
  #sampler: NodeJS.Timeout | undefined;

  constructor(launch: Launcher, env: NodeJS.ProcessEnv, jobsPerChild: number, limits: Limits, log: Logger, events: ChildEvents) {
    this.jobsLeft = jobsPerChild;
    this.#limits = limits;
    this.#events = events;
    // fd 3: jobs to the child, fd 4: its results (see spawn-child.ts)
    this.#proc = launch(process.execPath, [childEntry], env);
    this.#jobs = this.#proc.jobs;
    // A write to a child that just died fails; its exit is what reports it.
    this.#jobs.on('error', () => undefined);
    const { results } = this.#proc;
    this.ready = new Promise((resolve, reject) => {
      const lines = new LineSplitter();
      results.on('data', (chunk: Buffer) => {
        for (const line of lines.push(chunk)) {
          const msg = ChildMessage.safeParse(parseJsonLine(line));
          if (!msg.success) {
            log.warn({ childPid: this.#proc.pid, message: line.slice(0, 200) }, 'child sent a message the master does not understand');
          } else if (msg.data.t === 'ready') {
            this.isReady = true;
            resolve(performance.now() - this.spawnedAt);
          } else if (msg.data.ok) {
            this.#endHead({ kind: 'ok' });
            this.#events.settled();
          } else {
            // A job that fails once it was told to stop failed of the stop: it is handed back, not recorded.
            const error = msg.data.error ?? { name: 'Error', message: 'job failed without an error', stack: [] };
            this.#endHead(this.killedFor?.kind === 'interrupted' ? this.killedFor : { kind: 'error', error });
            this.#events.settled();
          }
        }
      });
      // Settled once what the child wrote has been read: at the end of its results pipe, or a moment after
      // its exit if a process it started still holds the pipe open.
      let ended = false;
      results.once('end', () => { ended = true; });
      void this.#proc.ended.then((end) => {
        this.end = end;
        if (end.error) {
          reject(new Error(`cannot start a job child: ${end.error.message}`));
          return gone(end); // never started: its pipes never end
        }
        if (ended) return gone(end);
        const timer = setTimeout(() => gone(end), EXIT_READ_GRACE_MS);
        results.once('end', () => {
          clearTimeout(timer);
          gone(end);
        });
      });
      const gone = ({ code, signal }: Ended): void => {
        if (this.exited) return;
        this.exited = true;
        clearTimeout(this.#graceTimer);
        reject(new Error(`job child pid ${this.#proc.pid} exited during start-up (${signal ?? `exit ${code}`})`));
        if (this.sent.length > 0) this.#endHead(this.killedFor ?? { kind: 'crashed', pid: this.pid, signal, code });
        this.#events.exited(this, this.sent.splice(0));
        this.#closed();
      };
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number {
    return this.#proc.pid ?? 0;
  }

  send(a: Assigned): void {
    this.jobsLeft--;
    this.sent.push(a);
    this.#jobs.write(JSON.stringify({ t: 'run', className: a.job.className, args: a.job.args }) + '\n');
    if (this.sent.length === 1) this.#startHead();
  }

  kill(reason: Outcome | undefined): void {
    if (this.exited) return;
    this.killedFor ??= reason;
    this.#proc.kill();
  }

  /**
   * Stops the child for the worker's shutdown: SIGTERM to its process group, so that its job can clean up, then
   * SIGKILL `graceMs` later if it is still there (at once when 0). Its jobs end as interrupted.
   */
  terminate(graceMs: number): void {
    if (this.exited || this.#graceTimer !== undefined) return;
    this.killedFor ??= { kind: 'interrupted' };
    if (graceMs === 0) {
      this.#proc.kill();
      return;
    }
    this.#proc.kill('SIGTERM');
    this.#graceTimer = setTimeout(() => this.kill(undefined), graceMs);
  }

  /** The first job sent is running: its limits start now (for one sent ahead, when the one before ended). */
  #startHead(): void {
    this.#headStartedAt = performance.now();
    const { timeoutMs, maxMemoryMb } = this.#limits;
    this.#timer = setTimeout(() => this.kill({ kind: 'timeout', pid: this.pid, limitMs: timeoutMs }), timeoutMs);
    if (maxMemoryMb > 0) {
      this.#sampler = setInterval(() => {
        const rss = residentMb(this.pid);
        if (rss !== undefined && rss > maxMemoryMb) this.kill({ kind: 'memory', pid: this.pid, rssMb: rss, limitMb: maxMemoryMb });
      }, MEMORY_SAMPLE_MS);
    }
  }

  #endHead(outcome: Outcome): void {
    clearTimeout(this.#timer);
    clearInterval(this.#sampler);
    const head = this.sent.shift();
    head?.resolve({ outcome, pid: this.pid, durationMs: performance.now() - this.#headStartedAt });
    if (this.sent.length > 0 && !this.exited) this.#startHead();
  }
}

const interrupted: RunResult = { outcome: { kind: 'interrupted' }, pid: undefined, durationMs: 0 };

export class SpawnExecutor implements Executor {
  readonly depth: number;
  readonly #jobsPerChild: number;
  /** the children's environment, built once (reading process.env costs ~50 us per spawn) */
  readonly #childEnv: NodeJS.ProcessEnv;
  /** the classes of the jobs run last, the latest last (see PRELOAD_CLASSES) */
  readonly #recentClasses: string[] = [];
  /** childEnv with FORKPOOL_PRELOAD for the recent classes, kept while they are the same */
  #preloadEnv: { classes: string; env: NodeJS.ProcessEnv } | undefined;
  readonly #launch: Launcher;
  readonly #limits: Limits;
  readonly #log: Logger;
  readonly #onChildStart: (ms: number) => void;
  readonly #events: ChildEvents;
  /** the child jobs are sent to, while it has some left or runs some */
  #active: Child | undefined;
  /** a started child that has not been sent a job yet */
  #warm: Child | undefined;
  /** jobs waiting for a child: the active one is not ready yet, or will exit after its last job */
  readonly #backlog: Assigned[] = [];
  #waitingFor: Child | undefined;

  constructor(opts: { jobsDir: string; jobsPerChild: number; limits: Limits; log: Logger; onChildStart: (ms: number) => void; launch: Launcher }) {
    this.#jobsPerChild = opts.jobsPerChild;
    this.#childEnv = { ...process.env, FORKPOOL_JOBS_DIR: opts.jobsDir, FORKPOOL_JOBS_PER_CHILD: String(opts.jobsPerChild), FORKPOOL_PRELOAD: undefined };
    this.#launch = opts.launch;
    this.depth = opts.jobsPerChild > 1 ? PIPELINE_DEPTH : 1;
    this.#limits = opts.limits;
    this.#log = opts.log;
    this.#onChildStart = opts.onChildStart;
    this.#events = { settled: () => this.#pump(), exited: (child, unstarted) => this.#childExited(child, unstarted) };
  }

  prepare(): void {
    if (!this.#warm || this.#warm.exited) this.#warm = this.#spawnChild();
  }

  run(job: JobToRun): Promise<RunResult> {
    this.#ranClass(job.className);
    return new Promise((resolve) => {
      this.#backlog.push({ job, resolve });
      this.#pump();
    });
  }

  killRunning(mode: 'interrupt' | 'kill'): boolean {
    const active = this.#active;
    const running = active !== undefined && !active.exited && active.sent.length > 0;
    if (mode === 'kill') {
      active?.kill(undefined);
      return running;
    }
    for (const a of this.#backlog.splice(0)) a.resolve(interrupted);
    active?.terminate(this.#limits.termGraceMs);
    return running;
  }

  async close(): Promise<void> {
    for (const a of this.#backlog.splice(0)) a.resolve(interrupted);
    const children = [this.#warm, this.#active].filter((c): c is Child => c !== undefined && !c.exited);
    this.#warm = undefined;
    await Promise.all(children.map((c) => {
      c.kill({ kind: 'interrupted' });
      return c.gone;
    }));
  }

  /** Sends waiting jobs to the active child while it can take them; moves on to the spare when it cannot. */
  #pump(): void {
    while (this.#backlog.length > 0) {
      let child = this.#active;
      if (child && (child.exited || child.jobsLeft === 0)) {
        // It exits after its last job; the next job waits for that rather than run beside it.
        if (!child.exited && child.sent.length > 0) return;
        child = this.#active = undefined;
      }
      if (!child) {
        this.prepare();
        child = this.#active = this.#warm as Child;
        this.#warm = undefined;
      }
      if (!child.isReady) {
        if (this.#waitingFor !== child) {
          this.#waitingFor = child;
          child.ready.then(() => this.#pump(), () => undefined);
        }
        return;
      }
      child.send(this.#backlog.shift() as Assigned);
      // The spare is spawned after the job is sent: spawning blocks the master for a few ms.
      if (child.jobsLeft < SPARE_LEAD_JOBS) this.prepare();
    }
  }

  #childExited(child: Child, unstarted: Assigned[]): void {
    if (this.#warm === child) this.#warm = undefined;
    if (this.#active === child) {
      this.#active = undefined;
      if (!child.isReady && this.#backlog.length > 0) {
        // It died before it could take a job: a broken environment, reported as a crash of that child.
        const { code = null, signal = null, error } = child.end ?? {};
        this.#log.error({ childPid: child.pid, code, signal, err: error?.message }, 'job child failed to start');
        (this.#backlog.shift() as Assigned).resolve({
          outcome: { kind: 'crashed', pid: child.pid, signal, code }, pid: child.pid, durationMs: 0,
        });
      }
    }
    // Jobs it was sent but never began run on the next child, unless the worker is stopping now.
    if (child.killedFor?.kind === 'interrupted') for (const a of unstarted) a.resolve(interrupted);
    else this.#backlog.unshift(...unstarted);
    this.#pump();
  }

  /** Notes a job's class; when the set of recent classes changes, so does the environment of new children. */
  #ranClass(className: string): void {
    const recent = this.#recentClasses;
    if (recent.at(-1) === className || !isClassName(className)) return;
    const i = recent.indexOf(className);
    if (i >= 0) recent.splice(i, 1);
    recent.push(className);
    if (recent.length > PRELOAD_CLASSES) recent.shift();
    const classes = [...recent].sort().join(',');
    if (this.#preloadEnv?.classes !== classes) this.#preloadEnv = { classes, env: { ...this.#childEnv, FORKPOOL_PRELOAD: classes } };
  }

  /** The environment of a new child: which modules it loads first (see PRELOAD_CLASSES). */
  #envForChild(): NodeJS.ProcessEnv {
    return this.#preloadEnv?.env ?? this.#childEnv;
  }

  #spawnChild(): Child {
    const child = new Child(this.#launch, this.#envForChild(), this.#jobsPerChild, this.#limits, this.#log, this.#events);
    child.ready.then((ms) => this.#onChildStart(ms), () => undefined);
    return child;
  }
}
