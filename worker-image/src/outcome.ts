// How a job ended, and the failure record each ending becomes (Resque's exception names where Resque has one).
import { constants } from 'node:os';
import type { JobError } from './child-protocol.ts';

export type Outcome =
  | { kind: 'ok' }
  /** the job threw, or could not be loaded */
  | { kind: 'error'; error: JobError }
  | { kind: 'timeout'; pid: number; limitMs: number }
  | { kind: 'memory'; pid: number; rssMb: number; limitMb: number }
  /** the child died without reporting: killed by a signal or exited */
  | { kind: 'crashed'; pid: number; signal: NodeJS.Signals | null; code: number | null }
  /** the master was told to stop now: the job goes back to its queue, it did not fail */
  | { kind: 'interrupted' };

/** Whether a retry can help: a bad payload or a missing class fails the same way every time. */
export function isRetryable(o: Outcome): boolean {
  if (o.kind === 'error') return !o.error.name.startsWith('Forkpool::');
  return o.kind === 'timeout' || o.kind === 'memory' || o.kind === 'crashed';
}

const signalNumber = (s: NodeJS.Signals): number => constants.signals[s];
const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** A signal's name from its number (as waitpid gives it), or `SIG<n>` for one this platform does not name. */
export function signalName(n: number): NodeJS.Signals {
  return signalNames.get(n) ?? (`SIG${n}` as NodeJS.Signals);
}

/** The exception, error and backtrace of the failure record for an outcome that is a failure. */
export function describeFailure(o: Exclude<Outcome, { kind: 'ok' } | { kind: 'interrupted' }>): { exception: string; error: string; backtrace: string[] } {
  switch (o.kind) {
    case 'error':
      return { exception: o.error.name, error: o.error.message, backtrace: o.error.stack };
    case 'timeout':
      return { exception: 'Forkpool::JobTimeout', error: `job ran longer than ${o.limitMs / 1000} s (JOB_TIMEOUT_SECONDS); child pid ${o.pid} was killed`, backtrace: [] };
    case 'memory':
      return { exception: 'Forkpool::MemoryLimitExceeded', error: `child pid ${o.pid} used ${o.rssMb} MiB, over the ${o.limitMb} MiB cap (MAX_CHILD_MEMORY_MB); it was killed`, backtrace: [] };
    case 'crashed':
      return o.signal
        ? { exception: 'Resque::DirtyExit', error: `Child process received unhandled signal pid ${o.pid} ${o.signal} (signal ${signalNumber(o.signal)})`, backtrace: [] }
        : { exception: 'Resque::DirtyExit', error: `Child process exited before finishing the job: pid ${o.pid} exit ${o.code ?? '?'}`, backtrace: [] };
  }
}
