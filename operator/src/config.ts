// The operator's settings, from the environment; a bad value stops start-up with a message naming the variable.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

const envSchema = z.object({
  WATCH_NAMESPACE: z.string().default('').describe('Namespace whose JobPools to manage; empty for all namespaces.'),
  LEADER_ELECTION: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true')
    .describe('Elect a leader through a Lease so several replicas can run; only the leader acts.'),
  LEADER_ELECTION_NAMESPACE: z.string().optional().describe('Namespace of the Lease; default: the pod\'s own namespace.'),
  LEADER_ELECTION_ID: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).default('forkpool-operator').describe('Name of the Lease.'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080).describe('Port of /healthz, /readyz and /metrics.'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
  POD_NAME: z.string().optional().describe('This replica\'s name (the downward API), for the Lease holder; default: the host name.'),
  POD_NAMESPACE: z.string().optional().describe('This replica\'s namespace (the downward API).'),
});

export interface OperatorConfig {
  watchNamespace: string;
  leaderElection: boolean;
  leaseNamespace: string;
  leaseName: string;
  port: number;
  logLevel: string;
  identity: string;
}

/** Reads the configuration, or returns a message naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): { ok: true; config: OperatorConfig } | { ok: false; error: string } {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    return { ok: false, error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  }
  const e = parsed.data;
  const inCluster = existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() : undefined;
  return {
    ok: true,
    config: {
      watchNamespace: e.WATCH_NAMESPACE,
      leaderElection: e.LEADER_ELECTION,
      leaseNamespace: e.LEADER_ELECTION_NAMESPACE ?? e.POD_NAMESPACE ?? inCluster ?? (e.WATCH_NAMESPACE || 'default'),
      leaseName: e.LEADER_ELECTION_ID,
      port: e.PORT,
      logLevel: e.LOG_LEVEL,
      // Unique per process even when two replicas share a host name.
      identity: `${e.POD_NAME ?? hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
    },
  };
}
