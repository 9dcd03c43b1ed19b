// Progress of a long operation on stderr: rewritten in place on a terminal, a line every second otherwise.
import type { Io } from './io.ts';

export interface Progress {
  tick(done: number): void;
  finish(done: number): void;
}

export function progress(io: Io, what: string, total: number, everyMs = 1000): Progress {
  let last = 0;
  const line = (done: number): string => `${what} ${done}/${total} (${total === 0 ? 100 : Math.floor((done * 100) / total)}%)`;
  return {
    tick(done) {
      const now = Date.now();
      if (now - last < (io.stderrIsTTY ? 100 : everyMs)) return;
      last = now;
      if (io.stderrIsTTY) io.status(line(done));
      else io.err(line(done));
    },
    finish(done) {
      if (io.stderrIsTTY) io.status('');
      io.err(line(done));
    },
  };
}
