#!/usr/bin/env node
// forkpool-worker: a worker master configured by the environment (see docs/worker.md).
import { readConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { Master } from './master.ts';

let config;
try {
  config = readConfig();
} catch (err) {
  console.error(`forkpool-worker: ${(err as Error).message}`);
  process.exit(2);
}
const log = createLogger(config.logLevel);
process.title = 'forkpool-worker master';
const master = new Master(config, log);

const stop = (signal: string): void => {
  log.info({ signal }, 'stop signal');
  master.shutdown().then(() => process.exit(0), (err: Error) => {
    log.error({ err }, 'shutdown failed');
    process.exit(1);
  });
};
for (const s of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(s, () => stop(s));
process.on('SIGUSR1', () => master.killChildren());
process.on('SIGUSR2', () => master.setPaused(true));
process.on('SIGCONT', () => master.setPaused(false));

try {
  await master.start();
} catch (err) {
  log.fatal({ err }, 'worker could not start');
  process.exit(1);
}
