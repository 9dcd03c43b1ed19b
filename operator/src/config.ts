// The operator's settings, from the environment; a bad value stops start-up with a message naming the variable.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_TEMPLATE_POLICY, type TemplatePolicy } from './template-policy.ts';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** A true/false variable. */
const flag = (byDefault: boolean) => z.enum(['true', 'false']).default(byDefault ? 'true' : 'false').transform((v) => v === 'true');

/** A comma list of names, `*` for any; empty means none. */
const names = (byDefault: string, pattern: RegExp) =>
  z
    .string()
    .default(byDefault)
    .transform((v) => v.split(',').map((n) => n.trim()).filter((n) => n !== ''))
    .refine((l) => l.every((n) => n === '*' || pattern.test(n)), { message: `each name must match ${String(pattern)}, or be *` })
    .transform((l): readonly string[] | 'any' => (l.includes('*') ? 'any' : l));

const envSchema = z.object({
  WATCH_NAMESPACE: z.string().default('').describe('Namespace whose JobPools to manage; empty for all namespaces.'),
  LEADER_ELECTION: flag(true).describe('Elect a leader through a Lease so several replicas can run; only the leader acts.'),
  LEADER_ELECTION_NAMESPACE: z.string().optional().describe('Namespace of the Lease; default: the pod\'s own namespace.'),
  LEADER_ELECTION_ID: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).default('forkpool-operator').describe('Name of the Lease.'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080).describe('Port of /healthz, /readyz and /metrics.'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
  POD_NAME: z.string().optional().describe('This replica\'s name (the downward API), for the Lease holder; default: the host name.'),
  POD_NAMESPACE: z.string().optional().describe('This replica\'s namespace (the downward API).'),
  TEMPLATE_POLICY_ALLOW_PRIVILEGED: flag(DEFAULT_TEMPLATE_POLICY.allowPrivileged).describe('Pass on pod templates with privileged containers.'),
  TEMPLATE_POLICY_ALLOW_PRIVILEGE_ESCALATION: flag(DEFAULT_TEMPLATE_POLICY.allowPrivilegeEscalation).describe('Pass on containers with allowPrivilegeEscalation true.'),
  TEMPLATE_POLICY_ALLOW_HOST_NAMESPACES: flag(DEFAULT_TEMPLATE_POLICY.allowHostNamespaces).describe('Pass on hostNetwork, hostPID and hostIPC.'),
  TEMPLATE_POLICY_ALLOW_HOST_PATH: flag(DEFAULT_TEMPLATE_POLICY.allowHostPath).describe('Pass on hostPath volumes.'),
  TEMPLATE_POLICY_ALLOWED_CAPABILITIES: names('NET_BIND_SERVICE', /^(CAP_)?[A-Za-z_0-9]+$/).describe('Capabilities containers may add, or * for any.'),
  TEMPLATE_POLICY_ALLOWED_SERVICE_ACCOUNTS: names('*', /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).describe('ServiceAccounts worker pods may run as, or * for any.'),
});

export interface OperatorConfig {
  watchNamespace: string;
  leaderElection: boolean;
  leaseNamespace: string;
  leaseName: string;
  port: number;
  logLevel: string;
  identity: string;
  templatePolicy: TemplatePolicy;
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
      templatePolicy: {
        allowPrivileged: e.TEMPLATE_POLICY_ALLOW_PRIVILEGED,
        allowPrivilegeEscalation: e.TEMPLATE_POLICY_ALLOW_PRIVILEGE_ESCALATION,
        allowHostNamespaces: e.TEMPLATE_POLICY_ALLOW_HOST_NAMESPACES,
        allowHostPath: e.TEMPLATE_POLICY_ALLOW_HOST_PATH,
        allowedCapabilities: e.TEMPLATE_POLICY_ALLOWED_CAPABILITIES,
        allowedServiceAccountNames: e.TEMPLATE_POLICY_ALLOWED_SERVICE_ACCOUNTS,
      },
    },
  };
}
