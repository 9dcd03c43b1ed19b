// The chart grants exactly the API calls the operator makes: the used set is read from the code of
// operator/src/kube.ts (the requests it sends and the paths it watches), the granted set from
// the rendered (Cluster)Roles; any difference either way fails, as does a drift of docs/operator.md's table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GROUP, PLURAL, VERSION } from '../../operator/src/jobpool.ts';
import { RBAC_RULES } from '../../operator/src/kube.ts';
import { chartCopy, render, root, type K8sObject } from './chart.ts';

const operatorSrc = join(root, 'operator/src');
const kubeTs = readFileSync(join(operatorSrc, 'kube.ts'), 'utf8');

/** `group resource verb`, with "" for the core group. */
type Permission = string;
const permission = (group: string, resource: string, verb: string): Permission => `${group === '' ? '""' : group} ${resource} ${verb}`;

const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** A path template of kube.ts (`${...}` for what varies) as group, resource (with its subresource) and whether it names one object. */
function readPath(path: string): { group: string; resource: string; named: boolean } {
  const resolved = path.replaceAll('${GROUP}', GROUP).replaceAll('${VERSION}', VERSION).replaceAll('${PLURAL}', PLURAL).replaceAll('${ns}', '');
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/\$\{[^}]+\})?\/([a-z]+)(\/\$\{[^}]+\}(?:\/([a-z]+))?)?$/.exec(resolved);
  assert.ok(m !== null, `cannot read the API path ${path} in kube.ts: teach test/helm/rbac.test.ts`);
  return { group: m[1] ?? '', resource: m[4] === undefined ? m[2] ?? '' : `${m[2] ?? ''}/${m[4]}`, named: m[3] !== undefined };
}

/** The permissions the operator's code needs, derived from kube.ts's requests and watch paths. */
function usedByOperator(): Set<Permission> {
  const used = new Set<Permission>();
  // Everything paths() returns is listed and watched by the informers.
  const pathsBody = /static paths\([^)]*\)[^{]*\{([\s\S]*?)\n {2}\}/.exec(kubeTs)?.[1] ?? '';
  const watchPaths = new Map([...pathsBody.matchAll(/(\w+): `(\/apis?\/[^`]+)`/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
  assert.ok(watchPaths.size > 0, 'no watch paths found in KubeApi.paths()');
  for (const path of watchPaths.values()) {
    const { group, resource } = readPath(path);
    used.add(permission(group, resource, 'watch'));
  }
  let calls = 0;
  for (const m of kubeTs.matchAll(/this\.#client\.request(?:<.*?>)?\(\s*'(\w+)',\s*(?:`([^`]+)`|KubeApi\.paths\(\w+\)\.(\w+))/g)) {
    calls += 1;
    const [, method, template, pathsKey] = m as unknown as [string, string, string | undefined, string | undefined];
    const path = template ?? watchPaths.get(pathsKey ?? '');
    assert.ok(path !== undefined, `kube.ts requests KubeApi.paths().${pathsKey ?? '?'}, which paths() does not return`);
    const { group, resource, named } = readPath(path);
    const verb = method === 'GET' ? (named ? 'get' : 'list') : verbs[method];
    assert.ok(verb !== undefined, `kube.ts sends ${method}: teach test/helm/rbac.test.ts which verb that is`);
    used.add(permission(group, resource, verb));
    // The API server authorizes a server-side apply that creates its object as create too.
    const call = kubeTs.slice(m.index, kubeTs.indexOf(';', m.index));
    if (method === 'PATCH' && call.includes('APPLY_PATCH')) used.add(permission(group, resource, 'create'));
  }
  assert.ok(calls > 0, 'no API requests found in kube.ts');
  // Setting blockOwnerDeletion on an owner reference needs update on the owner's finalizers (the
  // OwnerReferencesPermissionEnforcement admission plugin); the operator's only owner is the JobPool.
  if (/blockOwnerDeletion: true/.test(readFileSync(join(operatorSrc, 'desired-deployment.ts'), 'utf8'))) used.add(permission(GROUP, `${PLURAL}/finalizers`, 'update'));
  return used;
}

/** The ClusterRoles for people, which Kubernetes aggregates into its built-in roles (templates/user-roles.yaml). */
const isUserRole = (o: K8sObject): boolean => Object.keys(o.metadata.labels ?? {}).some((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-'));

/** The permissions the rendered operator roles grant, by the namespace they hold in ("*" for a ClusterRole). */
function granted(objects: K8sObject[]): Map<string, Set<Permission>> {
  const byScope = new Map<string, Set<Permission>>();
  for (const role of objects.filter((o) => (o.kind === 'Role' || o.kind === 'ClusterRole') && !isUserRole(o))) {
    const scope = role.kind === 'ClusterRole' ? '*' : role.metadata.namespace ?? '?';
    const set = byScope.get(scope) ?? new Set<Permission>();
    byScope.set(scope, set);
    for (const rule of (role['rules'] ?? []) as { apiGroups: string[]; resources: string[]; verbs: string[] }[]) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          for (const verb of rule.verbs) {
            assert.ok(![group, resource, verb].includes('*'), `${role.kind} ${role.metadata.name} grants a wildcard`);
            set.add(permission(group, resource, verb));
          }
        }
      }
    }
    // Every role is bound to the operator's ServiceAccount and nothing else.
    const bindings = objects.filter((o) => o.kind === `${role.kind}Binding` && (o['roleRef'] as { name: string }).name === role.metadata.name);
    assert.equal(bindings.length, 1, `${role.kind} ${role.metadata.name} has one binding`);
    assert.deepEqual(bindings[0]?.['subjects'], [{ kind: 'ServiceAccount', name: 'forkpool', namespace: 'forkpool-system' }]);
  }
  return byScope;
}

const sorted = (s: Iterable<Permission>): Permission[] => [...s].sort();
const isLease = (p: Permission): boolean => p.startsWith('coordination.k8s.io leases ');
const isSecret = (p: Permission): boolean => p.startsWith('"" secrets ');

describe('the chart\'s RBAC is exactly what the operator uses', () => {
  const used = usedByOperator();

  it('finds the operator\'s calls in its code, and only kube.ts calls the API', () => {
    assert.ok(used.has('forkpool.io jobpools watch') && used.has('"" pods patch') && used.has('coordination.k8s.io leases update'), sorted(used).join('\n'));
    for (const file of readdirSync(operatorSrc).filter((f) => f.endsWith('.ts') && f !== 'kube.ts')) {
      const text = readFileSync(join(operatorSrc, file), 'utf8');
      assert.doesNotMatch(text, /makeApiClient|new Watch\(|new KubeClient\(|\.request(?:<.*?>)?\(\s*'[A-Z]+'|[`'"]\/apis?\//, `operator/src/${file} calls the API outside kube.ts: move it there so this check sees it`);
    }
  });

  it('matches RBAC_RULES, the rules kube.ts declares', () => {
    const declared = RBAC_RULES.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => permission(g, res, v)))));
    assert.deepEqual(sorted(new Set(declared)), sorted(used));
  });

  it('matches the table in docs/operator.md', () => {
    const doc = readFileSync(join(root, 'docs/operator.md'), 'utf8');
    const start = doc.indexOf('\n## API access');
    assert.ok(start >= 0, 'docs/operator.md has no "## API access" section');
    const end = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, end < 0 ? undefined : end);
    const table = new Set<Permission>();
    for (const m of section.matchAll(/^\| `([^`]*)` \| `([^`]+)` \| ([^|]+) \|$/gm)) {
      const group = m[1] === '""' ? '' : m[1] ?? '';
      for (const verb of (m[3] ?? '').replace(/\([^)]*\)/g, '').split(',')) table.add(permission(group, m[2] ?? '', verb.trim()));
    }
    assert.deepEqual(sorted(table), sorted(used));
  });

  it('all namespaces: a ClusterRole with the pool permissions, the Lease in a Role of the release namespace', async () => {
    const byScope = granted(await render());
    assert.deepEqual([...byScope.keys()].sort(), ['*', 'forkpool-system']);
    assert.deepEqual(sorted(byScope.get('*') ?? []), sorted([...used].filter((p) => !isLease(p))));
    assert.deepEqual(sorted(byScope.get('forkpool-system') ?? []), sorted([...used].filter(isLease)));
  });

  it('one namespace: Roles only, nothing cluster-wide for the operator', async () => {
    const objects = await render({ watchNamespace: 'apps' });
    assert.deepEqual(objects.filter((o) => o.kind.startsWith('Cluster') && o.kind !== 'CustomResourceDefinition' && !isUserRole(o)), []);
    const byScope = granted(objects);
    assert.deepEqual(sorted(byScope.get('apps') ?? []), sorted([...used].filter((p) => !isLease(p))));
    assert.deepEqual(sorted(byScope.get('forkpool-system') ?? []), sorted([...used].filter(isLease)));
  });

  it('the Lease permissions name the Lease where Kubernetes allows it (create cannot be limited to a name)', async () => {
    const role = (await render()).find((o) => o.kind === 'Role');
    assert.deepEqual(role?.['rules'], [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['forkpool'], verbs: ['get', 'update'] },
    ]);
  });

  it('drops Secrets with rbac.readSecrets=false and Leases without leader election', async () => {
    const all = (byScope: Map<string, Set<Permission>>): Permission[] => sorted([...byScope.values()].flatMap((s) => [...s]));
    assert.deepEqual(all(granted(await render({ rbac: { readSecrets: false } }))), sorted([...used].filter((p) => !isSecret(p))));
    assert.deepEqual(all(granted(await render({ leaderElection: { enabled: false } }))), sorted([...used].filter((p) => !isLease(p))));
  });

  it('fails when the chart grants one verb more (a check of this check)', async () => {
    const copy = chartCopy();
    const helpers = join(copy, 'templates/_helpers.tpl');
    const text = readFileSync(helpers, 'utf8');
    assert.ok(text.includes('resources: [pods]\n  verbs: [list, watch, patch]'));
    writeFileSync(helpers, text.replace('resources: [pods]\n  verbs: [list, watch, patch]', 'resources: [pods]\n  verbs: [list, watch, patch, delete]'));
    const extra = sorted(granted(await render({}, { chart: copy })).get('*') ?? []).filter((p) => !used.has(p));
    assert.deepEqual(extra, ['"" pods delete']);
  });

  it('ClusterRoles for people aggregate JobPool rights into the built-in admin, edit and view roles, bound to nobody', async () => {
    const objects = await render();
    const users = objects.filter(isUserRole);
    const aggregated = (o: K8sObject | undefined): string[] =>
      Object.entries(o?.metadata.labels ?? {}).filter(([l, v]) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-') && v === 'true').map(([l]) => l.slice(l.indexOf('-to-') + 4)).sort();
    assert.deepEqual(users.map((o) => `${o.kind} ${o.metadata.name}`), ['ClusterRole forkpool-view', 'ClusterRole forkpool-edit']);
    const [view, edit] = users;
    assert.deepEqual(aggregated(view), ['admin', 'edit', 'view']);
    assert.deepEqual(aggregated(edit), ['admin', 'edit']);
    assert.deepEqual(view?.['rules'], [{ apiGroups: [GROUP], resources: [PLURAL, `${PLURAL}/status`, `${PLURAL}/scale`], verbs: ['get', 'list', 'watch'] }]);
    assert.deepEqual(edit?.['rules'], [
      { apiGroups: [GROUP], resources: [PLURAL], verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
      { apiGroups: [GROUP], resources: [`${PLURAL}/scale`], verbs: ['update', 'patch'] },
    ]);
    const names = new Set(users.map((o) => o.metadata.name));
    assert.deepEqual(objects.filter((o) => o.kind.endsWith('Binding') && names.has((o['roleRef'] as { name: string }).name)), []);
    // Also with watchNamespace: the built-in roles are bound per namespace, which is where the rights hold.
    assert.equal((await render({ watchNamespace: 'apps' })).filter(isUserRole).length, 2);
    assert.deepEqual((await render({ rbac: { aggregateClusterRoles: false } })).filter(isUserRole), []);
    assert.deepEqual((await render({ rbac: { create: false } })).filter(isUserRole), []);
  });
});
