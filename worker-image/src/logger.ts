// The worker's pino logger: JSON lines on stdout, written asynchronously: lines logged while a write is in
// flight go out together in the next one (a busy master logs thousands of jobs a second), and pino flushes
// what is left when the process exits.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid, name: 'forkpool-worker' } }, pino.destination({ dest: 1, sync: false }));
}
