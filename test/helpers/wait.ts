// Waiting in tests for something a user would see, with the last value (or error) in the timeout message.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How much of the last value a timeout message shows. */
const SHOWN_CHARS = 2000;

type Outcome = { error: unknown } | { value: unknown };

function describeLast(last: Outcome): string {
  if ('error' in last) return `last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`;
  let shown: string;
  try {
    shown = JSON.stringify(last.value) ?? String(last.value);
  } catch {
    shown = String(last.value);
  }
  return `last value: ${shown.length > SHOWN_CHARS ? `${shown.slice(0, SHOWN_CHARS)}...` : shown}`;
}

/**
 * Calls `check` every `intervalMs` until it returns (or resolves to) a value other than undefined, null
 * and false, and returns that value. A check that throws is called again: an assertion inside it is a
 * condition not met yet. After `timeoutMs` it throws an error naming `what` with the last value or
 * error seen (the error as its cause, so that an assertion's diff is kept). A check written as
 * assertions ends with `return true`.
 */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: Outcome;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${describeLast(last)})`, 'error' in last ? { cause: last.error } : undefined);
    }
    await sleep(intervalMs);
  }
}
