// ISOLATION=fork for the master: one zygote shared by every slot, and an Executor per slot that
// runs each job in a child forked from it. Outcomes are the ones spawn mode reports, so failure
// records, retries and signals behave the same in both modes.
//
//   const forks = await ForkExecutors.start({ jobsDir, limits, log });   // throws: fall back to spawn
//   const exec = forks.executor();                                       // one per slot
import type { Logger } from 'pino';
import { MEMORY_SAMPLE_MS, type Executor, type JobToRun, type Limits, type RunResult } from '../executor.ts';
import type { Outcome } from '../outcome.ts';
import { loadProcessAddon } from '../process-addon.ts';
import { startZygote, ZygoteStartError, type ForkedJob, type ForkOutcome, type Zygote } from './zygote.ts';
import type { JobError } from './zygote-protocol.ts';

const MiB = 1024 * 1024;
const RESTART_DELAY_MS = 5000;

export interface ForkExecutorsOptions {
  jobsDir: string;
  limits: Limits;
  log: Logger;
  /** Called with each job's pickup time: from run() until its child exists, ms. */
  onChildStart?: (ms: number) => void;
}

/** The zygote behind every fork-mode slot. It is restarted when it dies. */
export class ForkExecutors {
  readonly #options: ForkExecutorsOptions;
  #zygote: Promise<Zygote>;
  #open = 0;
  #closing = false;

  private constructor(options: ForkExecutorsOptions, first: Zygote) {
    this.#options = options;
    this.#zygote = Promise.resolve(first);
    this.#watch(first);
  }

  /**
   * Starts the zygote. Rejects with a ZygoteStartError saying why fork mode cannot run here (addon
   * not built, beforeFork threw): the master then logs it and uses spawn mode.
   */
  static async start(options: ForkExecutorsOptions): Promise<ForkExecutors> {
    const addon = loadProcessAddon();
    if (!addon.ok) throw new ZygoteStartError(`fork mode is unavailable: ${addon.reason}`);
    const zygote = await startZygote({ jobsDir: options.jobsDir, logger: options.log, memoryCheckMs: MEMORY_SAMPLE_MS });
    options.log.info({ zygotePid: zygote.pid, jobs: zygote.jobs.length, addon: addon.path }, 'fork mode: zygote ready');
    for (const { className, error } of zygote.loadErrors) options.log.warn({ className, error: error.message }, 'job module failed to load');
    return new ForkExecutors(options, zygote);
  }

  /** An executor for one slot; the zygote is closed when every executor made here is closed. */
  executor(): Executor {
    this.#open++;
    return new ForkExecutor(this.#options, () => this.#zygote, async () => {
      if (--this.#open > 0) return;
      this.#closing = true;
      await this.#zygote.then((zygote) => zygote.close(), () => undefined);
    });
  }

  #watch(zygote: Zygote): void {
    void zygote.exited.then((exit) => {
      if (this.#closing) return;
      this.#options.log.error({ zygotePid: zygote.pid, ...exit }, 'fork mode: the zygote died; starting a new one');
      this.#restart();
    });
  }

  // Jobs that arrive meanwhile wait for the new zygote, or fail as crashed (and are retried) if it
  // cannot start; then it is tried again a little later.
  #restart(): void {
    this.#zygote = startZygote({ jobsDir: this.#options.jobsDir, logger: this.#options.log, memoryCheckMs: MEMORY_SAMPLE_MS });
    this.#zygote.then(
      (next) => this.#watch(next),
      (err: unknown) => {
        this.#options.log.error({ err }, `fork mode: the zygote cannot restart; trying again in ${RESTART_DELAY_MS} ms`);
        setTimeout(() => {
          if (!this.#closing) this.#restart();
        }, RESTART_DELAY_MS).unref();
      },
    );
  }
}

class ForkExecutor implements Executor {
  readonly depth = 1;
  readonly #options: ForkExecutorsOptions;
  readonly #zygote: () => Promise<Zygote>;
  readonly #onClose: () => Promise<void>;
  #running: ForkedJob | undefined;
  #killMode: 'interrupt' | 'kill' | undefined;
  /** the SIGKILL that follows an interrupt's SIGTERM */
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(options: ForkExecutorsOptions, zygote: () => Promise<Zygote>, onClose: () => Promise<void>) {
    this.#options = options;
    this.#zygote = zygote;
    this.#onClose = onClose;
  }

  /** Nothing to warm: the zygote is the warm child of every job. */
  prepare(): void {}

  async run(job: JobToRun): Promise<RunResult> {
    const { limits } = this.#options;
    let zygote: Zygote;
    try {
      zygote = await this.#zygote();
    } catch (err) {
      this.#options.log.error({ err }, 'fork mode: no zygote to run the job');
      return { outcome: { kind: 'crashed', pid: 0, signal: null, code: null }, pid: undefined, durationMs: 0 };
    }
    this.#killMode = undefined;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    const started = performance.now();
    const forked = zygote.run(job.className, [...job.args], {
      timeoutMs: limits.timeoutMs,
      ...(limits.maxMemoryMb > 0 ? { maxRssBytes: limits.maxMemoryMb * MiB } : {}),
    });
    this.#running = forked;
    void forked.started.then((pid) => {
      if (pid !== null) this.#options.onChildStart?.(performance.now() - started);
    });
    // A job is over once its child reports: the child's exit (tearing down its copy of the zygote) goes on
    // in the background while the slot moves on. Without a report, the exit says how it ended.
    const reported = await forked.reported;
    if (reported !== null) {
      this.#ran();
      const { result } = reported;
      return { outcome: result.ok ? { kind: 'ok' } : this.#failed(result.error), pid: forked.pid ?? undefined, durationMs: performance.now() - started };
    }
    const outcome = await forked.done;
    this.#ran();
    return { outcome: this.#toOutcome(outcome), pid: outcome.pid ?? undefined, durationMs: outcome.durationMs };
  }

  killRunning(mode: 'interrupt' | 'kill'): boolean {
    const running = this.#running;
    if (running === undefined) return false;
    this.#killMode ??= mode;
    const graceMs = this.#options.limits.termGraceMs;
    if (mode === 'kill' || graceMs === 0) {
      running.kill('SIGKILL');
    } else if (this.#graceTimer === undefined) {
      // SIGTERM to the child's process group, so that the job can clean up; SIGKILL once the grace is over.
      running.kill('SIGTERM');
      this.#graceTimer = setTimeout(() => running.kill('SIGKILL'), graceMs);
    }
    return true;
  }

  async close(): Promise<void> {
    const running = this.#running;
    if (running !== undefined) {
      this.#killMode ??= 'interrupt';
      running.kill('SIGKILL');
      await running.done;
    }
    await this.#onClose();
  }

  /** The running job has ended. */
  #ran(): void {
    this.#running = undefined;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  /** A job that fails once it was told to stop failed of the stop: it is handed back, not recorded. */
  #failed(error: JobError): Outcome {
    return this.#killMode === 'interrupt' ? { kind: 'interrupted' } : { kind: 'error', error };
  }

  #toOutcome(o: ForkOutcome): Outcome {
    const { limits } = this.#options;
    const pid = o.pid ?? 0;
    if (this.#killMode === 'interrupt' && o.status !== 'ok') return { kind: 'interrupted' };
    switch (o.status) {
      case 'ok':
        return { kind: 'ok' };
      case 'failed':
        return { kind: 'error', error: o.error };
      case 'killed':
        if (o.reason === 'timeout') return { kind: 'timeout', pid, limitMs: limits.timeoutMs };
        // Rounded up: the zygote compares bytes, so an RSS a fraction of a MiB over the cap reads as over it.
        if (o.reason === 'memory') return { kind: 'memory', pid, rssMb: Math.ceil((o.rssBytes ?? 0) / MiB), limitMb: limits.maxMemoryMb };
        return { kind: 'crashed', pid, signal: o.exit.signal, code: o.exit.code };
      case 'crashed':
        return { kind: 'crashed', pid, signal: o.exit.signal, code: o.exit.code };
      case 'lost':
        this.#options.log.error({ childPid: o.pid, reason: o.reason }, 'fork mode: job lost');
        return { kind: 'crashed', pid, signal: null, code: null };
    }
  }
}
