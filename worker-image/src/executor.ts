// Running one job at a time in a child process, with the limits every isolation mode shares.
import type { Outcome } from './outcome.ts';

export interface JobToRun {
  readonly className: string;
  readonly args: readonly unknown[];
}

export interface RunResult {
  readonly outcome: Outcome;
  /** pid of the child that ran the job */
  readonly pid: number | undefined;
  /** how long the job ran in its child, ms */
  readonly durationMs: number;
}

/** One slot's way of running jobs in child processes (spawn, or fork from a zygote). */
export interface Executor {
  /**
   * How many jobs run() may be given at once. They run one after another, in the order given, and end in
   * that order; more than one lets a child start the next job without waiting for the master.
   */
  readonly depth: number;
  /** Starts a warm child ahead of the first job, so its start-up is not on that job's path. */
  prepare(): void;
  /** Runs one job to its end under the timeout and memory cap (after the ones given before it). */
  run(job: JobToRun): Promise<RunResult>;
  /**
   * Stops the child running a job, if any, with the processes its job started. `interrupt`: SIGTERM, so that
   * the job can clean up, then SIGKILL after `Limits.termGraceMs`; the run ends as `interrupted` (the master
   * hands the job back) unless the job reports success first. `kill`: SIGKILL at once, and the run ends as
   * a crash, as Resque's USR1 does. Returns whether a child was running a job.
   */
  killRunning(mode: 'interrupt' | 'kill'): boolean;
  /** Kills every child this executor holds. */
  close(): Promise<void>;
}

export interface Limits {
  readonly timeoutMs: number;
  /** 0: no cap */
  readonly maxMemoryMb: number;
  /** how long an interrupted child has between SIGTERM and SIGKILL; 0: SIGKILL at once */
  readonly termGraceMs: number;
}

/** How often a running child's resident memory is sampled against the cap. */
export const MEMORY_SAMPLE_MS = 100;
