// The worker's pino logger: JSON lines on stdout.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid, name: 'forkpool-worker' } });
}
