// The chart without a cluster: version, lint, the schema's refusals, the one-source CRD, what each
// value renders, and `helm package`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Histogram } from 'prom-client';
import { createMetrics as operatorMetrics } from '../../operator/src/metrics.ts';
import { DEFAULT_TEMPLATE_POLICY } from '../../operator/src/template-policy.ts';
import { findJobModule, loadJob } from '../../worker-image/src/jobs.ts';
import { createMetrics as workerMetrics } from '../../worker-image/src/metrics.ts';
import { chartDir, documentedValues, everyOption, find, helm, operatorTemplatePolicy, render, renderNotes, root, run, schemaLeaves, scratchDir, valuesFile, type K8sObject } from './chart.ts';

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
      'ClusterRole/forkpool-edit',
      'ClusterRole/forkpool-view',
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
      TEMPLATE_POLICY_ALLOW_PRIVILEGED: 'false',
      TEMPLATE_POLICY_ALLOW_PRIVILEGE_ESCALATION: 'false',
      TEMPLATE_POLICY_ALLOW_HOST_NAMESPACES: 'false',
      TEMPLATE_POLICY_ALLOW_HOST_PATH: 'false',
      TEMPLATE_POLICY_ALLOWED_CAPABILITIES: 'NET_BIND_SERVICE',
      TEMPLATE_POLICY_ALLOWED_SERVICE_ACCOUNTS: '*',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    assert.deepEqual(operatorTemplatePolicy(objects), DEFAULT_TEMPLATE_POLICY);
    for (const o of objects) {
      assert.equal(o.metadata.labels?.['app.kubernetes.io/name'], 'forkpool', `${o.kind} labels`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'forkpool', `${o.kind} labels`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/version'], '0.1.0', `${o.kind} labels`);
    }
  });

  it('renders the optional dashboard: read-only by default, no API access, pods no operator selector picks', async () => {
    const off = await render({});
    assert.deepEqual(off.filter((o) => /dashboard/.test(o.metadata.name) || o.metadata.labels?.['app.kubernetes.io/component'] === 'dashboard').map((o) => o.kind), [], 'off by default');
    const objects = await render({ dashboard: { enabled: true, redisUrl: 'redis://redis:6379/0' } });
    const dash = find(objects, 'Deployment', 'forkpool-dashboard');
    assert.ok(dash, 'a dashboard Deployment, named as the off check expects');
    assert.ok(find(objects, 'Service', 'forkpool-dashboard'));
    assert.equal(objects.filter((o) => o.kind === 'Ingress').length, 0, 'no Ingress unless asked');
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
    // Probes: ready while Redis answers, alive while the server answers.
    const probes = container as unknown as { readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } } };
    assert.deepEqual([probes.readinessProbe.httpGet.path, probes.livenessProbe.httpGet.path], ['/readyz', '/livez']);
    const command = container?.['command'] as string[];
    assert.equal(command[command.indexOf('--allowed-host') + 1],
      'forkpool-dashboard,forkpool-dashboard.forkpool-system,forkpool-dashboard.forkpool-system.svc,forkpool-dashboard.forkpool-system.svc.cluster.local', 'its Service\'s names pass the Host check');
    assert.ok(!command.includes('--token-reads'));
    await assert.rejects(render({ dashboard: { enabled: true, redisUrl: 'redis://r:6379', tokenReads: true } }), /dashboard.tokenReads needs dashboard.tokenSecret.name/);
    await assert.rejects(render({ dashboard: { enabled: true, redisUrl: 'redis://r:6379', ingress: { enabled: true } } }), /dashboard.ingress.enabled needs dashboard.ingress.hosts/);
  });

  it('runs the dashboard beside the Redis Secret it reads: in watchNamespace when set', async () => {
    const objects = await render({ watchNamespace: 'apps', redisSecret: { create: true, url: 'redis://redis:6379/0' }, dashboard: { enabled: true, tokenSecret: { name: 'dash-token' } } });
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-redis'));
    assert.equal(secret?.metadata.namespace, 'apps');
    const dash = find(objects, 'Deployment', 'forkpool-dashboard');
    assert.equal(dash?.metadata.namespace, 'apps', 'a pod reads Secrets of its own namespace only');
    assert.deepEqual(envOf(dash)['REDIS_URL'], { secretKeyRef: { name: secret?.metadata.name, key: 'url' } });
    assert.equal(find(objects, 'Service', 'forkpool-dashboard')?.metadata.namespace, 'apps');
    const command = podSpec(dash).containers[0]?.['command'] as string[];
    assert.match(command[command.indexOf('--allowed-host') + 1] ?? '', /^forkpool-dashboard,forkpool-dashboard\.apps,/);
    assert.match(await renderNotes({ watchNamespace: 'apps', redisSecret: { create: true, url: 'redis://r:6379' }, dashboard: { enabled: true } }), /kubectl --namespace apps port-forward svc\/forkpool-dashboard/);
  });

  it('gives the dashboard its Redis CA, client certificate, ACL user and sentinels from Secrets, as worker pods get them', async () => {
    const objects = await render({
      dashboard: {
        enabled: true, redisUrl: 'rediss://unused:6380/0',
        redisTls: { caSecret: 'redis-ca', caKey: 'root.pem', certSecret: 'dashboard-tls', serverName: 'redis.internal' },
        redisAuth: { secret: 'dashboard-redis', usernameKey: 'user' },
        redisSentinel: { masterName: 'jobs', sentinels: ['sentinel-0:26379', 'sentinel-1:26379'], passwordSecret: 'sentinel' },
      },
    });
    const dash = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-dashboard'));
    assert.deepEqual(envOf(dash), {
      REDIS_URL: 'rediss://unused:6380/0', RESQUE_NAMESPACE: 'resque',
      REDIS_TLS_CA_FILE: '/etc/forkpool/redis-ca/ca.crt', REDIS_TLS_CERT_FILE: '/etc/forkpool/redis-client-cert/tls.crt',
      REDIS_TLS_KEY_FILE: '/etc/forkpool/redis-client-cert/tls.key', REDIS_TLS_SERVERNAME: 'redis.internal',
      REDIS_USERNAME: { secretKeyRef: { name: 'dashboard-redis', key: 'user' } }, REDIS_PASSWORD: { secretKeyRef: { name: 'dashboard-redis', key: 'password' } },
      REDIS_SENTINELS: 'sentinel-0:26379,sentinel-1:26379', REDIS_SENTINEL_MASTER: 'jobs',
      REDIS_SENTINEL_PASSWORD: { secretKeyRef: { name: 'sentinel', key: 'password' } },
    });
    const spec = podSpec(dash);
    assert.deepEqual(spec['volumes'], [
      { name: 'redis-ca', secret: { secretName: 'redis-ca', items: [{ key: 'root.pem', path: 'ca.crt' }] } },
      { name: 'redis-client-cert', secret: { secretName: 'dashboard-tls', items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } },
    ]);
    assert.deepEqual(spec.containers[0]?.['volumeMounts'], [
      { name: 'redis-ca', mountPath: '/etc/forkpool/redis-ca', readOnly: true },
      { name: 'redis-client-cert', mountPath: '/etc/forkpool/redis-client-cert', readOnly: true },
    ]);
    await assert.rejects(render({ dashboard: { enabled: true, redisUrl: 'redis://r:6379', redisSentinel: { masterName: 'jobs' } } }),
      /dashboard.redisSentinel.masterName needs dashboard.redisSentinel.sentinels/);
  });

  it('gives the dashboard the Redis Cluster nodes, and refuses them beside sentinels', async () => {
    const objects = await render({ dashboard: { enabled: true, redisUrl: 'redis://unused:6379', resqueNamespace: '{resque}', redisCluster: { nodes: ['redis-0:6379', 'redis-1:6379'] } } });
    const dash = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-dashboard'));
    assert.deepEqual(envOf(dash), { REDIS_URL: 'redis://unused:6379', RESQUE_NAMESPACE: '{resque}', REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379' });
    await assert.rejects(render({ dashboard: { enabled: true, redisUrl: 'redis://r:6379', redisCluster: { nodes: ['r:6379'] }, redisSentinel: { masterName: 'jobs', sentinels: ['s:26379'] } } }),
      /dashboard.redisCluster.nodes and dashboard.redisSentinel exclude each other/);
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
    assert.equal(spec['priorityClassName'], 'jobs-high');
    assert.deepEqual(spec['topologySpreadConstraints'], [{
      maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'fp', 'app.kubernetes.io/instance': 'forkpool' } },
    }], 'a constraint without a labelSelector spreads the operator pods');
    assert.deepEqual((deployment as unknown as { spec: { strategy: unknown } }).spec.strategy, everyOption['strategy']);
    assert.deepEqual(spec['volumes'], everyOption['extraVolumes']);
    assert.deepEqual(container['volumeMounts'], everyOption['extraVolumeMounts']);
    assert.equal(spec['serviceAccountName'], 'jobs-operator-sa');
    const env = envOf(deployment);
    assert.deepEqual([env['LEADER_ELECTION'], env['LEADER_ELECTION_ID'], env['LOG_LEVEL'], env['PORT']], ['true', 'jobs-leader', 'debug', '9090']);
    assert.equal(env['NODE_EXTRA_CA_CERTS'], '/etc/forkpool/ca/ca.crt');
    // The operator's policy has the values' names and values.
    assert.deepEqual(operatorTemplatePolicy(objects), everyOption['templatePolicy']);
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
    const dashSpec = podSpec(dashboard);
    const dashValues = everyOption['dashboard'] as Record<string, unknown>;
    for (const key of ['nodeSelector', 'tolerations', 'affinity', 'topologySpreadConstraints', 'priorityClassName']) assert.deepEqual(dashSpec[key], dashValues[key], `dashboard.${key}`);
    const dashTemplate = (dashboard as unknown as { spec: { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } } }).spec.template.metadata;
    assert.deepEqual([dashTemplate.labels['team'], dashTemplate.annotations['example.com/team']], ['jobs', 'jobs']);
    const dashCommand = dashSpec.containers[0]?.['command'] as string[];
    assert.ok(dashCommand.includes('--token-reads'));
    assert.match(dashCommand[dashCommand.indexOf('--allowed-host') + 1] ?? '', /,jobs\.example\.com,\.corp\.example\.com$/, 'the Ingress hosts and allowedHosts pass the Host check');
    const ingress = find(objects, 'Ingress', 'jobs-operator-dashboard') as unknown as { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> };
    assert.deepEqual(ingress.metadata.annotations, { 'example.com/auth': 'sso' });
    assert.deepEqual(ingress.spec, {
      ingressClassName: 'nginx',
      tls: [{ secretName: 'jobs-tls', hosts: ['jobs.example.com'] }],
      rules: [{ host: 'jobs.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'jobs-operator-dashboard', port: { name: 'http' } } } }] } }],
    });
    const monitor = find(objects, 'ServiceMonitor') as unknown as { metadata: { labels: Record<string, string> }; spec: { endpoints: Record<string, string>[] } };
    assert.equal(monitor.metadata.labels['release'], 'prometheus');
    assert.deepEqual(monitor.spec.endpoints[0], { port: 'http-metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s', honorLabels: true });
    type Relabel = { sourceLabels: string[]; regex: string; replacement?: string; targetLabel?: string; action?: string };
    const podMonitor = find(objects, 'PodMonitor', 'jobs-operator-workers') as unknown as { metadata: { labels: Record<string, string> }; spec: { podMetricsEndpoints: { interval: string; scrapeTimeout: string; relabelings: Relabel[] }[] } };
    assert.equal(podMonitor.metadata.labels['release'], 'prometheus');
    const endpoint = podMonitor.spec.podMetricsEndpoints[0];
    assert.deepEqual([endpoint?.interval, endpoint?.scrapeTimeout], ['20s', '5s']);
    assert.deepEqual(endpoint?.relabelings.slice(0, 2).map((r) => r.regex ?? ''), ['jobs;(9200)?', '([^:]+)']);
    assert.equal(endpoint?.relabelings[1]?.replacement, '${1}:9200');
    const rule = find(objects, 'PrometheusRule', 'jobs-operator') as unknown as { metadata: { labels: Record<string, string> }; spec: { groups: { rules: { alert: string; expr: string; for: string; labels: Record<string, string> }[] }[] } };
    assert.equal(rule.metadata.labels['release'], 'prometheus');
    const alerts = Object.fromEntries(rule.spec.groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));
    assert.match(alerts['ForkpoolJobsWaitingTooLong']?.expr ?? '', /> 120$/);
    assert.equal(alerts['ForkpoolBacklogStuck']?.for, '30m');
    assert.match(alerts['ForkpoolFailuresRising']?.expr ?? '', /> 0\.25$/);
    assert.match(alerts['ForkpoolPoolSaturated']?.expr ?? '', /\[20m\]/);
    assert.equal(alerts['ForkpoolRedisUnreachable']?.for, '10m');
    assert.ok(Object.values(alerts).every((a) => a.labels['severity'] === 'page'));
    const secret = find(objects, 'Secret', 'jobs-redis') as unknown as { stringData: Record<string, string> };
    assert.deepEqual(secret.stringData, { 'redis-url': 'redis://:secret@redis:6379/0' });
    const pool = find(objects, 'JobPool', 'demo') as unknown as { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> };
    assert.equal(pool.metadata.annotations['helm.sh/hook'], 'post-install,post-upgrade', 'without the JobPool kind in the cluster the pool is a hook');
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
  it('updates a rolling operator with the strategy asked for, and refuses a rolling one without leader election', async () => {
    const strategy = async (values: Record<string, unknown>): Promise<unknown> => (find(await render(values), 'Deployment') as unknown as { spec: { strategy?: unknown } }).spec.strategy;
    assert.equal(await strategy({}), undefined, "Kubernetes' default rolling update");
    assert.deepEqual(await strategy({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0 } } }), { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0 } });
    assert.deepEqual(await strategy({ leaderElection: { enabled: false } }), { type: 'Recreate' });
    await assert.rejects(render({ leaderElection: { enabled: false }, strategy: { type: 'RollingUpdate' } }), /strategy.type RollingUpdate needs leaderElection.enabled/);
    const typo = await helm(['template', 'forkpool', chartDir, '--set', 'strategy.type=Rolling']);
    assert.match(typo.stderr, /at '\/strategy\/type': value must be one of 'RollingUpdate', 'Recreate'/);
    const mount = await helm(['template', 'forkpool', chartDir, '--set', 'extraVolumeMounts[0].name=ca']);
    assert.match(mount.stderr, /at '\/extraVolumeMounts\/0': missing property 'mountPath'/);
  });

  it('scrapes the worker pods with a PodMonitor in the watched namespace, and refuses alerts without their metrics', async () => {
    const values = { watchNamespace: 'apps', metrics: { podMonitor: { enabled: true } } };
    const monitor = find(await render(values), 'PodMonitor') as unknown as { spec: { selector: unknown; namespaceSelector: unknown } };
    assert.deepEqual(monitor.spec.namespaceSelector, { matchNames: ['apps'] });
    assert.deepEqual(monitor.spec.selector, {
      matchLabels: { 'app.kubernetes.io/name': 'forkpool-worker', 'app.kubernetes.io/managed-by': 'forkpool-operator' },
      matchExpressions: [{ key: 'forkpool.io/pool', operator: 'Exists' }],
    });
    const all = find(await render({ metrics: { podMonitor: { enabled: true } } }), 'PodMonitor') as unknown as { spec: { namespaceSelector: unknown } };
    assert.deepEqual(all.spec.namespaceSelector, { any: true });
    assert.equal(find(await render(), 'PodMonitor'), undefined, 'off by default');
    await assert.rejects(render({ metrics: { prometheusRule: { enabled: true }, serviceMonitor: { enabled: true } } }),
      /metrics.prometheusRule.enabled needs metrics.serviceMonitor.enabled and metrics.podMonitor.enabled/);
  });

  it('alerts on what the operator and the workers really export, and each alert fires on its case only (promtool)', async () => {
    const promtool = '/usr/bin/promtool';
    assert.ok(existsSync(promtool), 'promtool is missing: apt-get install prometheus');
    const objects = await render({ metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true }, prometheusRule: { enabled: true } } });
    const rule = find(objects, 'PrometheusRule') as unknown as { spec: { groups: { name: string; rules: Record<string, unknown>[] }[] } };
    // Every series an alert reads is one that forkpool exports (a histogram as its _bucket series).
    const exported = new Set<string>();
    for (const registry of [operatorMetrics().registry, workerMetrics().registry]) {
      for (const m of await registry.getMetricsAsJSON()) exported.add(registry.getSingleMetric(m.name) instanceof Histogram ? `${m.name}_bucket` : m.name);
    }
    const used = new Set(rule.spec.groups.flatMap((g) => g.rules).flatMap((r) => String(r['expr']).match(/forkpool_\w+/g) ?? []));
    assert.ok(used.size >= 6, [...used].join(' '));
    for (const name of used) assert.ok(exported.has(name), `${name} is not a metric forkpool exports`);

    const dir = mkdtempSync(join(tmpdir(), 'forkpool-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
    const check = await run(promtool, ['check', 'rules', join(dir, 'rules.yaml')]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    // The alerts' expressions on made-up series (annotations are left out: the check above parsed their templates).
    writeFileSync(join(dir, 'expr.yaml'), stringify({ groups: rule.spec.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _, ...r }) => r) })) }));
    const series = (name: string, labels: Record<string, string>, values: string): { series: string; values: string } =>
      ({ series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`, values });
    const pool = (name: string): Record<string, string> => ({ namespace: 'apps', pool: name });
    const fired = (name: string, labels: Record<string, string>): Record<string, unknown> => ({ exp_labels: { severity: 'warning', ...labels } });
    const tests = {
      rule_files: ['expr.yaml'],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: [
          // queue wait: "slow" jobs wait 60-600 s, "quick" ones under 60 s
          series('forkpool_job_queue_wait_seconds_bucket', { ...pool('slow'), queue: 'q', le: '60' }, '0x40'),
          series('forkpool_job_queue_wait_seconds_bucket', { ...pool('slow'), queue: 'q', le: '600' }, '0+10x40'),
          series('forkpool_job_queue_wait_seconds_bucket', { ...pool('slow'), queue: 'q', le: '+Inf' }, '0+10x40'),
          series('forkpool_job_queue_wait_seconds_bucket', { ...pool('quick'), queue: 'q', le: '60' }, '0+10x40'),
          series('forkpool_job_queue_wait_seconds_bucket', { ...pool('quick'), queue: 'q', le: '600' }, '0+10x40'),
          series('forkpool_job_queue_wait_seconds_bucket', { ...pool('quick'), queue: 'q', le: '+Inf' }, '0+10x40'),
          // a backlog nobody works off, and one that is worked off
          series('forkpool_pool_queue_depth', pool('stuck'), '5x40'),
          series('forkpool_pool_desired_replicas', pool('stuck'), '1+0x40'),
          series('forkpool_pool_queue_depth', pool('busy'), '5x40'),
          series('forkpool_jobs_processed_total', { ...pool('busy'), queue: 'q', class: 'A' }, '0+3x40'),
          series('forkpool_pool_desired_replicas', pool('busy'), '1+0x40'),
          // failures: half of "bad"'s jobs, none of "good"'s
          series('forkpool_jobs_processed_total', { ...pool('bad'), queue: 'q', class: 'A' }, '0+10x40'),
          series('forkpool_jobs_failed_total', { ...pool('bad'), queue: 'q', class: 'A', exception: 'Error' }, '0+5x40'),
          series('forkpool_jobs_processed_total', { ...pool('good'), queue: 'q', class: 'A' }, '0+10x40'),
          series('forkpool_jobs_failed_total', { ...pool('good'), queue: 'q', class: 'A', exception: 'Error' }, '0x40'),
          // a growing backlog at a fixed size ("full"), and one the operator scales for ("growing")
          series('forkpool_pool_queue_depth', pool('full'), '10+10x40'),
          series('forkpool_pool_desired_replicas', pool('full'), '5x40'),
          series('forkpool_jobs_processed_total', { ...pool('full'), queue: 'q', class: 'A' }, '0+50x40'),
          series('forkpool_pool_queue_depth', pool('growing'), '10+10x40'),
          series('forkpool_pool_desired_replicas', pool('growing'), '1+1x40'),
          series('forkpool_jobs_processed_total', { ...pool('growing'), queue: 'q', class: 'A' }, '0+50x40'),
          // Redis polls failing on one operator pod, not on the other
          series('forkpool_redis_poll_errors_total', { namespace: 'forkpool-system', pod: 'op-1' }, '0+30x40'),
          series('forkpool_redis_poll_errors_total', { namespace: 'forkpool-system', pod: 'op-2' }, '0x40'),
        ],
        alert_rule_test: [
          { eval_time: '30m', alertname: 'ForkpoolJobsWaitingTooLong', exp_alerts: [fired('', { ...pool('slow'), queue: 'q' })] },
          { eval_time: '30m', alertname: 'ForkpoolBacklogStuck', exp_alerts: [fired('', pool('stuck'))] },
          { eval_time: '10m', alertname: 'ForkpoolBacklogStuck', exp_alerts: [] },
          { eval_time: '30m', alertname: 'ForkpoolFailuresRising', exp_alerts: [fired('', pool('bad'))] },
          { eval_time: '30m', alertname: 'ForkpoolPoolSaturated', exp_alerts: [fired('', pool('full'))] },
          { eval_time: '30m', alertname: 'ForkpoolRedisUnreachable', exp_alerts: [fired('', { namespace: 'forkpool-system', pod: 'op-1' })] },
          { eval_time: '3m', alertname: 'ForkpoolRedisUnreachable', exp_alerts: [] },
        ],
      }],
    };
    writeFileSync(join(dir, 'tests.yaml'), stringify(tests));
    const result = await run(promtool, ['test', 'rules', join(dir, 'tests.yaml')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it('makes the example pool a hook only while the JobPool kind is not served, and an adoptable release resource after', async () => {
    const values = valuesFile({ examplePool: { enabled: true } });
    const first = await render({ examplePool: { enabled: true } });
    const hook = find(first, 'JobPool');
    assert.equal(hook?.metadata.annotations?.['helm.sh/hook'], 'post-install,post-upgrade');
    assert.equal(hook?.metadata.annotations?.['helm.sh/hook-delete-policy'], 'hook-failed', 'never deleted before it is created again');
    assert.equal(hook?.metadata.annotations?.['meta.helm.sh/release-name'], 'forkpool', 'a later release adopts it');
    assert.equal(hook?.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
    const later = await helm(['template', 'forkpool', chartDir, '--namespace', 'forkpool-system', '-f', values, '--api-versions', 'forkpool.io/v1alpha1/JobPool']);
    assert.equal(later.code, 0, later.stderr);
    const pool = find(parseAllDocuments(later.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean), 'JobPool');
    assert.deepEqual(pool?.metadata.annotations, { 'helm.sh/resource-policy': 'keep' });
  });

  it('says in NOTES.txt only what is true of the values, with commands that name what was installed', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['defaults', {}],
      ['every option', everyOption],
      ['watched namespace, example pool, Redis Secret', { watchNamespace: 'apps', examplePool: { enabled: true }, redisSecret: { create: true, url: 'redis://r:6379' } }],
      ['no replica, no RBAC, no CRD', { replicas: 0, rbac: { create: false }, serviceAccount: { create: false, name: 'ops' }, crds: { install: false } }],
      ['secrets not readable, with a pool that reads one', { rbac: { readSecrets: false }, examplePool: { enabled: true }, redisSecret: { create: true, url: 'redis://r:6379' } }],
      ['workers scraped only', { metrics: { podMonitor: { enabled: true } } }],
    ];
    for (const [name, values] of cases) {
      const notes = await renderNotes(values);
      const objects = await render(values);
      const v = values as { replicas?: number; watchNamespace?: string; crds?: { install?: boolean; keep?: boolean }; rbac?: { create?: boolean; readSecrets?: boolean }; examplePool?: { enabled?: boolean; name?: string }; dashboard?: { enabled?: boolean } };
      const poolNs = v.watchNamespace ?? 'forkpool-system';
      // Each object a command names exists, in the namespace the command gives.
      for (const [, kind, objName, ns] of [...notes.matchAll(/^.*\b(deployment|svc)\/(\S+).*$/gm)].map((m) => [m[0], m[1], m[2], /(?:-n|--namespace) (\S+)/.exec(m[0])?.[1]])) {
        const found = objects.find((o) => o.kind === (kind === 'svc' ? 'Service' : 'Deployment') && o.metadata.name === objName);
        assert.ok(found, `${name}: NOTES names ${kind}/${objName}, which is not installed`);
        assert.equal(found.metadata.namespace, ns, `${name}: ${kind}/${objName}'s namespace`);
      }
      for (const m of notes.matchAll(/(?:PodMonitor|ServiceMonitor|PrometheusRule) (\S+)\/([^\s)]+)/g)) {
        assert.ok(objects.some((o) => o.metadata.namespace === m[1] && o.metadata.name === m[2]), `${name}: NOTES names ${m[0]}`);
      }
      for (const kind of ['PodMonitor', 'ServiceMonitor', 'PrometheusRule']) {
        assert.equal(notes.includes(`${kind} `), find(objects, kind) !== undefined, `${name}: NOTES mentions a ${kind} exactly when there is one`);
      }
      assert.equal(/rollout status/.test(notes), (v.replicas ?? 1) > 0, `${name}: "check the operator is up" only when it runs`);
      assert.equal(/runs no replica/.test(notes), v.replicas === 0, name);
      assert.equal(/CRD was not installed/.test(notes), v.crds?.install === false, name);
      assert.equal(/No RBAC was created/.test(notes), v.rbac?.create === false, name);
      assert.equal(/may not read Secrets/.test(notes), v.rbac?.readSecrets === false && v.rbac.create !== false, name);
      assert.equal(/keeps the JobPool CRD/.test(notes), v.crds?.keep !== false, name);
      const examplePool = find(objects, 'JobPool');
      if (v.examplePool?.enabled) {
        assert.ok(examplePool, name);
        assert.ok(notes.includes(`kubectl describe jobpool ${examplePool.metadata.name} -n ${examplePool.metadata.namespace}`), `${name}: describes the example pool where it is`);
        assert.equal(examplePool.metadata.namespace, poolNs);
      } else {
        assert.match(notes, /kubectl describe jobpool <name>/, name);
      }
      // Every command about pools looks where the operator looks.
      for (const line of notes.split('\n').filter((l) => /kubectl (get|describe|apply)\b.*jobpool/.test(l))) {
        if (v.watchNamespace) assert.match(line, new RegExp(`-n ${v.watchNamespace}\\b`), `${name}: ${line}`);
      }
      assert.equal(/dashboard/.test(notes), v.dashboard?.enabled === true, name);
    }
  });

  it("has examples/jobpool.yaml's schedules name jobs that examples/jobs holds", async () => {
    const example = parse(readFileSync(join(root, 'examples/jobpool.yaml'), 'utf8')) as { spec: { schedules: { class: string; args: unknown[] }[] } };
    assert.ok(example.spec.schedules.length > 0);
    for (const schedule of example.spec.schedules) {
      const path = findJobModule(join(root, 'examples/jobs'), schedule.class);
      assert.ok(path, `examples/jobs has no module for class ${schedule.class}`);
      const job = await loadJob(join(root, 'examples/jobs'), path);
      assert.ok('perform' in job, `${schedule.class}: ${JSON.stringify(job)}`);
      assert.equal(typeof (await job.perform(...schedule.args)), 'string', `${schedule.class} runs with the schedule's args`);
    }
  });
});
