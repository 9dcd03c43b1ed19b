// The chart without a cluster: version, lint, the schema's refusals, the one-source CRD, what each
// value renders, and `helm package`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { chartDir, documentedValues, everyOption, find, helm, render, root, run, schemaLeaves, scratchDir, valuesFile, type K8sObject } from './chart.ts';

type Container = { name: string; image: string; imagePullPolicy: string; env: { name: string; value?: string; valueFrom?: unknown }[]; [k: string]: unknown };
type PodSpec = { containers: Container[]; securityContext?: Record<string, unknown>; [k: string]: unknown };
const podSpec = (d: K8sObject | undefined): PodSpec => (d as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const envOf = (d: K8sObject | undefined): Record<string, unknown> =>
  Object.fromEntries((podSpec(d).containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('the forkpool chart', () => {
  it('installs the package version: appVersion = package.json version', () => {
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.appVersion, pkg.version);
  });

  it('lints clean, also with --strict and with every option', async () => {
    for (const args of [['lint', chartDir], ['lint', '--strict', chartDir], ['lint', '--strict', chartDir, '-f', valuesFile(everyOption)], ['lint', '--strict', chartDir, '--set', 'watchNamespace=apps']]) {
      const result = await helm(args);
      assert.equal(result.code, 0, `helm ${args.join(' ')}\n${result.stdout}${result.stderr}`);
      assert.doesNotMatch(result.stdout, /\[(WARNING|ERROR)\]/, result.stdout);
      assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('has a comment on every value, and the schema describes exactly the values', () => {
    const values = documentedValues();
    for (const v of values) assert.ok(v.comment !== undefined && v.comment.length > 10, `values.yaml: ${v.path} has no "# --" comment`);
    assert.deepEqual(values.map((v) => v.path).sort(), schemaLeaves().filter((p) => p !== 'global').sort());
  });

  it('lists every value with its default in the "Values" table of the chart\'s README', () => {
    const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Values\n');
    assert.ok(start >= 0, 'helm/forkpool/README.md has no "## Values" section');
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const rows = new Map([...section.matchAll(/^\| `([\w.]+)` \| ([^|]+) \| [^|]+ \|$/gm)].map((m) => [m[1] ?? '', (m[2] ?? '').trim()]));
    for (const v of documentedValues()) {
      assert.ok(rows.has(v.path), `helm/forkpool/README.md's values table has no row for ${v.path}`);
      const value = JSON.parse(v.defaultJson) as unknown;
      // Scalars and empty lists or maps exactly; larger defaults are summarised in words.
      const json = JSON.stringify(value);
      const shown = value === '' ? '""' : typeof value === 'string' ? value : json.length <= 2 || typeof value !== 'object' ? json : undefined;
      if (shown !== undefined) assert.equal(rows.get(v.path), `\`${shown}\``, `helm/forkpool/README.md's default of ${v.path}`);
    }
    assert.equal(rows.size, documentedValues().length, 'helm/forkpool/README.md lists a value the chart does not have');
  });

  it('refuses bad values with the schema\'s message', async () => {
    const cases: [string, string[], RegExp][] = [
      ['negative replicas', ['--set', 'replicas=-1'], /at '\/replicas': minimum: got -1, want 0/],
      ['unknown log level', ['--set', 'logLevel=loud'], /at '\/logLevel': value must be one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'/],
      ['numeric image tag', ['--set', 'image.tag=5'], /at '\/image\/tag': got number, want string/],
      ['misspelt value', ['--set', 'replica=2'], /additional properties 'replica' not allowed/],
      ['two replicas without leader election', ['--set', 'replicas=2,leaderElection.enabled=false'], /at '\/leaderElection\/enabled': value must be true/],
      ['unknown pull policy', ['--set', 'image.pullPolicy=Sometimes'], /at '\/image\/pullPolicy': value must be one of/],
      ['port out of range', ['--set', 'port=70000'], /at '\/port': maximum: got 70,?000, want 65,?535/],
      ['bad watch namespace', ['--set', 'watchNamespace=Not_A_Namespace'], /at '\/watchNamespace'/],
      ['Redis Secret without a URL', ['--set', 'redisSecret.create=true'], /at '\/redisSecret\/url': minLength: got 0, want 1/],
      ['Redis URL of another scheme', ['--set', 'redisSecret.url=http://redis'], /at '\/redisSecret\/url'/],
      ['bad scrape interval', ['--set', 'metrics.serviceMonitor.interval=often'], /at '\/metrics\/serviceMonitor\/interval'/],
    ];
    for (const [name, args, message] of cases) {
      const result = await helm(['template', 'forkpool', chartDir, ...args]);
      assert.notEqual(result.code, 0, `${name} was accepted`);
      assert.match(result.stderr, /values don't meet the specifications of the schema/, name);
      assert.match(result.stderr, message, name);
    }
    const monitorWithoutService = await helm(['template', 'forkpool', chartDir, '--set', 'metrics.serviceMonitor.enabled=true,metrics.service.enabled=false']);
    assert.match(monitorWithoutService.stderr, /metrics.serviceMonitor.enabled needs metrics.service.enabled/);
  });

  it('takes the CRD from crds/jobpool.yaml, the one copy, and keeps it on uninstall unless told otherwise', async () => {
    const link = join(chartDir, 'files/jobpool-crd.yaml');
    assert.ok(lstatSync(link).isSymbolicLink(), 'files/jobpool-crd.yaml must be a link, not a second copy');
    assert.equal(readlinkSync(link), '../../../crds/jobpool.yaml');
    assert.equal(realpathSync(link), join(root, 'crds/jobpool.yaml'));
    const source = parse(readFileSync(join(root, 'crds/jobpool.yaml'), 'utf8')) as K8sObject & { spec: unknown };
    const crd = find(await render(), 'CustomResourceDefinition') as K8sObject & { spec: unknown };
    assert.deepEqual(crd.spec, source.spec);
    assert.equal(crd.metadata.name, source.metadata.name);
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    assert.equal(crd.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
    const notKept = find(await render({ crds: { keep: false } }), 'CustomResourceDefinition');
    assert.equal(notKept?.metadata.annotations, undefined);
    assert.equal(find(await render({ crds: { install: false } }), 'CustomResourceDefinition'), undefined);
  });

  it('renders a hardened operator Deployment from the defaults', async () => {
    const objects = await render();
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ClusterRole/forkpool',
      'ClusterRoleBinding/forkpool',
      'CustomResourceDefinition/jobpools.forkpool.io',
      'Deployment/forkpool',
      'Role/forkpool-leader-election',
      'RoleBinding/forkpool-leader-election',
      'Service/forkpool-metrics',
      'ServiceAccount/forkpool',
    ]);
    const deployment = find(objects, 'Deployment');
    const spec = podSpec(deployment);
    const container = spec.containers[0] as Container;
    assert.equal(container.image, 'ghcr.io/forkpool/operator:0.1.0');
    assert.equal(container.imagePullPolicy, 'IfNotPresent');
    assert.equal(spec['serviceAccountName'], 'forkpool');
    assert.deepEqual(container['securityContext'], {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(spec.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    assert.deepEqual((container['livenessProbe'] as { httpGet: unknown }).httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual((container['readinessProbe'] as { httpGet: unknown }).httpGet, { path: '/readyz', port: 'http' });
    assert.deepEqual(container['ports'], [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(envOf(deployment), {
      WATCH_NAMESPACE: '',
      LEADER_ELECTION: 'true',
      LEADER_ELECTION_NAMESPACE: 'forkpool-system',
      LEADER_ELECTION_ID: 'forkpool',
      PORT: '8080',
      LOG_LEVEL: 'info',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    for (const o of objects) {
      assert.equal(o.metadata.labels?.['app.kubernetes.io/name'], 'forkpool', `${o.kind} labels`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'forkpool', `${o.kind} labels`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/version'], '0.1.0', `${o.kind} labels`);
    }
  });

  it('renders the optional dashboard: read-only by default, no API access, pods no operator selector picks', async () => {
    const off = await render({});
    assert.equal(find(off, 'Deployment', 'forkpool-forkpool-dashboard') ?? find(off, 'Service', 'forkpool-forkpool-dashboard'), undefined, 'off by default');
    const objects = await render({ dashboard: { enabled: true, redisUrl: 'redis://redis:6379/0' } });
    const dash = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-dashboard'));
    assert.ok(dash, 'a dashboard Deployment');
    const spec = podSpec(dash);
    assert.equal(spec['automountServiceAccountToken'], false);
    const container = spec.containers[0];
    assert.deepEqual((container?.['command'] as string[]).slice(2, 5), ['node', 'dist/cli/src/bin.js', 'dashboard']);
    assert.deepEqual(envOf(dash), { REDIS_URL: 'redis://redis:6379/0', RESQUE_NAMESPACE: 'resque' }, 'no token: read-only');
    const operator = objects.find((o) => o.kind === 'Deployment' && !o.metadata.name.endsWith('-dashboard'));
    const selector = (operator as unknown as { spec: { selector: { matchLabels: Record<string, string> } } }).spec.selector.matchLabels;
    const dashLabels = (dash as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
    assert.ok(Object.entries(selector).some(([k, v]) => dashLabels[k] !== v), 'the operator selector does not match dashboard pods');
    await assert.rejects(render({ dashboard: { enabled: true } }), /dashboard.enabled needs dashboard.redisUrl or redisSecret.create/);
  });

  it('renders every option where it belongs', async () => {
    const objects = await render(everyOption);
    const deployment = find(objects, 'Deployment', 'jobs-operator');
    const spec = podSpec(deployment);
    const container = spec.containers[0] as Container;
    assert.equal(container.image, 'registry.example.com/forkpool/operator:0.1.0-rc.1');
    assert.equal(container.imagePullPolicy, 'Always');
    assert.equal((deployment as unknown as { spec: { replicas: number } }).spec.replicas, 3);
    assert.deepEqual(spec['imagePullSecrets'], [{ name: 'regcred' }]);
    assert.deepEqual(spec['nodeSelector'], everyOption['nodeSelector']);
    assert.deepEqual(spec['tolerations'], everyOption['tolerations']);
    assert.deepEqual(spec['affinity'], everyOption['affinity']);
    assert.deepEqual(container['resources'], everyOption['resources']);
    assert.equal(spec['serviceAccountName'], 'jobs-operator-sa');
    const env = envOf(deployment);
    assert.deepEqual([env['LEADER_ELECTION'], env['LEADER_ELECTION_ID'], env['LOG_LEVEL'], env['PORT']], ['true', 'jobs-leader', 'debug', '9090']);
    const template = (deployment as unknown as { spec: { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } } }).spec.template.metadata;
    assert.equal(template.labels['team'], 'jobs');
    assert.equal(template.annotations['example.com/team'], 'jobs');
    assert.equal(find(objects, 'ServiceAccount', 'jobs-operator-sa')?.metadata.annotations?.['example.com/owner'], 'ops');
    assert.deepEqual((find(objects, 'PodDisruptionBudget') as unknown as { spec: { minAvailable: string } }).spec.minAvailable, '50%');
    const service = find(objects, 'Service', 'jobs-operator-metrics') as unknown as { metadata: { annotations: Record<string, string> }; spec: { ports: { port: number }[] } };
    assert.equal(service.spec.ports[0]?.port, 9090);
    assert.equal(service.metadata.annotations['prometheus.io/scrape'], 'true');
    const dashboard = find(objects, 'Deployment', 'jobs-operator-dashboard');
    assert.deepEqual(envOf(dashboard), {
      REDIS_URL: 'redis://redis:6379/1', RESQUE_NAMESPACE: 'jobs', FORKPOOL_DASHBOARD_TOKEN: { secretKeyRef: { name: 'dashboard-token', key: 'secret' } },
    });
    assert.equal((find(objects, 'Service', 'jobs-operator-dashboard') as unknown as { spec: { ports: { port: number }[] } }).spec.ports[0]?.port, 8080);
    const monitor = find(objects, 'ServiceMonitor') as unknown as { metadata: { labels: Record<string, string> }; spec: { endpoints: Record<string, string>[] } };
    assert.equal(monitor.metadata.labels['release'], 'prometheus');
    assert.deepEqual(monitor.spec.endpoints[0], { port: 'http-metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s' });
    const secret = find(objects, 'Secret', 'jobs-redis') as unknown as { stringData: Record<string, string> };
    assert.deepEqual(secret.stringData, { 'redis-url': 'redis://:secret@redis:6379/0' });
    const pool = find(objects, 'JobPool', 'demo') as unknown as { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> };
    assert.equal(pool.metadata.annotations['helm.sh/hook'], 'post-install,post-upgrade');
    assert.deepEqual(pool.spec['redis'], { urlFrom: { secretKeyRef: { name: 'jobs-redis', key: 'redis-url' } } });
    assert.deepEqual(pool.spec['queues'], ['critical', 'default']);
    assert.deepEqual(pool.spec['scaling'], { minReplicas: 1, maxReplicas: 3 });
    assert.equal(find(objects, 'CustomResourceDefinition')?.metadata.annotations, undefined);
    assert.equal(find(objects, 'Role', 'jobs-operator-leader-election') !== undefined, true);
  });

  it('puts the example pool and the Redis Secret in the watched namespace, where the operator looks', async () => {
    const objects = await render({ watchNamespace: 'apps', examplePool: { enabled: true }, redisSecret: { create: true, url: 'redis://r:6379' } });
    assert.equal(find(objects, 'JobPool')?.metadata.namespace, 'apps');
    assert.equal(find(objects, 'Secret')?.metadata.namespace, 'apps');
    assert.equal(find(await render({ examplePool: { enabled: true } }), 'JobPool')?.metadata.namespace, 'forkpool-system');
  });

  it('elects a leader with several replicas, adds a PodDisruptionBudget, and replaces a lone replica with Recreate without one', async () => {
    const one = await render();
    assert.equal(find(one, 'PodDisruptionBudget'), undefined, 'a budget over one pod blocks node drains');
    const two = await render({ replicas: 2 });
    assert.equal(envOf(find(two, 'Deployment'))['LEADER_ELECTION'], 'true');
    assert.deepEqual((find(two, 'PodDisruptionBudget') as unknown as { spec: unknown }).spec, {
      minAvailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'forkpool', 'app.kubernetes.io/instance': 'forkpool' } },
    });
    assert.equal(find(await render({ replicas: 2, podDisruptionBudget: { enabled: false } }), 'PodDisruptionBudget'), undefined);
    const alone = await render({ leaderElection: { enabled: false } });
    const deployment = find(alone, 'Deployment') as unknown as { spec: { strategy: unknown } };
    assert.equal(envOf(find(alone, 'Deployment'))['LEADER_ELECTION'], 'false');
    assert.deepEqual(deployment.spec.strategy, { type: 'Recreate' });
    assert.equal(find(alone, 'Role'), undefined, 'no Lease permissions without leader election');
  });

  it('uses an existing ServiceAccount when told to, and creates no RBAC when told not to', async () => {
    const objects = await render({ serviceAccount: { create: false, name: 'ops' }, rbac: { create: false } });
    assert.equal(find(objects, 'ServiceAccount'), undefined);
    assert.equal(podSpec(find(objects, 'Deployment'))['serviceAccountName'], 'ops');
    assert.deepEqual(objects.filter((o) => /Role/.test(o.kind)), []);
    const missing = await helm(['template', 'forkpool', chartDir, '--set', 'serviceAccount.create=false']);
    assert.match(missing.stderr, /serviceAccount.name is required when serviceAccount.create is false/);
  });

  it('packages into a chart that holds the CRD itself and renders the same', async () => {
    const out = scratchDir('package-');
    const packaged = await helm(['package', chartDir, '--destination', out]);
    assert.equal(packaged.code, 0, packaged.stderr);
    const archive = join(out, 'forkpool-0.1.0.tgz');
    const listing = await run('/usr/bin/tar', ['-tvzf', archive]);
    const entry = listing.stdout.split('\n').find((l) => l.endsWith('forkpool/files/jobpool-crd.yaml'));
    assert.ok(entry?.startsWith('-'), `the CRD is a regular file in the archive: ${entry}`);
    const content = await run('/usr/bin/tar', ['-xzOf', archive, 'forkpool/files/jobpool-crd.yaml']);
    assert.equal(content.stdout, readFileSync(join(root, 'crds/jobpool.yaml'), 'utf8'));
    assert.deepEqual(await render({}, { chart: archive }), await render());
    const lint = await helm(['lint', '--strict', archive]);
    assert.equal(lint.code, 0, lint.stdout);
  });
});
