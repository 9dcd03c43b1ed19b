// Starts several servers at once for a test. When one fails to start, the others that did are stopped
// before the error is thrown: a redis-server or a control plane left running keeps the test file's process
// alive, and the run hangs until its timeout instead of failing with the reason.

interface Stoppable {
  stop(): Promise<unknown>;
}

/** Awaits every start; on a failure, stops the started ones and throws the first failure. */
export async function startTogether<T extends readonly Stoppable[]>(...starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<Stoppable>).value) as unknown as T;
  await Promise.allSettled(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])));
  throw failed.reason;
}
