// Errors are values with a kind a caller can branch on and a message a user can act on.

export type ForkpoolErrorKind = 'invalid-argument' | 'not-found' | 'malformed' | 'unavailable' | 'payload-too-large';

/** An error from the forkpool client with a machine-readable `kind`. */
export class ForkpoolError extends Error {
  readonly kind: ForkpoolErrorKind;

  constructor(kind: ForkpoolErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ForkpoolError';
    this.kind = kind;
  }
}

/** A payload over the client's `maxPayloadBytes`: nothing was written. */
export class PayloadTooLargeError extends ForkpoolError {
  /** the payload's size, in bytes of UTF-8 */
  readonly bytes: number;
  /** the limit it is over */
  readonly limit: number;

  constructor(what: string, bytes: number, limit: number) {
    super('payload-too-large', `${what}: the payload is ${bytes} bytes, over the limit of ${limit} bytes. Pass a reference to the data `
      + '(a key, a URL) rather than the data, or raise the limit: createClient({ maxPayloadBytes }) here, and MAX_PAYLOAD_BYTES on the '
      + 'workers (in a JobPool, the pod template\'s env), which fail larger jobs as Forkpool::PayloadTooLarge.');
    this.name = 'PayloadTooLargeError';
    this.bytes = bytes;
    this.limit = limit;
  }
}

/**
 * Thrown by a job's `beforePerform` hook (or the worker's global `beforeJob`) to skip the job without failing
 * it, as Resque's `Resque::Job::DontPerform`. The worker matches it by name: any error class named
 * `DontPerform` does the same, so a job need not import this package for it.
 */
export class DontPerform extends Error {
  override name = 'DontPerform';
}
