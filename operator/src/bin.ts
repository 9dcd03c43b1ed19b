#!/usr/bin/env node
// forkpool-operator: runs in the cluster (service account) or outside it (KUBECONFIG), configured by environment.
import { pino } from 'pino';
import { loadConfig } from './config.ts';
import { delegatedAccess, loadClusterAccess, type ClusterAccess } from './kube-client.ts';
import { startOperator } from './operator.ts';

const loaded = loadConfig();
if (!loaded.ok) {
  console.error(`forkpool-operator: bad configuration: ${loaded.error}`);
  process.exit(2);
}
const { config } = loaded;
const log = pino({ level: config.logLevel, base: { component: 'forkpool-operator' } });
let kubeConfig: ClusterAccess;
try {
  const loaded = loadClusterAccess();
  if (loaded.kind === 'access') kubeConfig = loaded.access;
  else {
    log.info({ source: loaded.source }, `${loaded.why}: authenticating through @kubernetes/client-node`);
    kubeConfig = await delegatedAccess();
  }
} catch (err) {
  console.error(`forkpool-operator: cannot load the Kubernetes configuration (KUBECONFIG=${process.env['KUBECONFIG'] ?? ''}): ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}

const operator = await startOperator({
  config,
  kubeConfig,
  log,
  // A replica that lost the lease may hold stale state: exit and let Kubernetes start it afresh.
  onLostLeadership: () => {
    log.fatal('lost leadership; exiting');
    process.exit(1);
  },
}).catch((err: unknown) => {
  console.error(`forkpool-operator: cannot start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

let signals = 0;
const shutdown = (signal: string): void => {
  signals += 1;
  if (signals > 1) process.exit(1);
  log.info({ signal }, 'shutting down');
  operator.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err: String(err) }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
