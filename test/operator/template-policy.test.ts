// The operator's template policy: which pod-template fields it refuses, by field path, under the default
// policy and relaxed ones; its condition message; and its settings from the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../operator/src/config.ts';
import { DEFAULT_TEMPLATE_POLICY, templateRefusal, templateViolations, type TemplatePolicy } from '../../operator/src/template-policy.ts';

const worker = { name: 'worker', image: 'example.com/jobs:1' };
const withSecurity = (securityContext: Record<string, unknown>) => ({ ...worker, securityContext });
const podSpec = (spec: Record<string, unknown>) => ({ spec: { containers: [worker], ...spec } });

const cases: Record<string, { template: unknown; policy?: Partial<TemplatePolicy>; fields: string[] }> = {
  'a plain template': { template: podSpec({}), fields: [] },
  'the hardening the operator itself adds': {
    template: podSpec({ containers: [withSecurity({ allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } })] }),
    fields: [],
  },
  'a privileged container': {
    template: podSpec({ containers: [worker, withSecurity({ privileged: true })] }),
    fields: ['spec.template.spec.containers[1].securityContext.privileged'],
  },
  'a privileged init container': {
    template: podSpec({ initContainers: [withSecurity({ privileged: true })] }),
    fields: ['spec.template.spec.initContainers[0].securityContext.privileged'],
  },
  'a privileged ephemeral container': {
    template: podSpec({ ephemeralContainers: [withSecurity({ privileged: true })] }),
    fields: ['spec.template.spec.ephemeralContainers[0].securityContext.privileged'],
  },
  'privileged, allowed': { template: podSpec({ containers: [withSecurity({ privileged: true })] }), policy: { allowPrivileged: true }, fields: [] },
  'privilege escalation': {
    template: podSpec({ containers: [withSecurity({ allowPrivilegeEscalation: true })] }),
    fields: ['spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation'],
  },
  'privilege escalation, allowed': {
    template: podSpec({ containers: [withSecurity({ allowPrivilegeEscalation: true })] }),
    policy: { allowPrivilegeEscalation: true },
    fields: [],
  },
  'every host namespace': {
    template: podSpec({ hostNetwork: true, hostPID: true, hostIPC: true }),
    fields: ['spec.template.spec.hostNetwork', 'spec.template.spec.hostPID', 'spec.template.spec.hostIPC'],
  },
  'host namespaces set false': { template: podSpec({ hostNetwork: false, hostPID: false, hostIPC: false }), fields: [] },
  'host namespaces, allowed': { template: podSpec({ hostNetwork: true }), policy: { allowHostNamespaces: true }, fields: [] },
  'a hostPath volume among others': {
    template: podSpec({ volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'docker', hostPath: { path: '/var/run/docker.sock' } }] }),
    fields: ['spec.template.spec.volumes[1].hostPath'],
  },
  'hostPath, allowed': { template: podSpec({ volumes: [{ name: 'h', hostPath: { path: '/' } }] }), policy: { allowHostPath: true }, fields: [] },
  'capabilities beyond the list, whatever their spelling': {
    template: podSpec({ containers: [withSecurity({ capabilities: { add: ['NET_BIND_SERVICE', 'CAP_SYS_ADMIN', 'net_raw', 'cap_net_bind_service'] } })] }),
    fields: ['spec.template.spec.containers[0].securityContext.capabilities.add[1]', 'spec.template.spec.containers[0].securityContext.capabilities.add[2]'],
  },
  'a capability on a relaxed list': {
    template: podSpec({ containers: [withSecurity({ capabilities: { add: ['SYS_PTRACE'] } })] }),
    policy: { allowedCapabilities: ['NET_BIND_SERVICE', 'CAP_SYS_PTRACE'] },
    fields: [],
  },
  'any capability': { template: podSpec({ containers: [withSecurity({ capabilities: { add: ['SYS_ADMIN'] } })] }), policy: { allowedCapabilities: 'any' }, fields: [] },
  'no capability at all': {
    template: podSpec({ containers: [withSecurity({ capabilities: { add: ['NET_BIND_SERVICE'] } })] }),
    policy: { allowedCapabilities: [] },
    fields: ['spec.template.spec.containers[0].securityContext.capabilities.add[0]'],
  },
  'any ServiceAccount by default': { template: podSpec({ serviceAccountName: 'cluster-admin-sa' }), fields: [] },
  'a ServiceAccount on the list': { template: podSpec({ serviceAccountName: 'jobs' }), policy: { allowedServiceAccountNames: ['jobs'] }, fields: [] },
  'a ServiceAccount not on the list': {
    template: podSpec({ serviceAccountName: 'deployer' }),
    policy: { allowedServiceAccountNames: ['jobs'] },
    fields: ['spec.template.spec.serviceAccountName'],
  },
  'the deprecated serviceAccount field': {
    template: podSpec({ serviceAccount: 'deployer' }),
    policy: { allowedServiceAccountNames: ['jobs'] },
    fields: ['spec.template.spec.serviceAccount'],
  },
  'no ServiceAccount named: the pods run as default': {
    template: podSpec({}),
    policy: { allowedServiceAccountNames: ['jobs'] },
    fields: ['spec.template.spec.serviceAccountName'],
  },
  'default, listed': { template: podSpec({}), policy: { allowedServiceAccountNames: ['default'] }, fields: [] },
  'fields of the wrong type are left to the API server': {
    template: podSpec({ hostNetwork: 'true', volumes: 'none', containers: [withSecurity({ privileged: 'yes', capabilities: { add: 'SYS_ADMIN' } })] }),
    fields: [],
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(`template policy: ${name}`, () => {
    const violations = templateViolations(c.template, { ...DEFAULT_TEMPLATE_POLICY, ...c.policy });
    assert.deepEqual(violations.map((v) => v.field), c.fields);
  });
}

test('a refusal names every field, in the API server\'s field-error form, and the value that allows it', () => {
  const template = podSpec({ hostPID: true, containers: [withSecurity({ privileged: true })] });
  const refusal = templateRefusal(templateViolations(template, DEFAULT_TEMPLATE_POLICY));
  assert.equal(refusal?.reason, 'TemplateNotAllowed');
  assert.equal(
    refusal?.message,
    "the operator's template policy refuses the pod template: " +
      'spec.template.spec.hostPID: Forbidden: host namespaces are not allowed (templatePolicy.allowHostNamespaces); ' +
      'spec.template.spec.containers[0].securityContext.privileged: Forbidden: privileged containers are not allowed (templatePolicy.allowPrivileged)',
  );
  assert.equal(templateRefusal([]), undefined);
});

test('the policy from the environment: the defaults, a relaxed one, and bad values named', () => {
  const policy = (env: NodeJS.ProcessEnv) => {
    const loaded = loadConfig(env);
    return loaded.ok ? loaded.config.templatePolicy : loaded.error;
  };
  const error = (env: NodeJS.ProcessEnv): string | undefined => {
    const loaded = loadConfig(env);
    return loaded.ok ? undefined : loaded.error;
  };
  assert.deepEqual(policy({}), DEFAULT_TEMPLATE_POLICY);
  assert.deepEqual(
    policy({
      TEMPLATE_POLICY_ALLOW_PRIVILEGED: 'true',
      TEMPLATE_POLICY_ALLOW_PRIVILEGE_ESCALATION: 'true',
      TEMPLATE_POLICY_ALLOW_HOST_NAMESPACES: 'true',
      TEMPLATE_POLICY_ALLOW_HOST_PATH: 'true',
      TEMPLATE_POLICY_ALLOWED_CAPABILITIES: 'NET_BIND_SERVICE, SYS_PTRACE',
      TEMPLATE_POLICY_ALLOWED_SERVICE_ACCOUNTS: 'default,jobs',
    }),
    { allowPrivileged: true, allowPrivilegeEscalation: true, allowHostNamespaces: true, allowHostPath: true, allowedCapabilities: ['NET_BIND_SERVICE', 'SYS_PTRACE'], allowedServiceAccountNames: ['default', 'jobs'] },
  );
  assert.deepEqual(policy({ TEMPLATE_POLICY_ALLOWED_CAPABILITIES: '*', TEMPLATE_POLICY_ALLOWED_SERVICE_ACCOUNTS: '' }), { ...DEFAULT_TEMPLATE_POLICY, allowedCapabilities: 'any', allowedServiceAccountNames: [] });
  assert.match(error({ TEMPLATE_POLICY_ALLOW_HOST_PATH: 'yes' }) ?? '', /^TEMPLATE_POLICY_ALLOW_HOST_PATH: /);
  assert.match(error({ TEMPLATE_POLICY_ALLOWED_SERVICE_ACCOUNTS: 'Jobs Runner' }) ?? '', /^TEMPLATE_POLICY_ALLOWED_SERVICE_ACCOUNTS: each name must match/);
});
