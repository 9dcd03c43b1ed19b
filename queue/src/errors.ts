// Errors are values with a kind a caller can branch on and a message a user can act on.

export type ForkpoolErrorKind = 'invalid-argument' | 'not-found' | 'malformed' | 'unavailable';

/** An error from the forkpool client with a machine-readable `kind`. */
export class ForkpoolError extends Error {
  readonly kind: ForkpoolErrorKind;

  constructor(kind: ForkpoolErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ForkpoolError';
    this.kind = kind;
  }
}
