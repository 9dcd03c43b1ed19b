// The operator's template policy: what a JobPool's pod template may ask for. Whoever may create a JobPool
// in a namespace gets the pods its template describes, created by the operator's ServiceAccount; this is
// where the operator's installer says which of the pod fields that reach the node it will pass on. Pure.
import type { Failure } from './status.ts';

/** What pod templates may ask for; each `allow` is false by default (see DEFAULT_TEMPLATE_POLICY). */
export interface TemplatePolicy {
  /** Containers with `securityContext.privileged: true`. */
  allowPrivileged: boolean;
  /** Containers with `securityContext.allowPrivilegeEscalation: true`. */
  allowPrivilegeEscalation: boolean;
  /** `hostNetwork`, `hostPID` or `hostIPC` true. */
  allowHostNamespaces: boolean;
  /** `hostPath` volumes. */
  allowHostPath: boolean;
  /** Capabilities containers may add (upper case, without `CAP_`), or 'any'. */
  allowedCapabilities: readonly string[] | 'any';
  /** ServiceAccounts the pods may run as (an unset name is `default`), or 'any'. */
  allowedServiceAccountNames: readonly string[] | 'any';
}

/** The restricted Pod Security Standard's rules on privilege, host namespaces, hostPath and added capabilities; any ServiceAccount. */
export const DEFAULT_TEMPLATE_POLICY: TemplatePolicy = {
  allowPrivileged: false,
  allowPrivilegeEscalation: false,
  allowHostNamespaces: false,
  allowHostPath: false,
  allowedCapabilities: ['NET_BIND_SERVICE'],
  allowedServiceAccountNames: 'any',
};

/** One field of the template the policy refuses: its path from the JobPool, and why. */
export interface Violation {
  field: string;
  message: string;
}

const TEMPLATE = 'spec.template.spec';

/** `CAP_SYS_ADMIN` and `sys_admin` name the same capability as `SYS_ADMIN` (container runtimes accept each). */
function capabilityName(name: string): string {
  return name.toUpperCase().replace(/^CAP_/, '');
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function containerViolations(path: string, container: unknown, policy: TemplatePolicy): Violation[] {
  const out: Violation[] = [];
  const sc = record(record(container)['securityContext']);
  const at = `${path}.securityContext`;
  if (!policy.allowPrivileged && sc['privileged'] === true) {
    out.push({ field: `${at}.privileged`, message: 'privileged containers are not allowed (templatePolicy.allowPrivileged)' });
  }
  if (!policy.allowPrivilegeEscalation && sc['allowPrivilegeEscalation'] === true) {
    out.push({ field: `${at}.allowPrivilegeEscalation`, message: 'privilege escalation is not allowed (templatePolicy.allowPrivilegeEscalation)' });
  }
  const allowed = policy.allowedCapabilities;
  if (allowed !== 'any') {
    const names = new Set(allowed.map(capabilityName));
    list(record(sc['capabilities'])['add']).forEach((cap, i) => {
      if (typeof cap === 'string' && names.has(capabilityName(cap))) return;
      const may = allowed.length === 0 ? 'no capability may be added' : `only ${allowed.join(', ')} may be added`;
      out.push({ field: `${at}.capabilities.add[${i}]`, message: `capability ${String(cap)} is not allowed: ${may} (templatePolicy.allowedCapabilities)` });
    });
  }
  return out;
}

/**
 * The fields of a JobPool's pod template that the policy refuses, in the order they appear; empty when it
 * is allowed. Containers, init containers and ephemeral containers are all checked: each runs on the node.
 */
export function templateViolations(template: unknown, policy: TemplatePolicy): Violation[] {
  const spec = record(record(template)['spec']);
  const out: Violation[] = [];
  if (!policy.allowHostNamespaces) {
    for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) {
      if (spec[field] === true) out.push({ field: `${TEMPLATE}.${field}`, message: 'host namespaces are not allowed (templatePolicy.allowHostNamespaces)' });
    }
  }
  if (!policy.allowHostPath) {
    list(spec['volumes']).forEach((volume, i) => {
      if (record(volume)['hostPath'] !== undefined) out.push({ field: `${TEMPLATE}.volumes[${i}].hostPath`, message: 'hostPath volumes are not allowed (templatePolicy.allowHostPath)' });
    });
  }
  for (const kind of ['initContainers', 'containers', 'ephemeralContainers']) {
    list(spec[kind]).forEach((container, i) => out.push(...containerViolations(`${TEMPLATE}.${kind}[${i}]`, container, policy)));
  }
  const accounts = policy.allowedServiceAccountNames;
  if (accounts !== 'any') {
    // serviceAccount is the deprecated name of the same field: the API server uses it when serviceAccountName is unset.
    const [field, name] =
      typeof spec['serviceAccountName'] === 'string' && spec['serviceAccountName'] !== ''
        ? ['serviceAccountName', spec['serviceAccountName']]
        : typeof spec['serviceAccount'] === 'string' && spec['serviceAccount'] !== ''
          ? ['serviceAccount', spec['serviceAccount']]
          : ['serviceAccountName', 'default'];
    if (!accounts.includes(name)) {
      const may = accounts.length === 0 ? 'no ServiceAccount is allowed' : `allowed: ${accounts.join(', ')}`;
      out.push({ field: `${TEMPLATE}.${field}`, message: `ServiceAccount ${name} is not allowed: ${may} (templatePolicy.allowedServiceAccountNames)` });
    }
  }
  return out;
}

/** The condition's reason and message for a refused template, in the API server's field-error form; undefined when allowed. */
export function templateRefusal(violations: readonly Violation[]): Failure | undefined {
  if (violations.length === 0) return undefined;
  const fields = violations.map((v) => `${v.field}: Forbidden: ${v.message}`).join('; ');
  return { reason: 'TemplateNotAllowed', message: `the operator's template policy refuses the pod template: ${fields}` };
}
