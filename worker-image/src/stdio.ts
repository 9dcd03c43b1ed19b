// What a job writes to stdout and stderr must all come out before its child exits. Node writes them at once
// to files and terminals, but to a pipe or socket that is full (its reader behind; the master's stdout under
// Kubernetes or a supervisor is one) it queues the rest on the event loop, and an exit — process.exit, _exit,
// a signal — drops whatever is still queued. Node creates the two streams on first use (console's too), so
// watching their getters costs a child nothing while its jobs write nothing.
// Used by the spawn-mode child and by fork mode's children: Node's modules only, nothing imported.

/** The longest a child waits for its output to be written before it exits anyway (a reader may be stuck). */
export const FLUSH_LIMIT_MS = 10_000;

/**
 * Watches process.stdout and process.stderr from now on; the function returned resolves once what the
 * streams opened meanwhile hold has been written, or after FLUSH_LIMIT_MS.
 */
export function watchStdio(): () => Promise<void> {
  const opened: NodeJS.WriteStream[] = [];
  for (const name of ['stdout', 'stderr'] as const) {
    const desc = Object.getOwnPropertyDescriptor(process, name);
    if (!desc?.get) continue;
    const create = desc.get.bind(process) as () => NodeJS.WriteStream;
    let stream: NodeJS.WriteStream | undefined;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: desc.enumerable,
      get() {
        if (!stream) {
          stream = create();
          opened.push(stream);
        }
        return stream;
      },
    });
  }
  return async () => {
    const deadline = Date.now() + FLUSH_LIMIT_MS;
    for (const stream of opened) {
      while (stream.writableLength > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
}
