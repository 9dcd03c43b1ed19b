// Dies by a signal of its choosing (SIGKILL unless told otherwise).
export function perform(signal = 'SIGKILL') {
  process.kill(process.pid, signal);
  return new Promise(() => setTimeout(() => {}, 10_000));
}
