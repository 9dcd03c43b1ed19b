// What can go wrong in a CLI command, as values whose kind is the process's exit code.

/** Exit codes of `forkpool`, documented in docs/cli.md and in `forkpool --help`. */
export const EXIT = {
  ok: 0,
  /** the command ran and something failed (a job could not be retried, a worker could not start, ...) */
  runtime: 1,
  /** bad flags, arguments or JobPool file: nothing was done */
  usage: 2,
  /** Redis could not be reached: nothing was done */
  redisUnreachable: 3,
  /** the thing named does not exist (e.g. no failure at that index) */
  notFound: 4,
} as const;

export type CliErrorKind = 'runtime' | 'usage' | 'redisUnreachable' | 'notFound';

/** An error a user can act on; its kind decides the exit code. */
export class CliError extends Error {
  readonly kind: CliErrorKind;
  constructor(kind: CliErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.kind = kind;
  }

  get exitCode(): number {
    return EXIT[this.kind];
  }
}

export const usageError = (message: string): CliError => new CliError('usage', message);
