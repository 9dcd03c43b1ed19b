// Spawn mode: each child is a fresh `node` running child.ts. A spare child is started as soon as the
// current one takes its last job, so a new process is warm (modules loaded) when the next job arrives.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ChildMessage } from './protocol.ts';
import { MEMORY_SAMPLE_MS, type Executor, type JobToRun, type Limits, type RunResult } from './executor.ts';
import type { Outcome } from './outcome.ts';

const childEntry = fileURLToPath(new URL(`./child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** Resident memory of a process in MiB, from /proc (Linux); undefined when it cannot be read. */
export function residentMb(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(pages) ? Math.round((pages * 4096) / 1048576) : undefined;
  } catch {
    return undefined;
  }
}

interface Pending {
  resolve(o: Outcome): void;
}

/** One spawned child and its protocol state. */
class Child {
  readonly proc: ChildProcess;
  readonly spawnedAt = performance.now();
  readonly ready: Promise<number>;
  jobsLeft: number;
  exited = false;
  /** set before the master kills the child, so its exit is reported as what caused it */
  killedFor: Outcome | undefined;
  private pending: Pending | undefined;

  constructor(jobsDir: string, jobsPerChild: number, log: Logger) {
    this.jobsLeft = jobsPerChild;
    this.proc = spawn(process.execPath, [childEntry], {
      env: { ...process.env, FORKPOOL_JOBS_DIR: jobsDir, FORKPOOL_JOBS_PER_CHILD: String(jobsPerChild) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise((resolve, reject) => {
      this.proc.on('message', (raw) => {
        const msg = ChildMessage.safeParse(raw);
        if (!msg.success) {
          log.warn({ pid: this.proc.pid, message: raw }, 'child sent a message the master does not understand');
          return;
        }
        if (msg.data.t === 'ready') {
          // A first message through a fresh channel costs a few ms of cold code on both sides: pay it now,
          // while the child waits, not when its job arrives.
          this.proc.send({ t: 'warm' });
          resolve(performance.now() - this.spawnedAt);
        }
        else this.settle(msg.data.ok ? { kind: 'ok' } : { kind: 'error', error: msg.data.error ?? { name: 'Error', message: 'job failed without an error', stack: [] } });
      });
      this.proc.on('error', (err) => reject(new Error(`cannot start a job child: ${err.message}`)));
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        reject(new Error(`job child pid ${this.proc.pid} exited during start-up (${signal ?? `exit ${code}`})`));
        this.settle(this.killedFor ?? { kind: 'crashed', pid: this.proc.pid ?? 0, signal, code });
      });
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  run(job: JobToRun, limits: Limits): Promise<Outcome> {
    const outcome = new Promise<Outcome>((resolve) => { this.pending = { resolve }; });
    const timer = setTimeout(() => this.kill({ kind: 'timeout', pid: this.pid, limitMs: limits.timeoutMs }), limits.timeoutMs);
    const sampler = limits.maxMemoryMb > 0
      ? setInterval(() => {
          const rss = residentMb(this.pid);
          if (rss !== undefined && rss > limits.maxMemoryMb) this.kill({ kind: 'memory', pid: this.pid, rssMb: rss, limitMb: limits.maxMemoryMb });
        }, MEMORY_SAMPLE_MS)
      : undefined;
    this.proc.send({ t: 'run', className: job.className, args: job.args });
    return outcome.finally(() => {
      clearTimeout(timer);
      clearInterval(sampler);
    });
  }

  kill(reason: Outcome | undefined): void {
    if (this.exited) return;
    this.killedFor ??= reason;
    this.proc.kill('SIGKILL');
  }

  private settle(o: Outcome): void {
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(o);
  }
}

export class SpawnExecutor implements Executor {
  private readonly jobsDir: string;
  private readonly jobsPerChild: number;
  private readonly limits: Limits;
  private readonly log: Logger;
  private readonly onChildStart: (ms: number) => void;
  private warm: Child | undefined;
  private running: Child | undefined;

  constructor(opts: { jobsDir: string; jobsPerChild: number; limits: Limits; log: Logger; onChildStart: (ms: number) => void }) {
    this.jobsDir = opts.jobsDir;
    this.jobsPerChild = opts.jobsPerChild;
    this.limits = opts.limits;
    this.log = opts.log;
    this.onChildStart = opts.onChildStart;
  }

  prepare(): void {
    if (!this.warm || this.warm.exited) this.warm = this.spawnChild();
  }

  async run(job: JobToRun): Promise<RunResult> {
    this.prepare();
    const child = this.warm as Child;
    this.warm = undefined;
    try {
      await child.ready;
    } catch (err) {
      // The child died before it could take the job: a broken environment, reported as a crash of that child.
      this.log.error({ err }, 'job child failed to start');
      return { outcome: { kind: 'crashed', pid: child.pid, signal: child.proc.signalCode, code: child.proc.exitCode }, pid: child.pid, durationMs: 0 };
    }
    child.jobsLeft--;
    this.running = child;
    const started = performance.now();
    const running = child.run(job, this.limits);
    // The spare is spawned after the job is sent: spawning blocks the master for a few ms.
    if (child.jobsLeft === 0) this.warm = this.spawnChild();
    const outcome = await running;
    this.running = undefined;
    if (child.jobsLeft > 0 && !child.exited && outcome.kind !== 'timeout' && outcome.kind !== 'memory') {
      this.warm ??= child;
      if (this.warm !== child) child.kill(undefined);
    } else if (child.jobsLeft > 0) {
      this.prepare();
    }
    return { outcome, pid: child.pid, durationMs: performance.now() - started };
  }

  killRunning(mode: 'interrupt' | 'kill'): void {
    const child = this.running;
    if (!child) return;
    child.kill(mode === 'interrupt' ? { kind: 'interrupted' } : undefined);
  }

  async close(): Promise<void> {
    const children = [this.warm, this.running].filter((c): c is Child => c !== undefined && !c.exited);
    this.warm = undefined;
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      c.proc.once('exit', () => resolve());
      c.kill({ kind: 'interrupted' });
    })));
  }

  private spawnChild(): Child {
    const child = new Child(this.jobsDir, this.jobsPerChild, this.log);
    child.ready.then((ms) => this.onChildStart(ms), () => undefined);
    return child;
  }
}
