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
let master: Master;
try {
  master = new Master(config, log);
} catch (err) {
  // A TLS file that cannot be read: the connections cannot even be described.
  log.fatal({ err }, 'worker could not start');
  process.exit(1);
}

let stopping = false;
const stop = (): void => {
  stopping = true;
  master.shutdown().then(() => process.exit(0), (err: Error) => {
    log.error({ err }, 'shutdown failed');
    process.exit(1);
  });
};
for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) {
  process.on(signal, () => {
    log.info({ signal }, 'stop signal');
    stop();
  });
}
// Started with an IPC channel (`forkpool up` does so), the channel closing means the process that supervises
// this worker is gone, even SIGKILLed: rather than run on unsupervised, stop as on a first TERM (running jobs
// finish within SHUTDOWN_TIMEOUT_SECONDS, then are handed back); a stop under way goes on as it was. Nothing
// is sent on the channel.
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => {
    log.warn('the process that started this worker is gone: stopping');
    if (!stopping) stop();
  });
}
process.on('SIGUSR1', () => master.killChildren());
process.on('SIGUSR2', () => master.setPaused(true));
process.on('SIGCONT', () => master.setPaused(false));

try {
  await master.start();
} catch (err) {
  log.fatal({ err }, 'worker could not start');
  process.exit(1);
}
