// What the chart's tests share: the chart's path, helm and kubectl from test/cluster/bin/, and
// `helm template` parsed into objects.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMap, isScalar, parseAllDocuments, parseDocument, type YAMLMap } from 'yaml';
import { binDir } from '../cluster/cluster.ts';
import { loadConfig } from '../../operator/src/config.ts';
import type { TemplatePolicy } from '../../operator/src/template-policy.ts';
import { sleep, until } from '../helpers/wait.ts';

export const root = new URL('../../', import.meta.url).pathname;
export const chartDir = join(root, 'helm/forkpool');
export const helmBin = join(binDir, 'helm');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never rejects, the exit code tells. */
export function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<RunResult> {
  if (!existsSync(cmd)) throw new Error(`${cmd} is missing: build the test control plane with \`bash test/cluster/build.sh\``);
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...options.env }, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** A temp dir removed when the process exits. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(helmHome, prefix));
}

/** helm with its caches and config in a throw-away dir, never the developer's own. */
export function helm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(helmBin, args, { env: { HELM_CACHE_HOME: helmHome, HELM_CONFIG_HOME: helmHome, HELM_DATA_HOME: helmHome, ...env } });
}
const helmHome = mkdtempSync(join(tmpdir(), 'forkpool-helm-'));
process.on('exit', () => rmSync(helmHome, { recursive: true, force: true }));

/**
 * A copy of the chart to edit, in a temp dir, with every symbolic link replaced by a copy of its
 * target: writing through the CRD's link would edit the repository's crds/jobpool.yaml (cpSync's
 * `dereference` does not reach links inside the tree).
 */
export function chartCopy(): string {
  const copy = join(mkdtempSync(join(helmHome, 'chart-')), 'forkpool');
  cpSync(chartDir, copy, { recursive: true });
  const replaceLinks = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) {
        const content = readFileSync(path);
        rmSync(path);
        writeFileSync(path, content);
      } else if (stat.isDirectory()) {
        replaceLinks(path);
      }
    }
  };
  replaceLinks(copy);
  return copy;
}

/** Writes values to a temp file (JSON is YAML) for `-f`. */
export function valuesFile(values: Record<string, unknown>): string {
  const file = join(helmHome, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** `helm template` output as text; throws with helm's message when it fails. */
export async function templateText(values: Record<string, unknown> = {}, options: { chart?: string; namespace?: string } = {}): Promise<string> {
  const result = await helm(['template', 'forkpool', options.chart ?? chartDir, '--namespace', options.namespace ?? 'forkpool-system', '-f', valuesFile(values)]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return result.stdout;
}

/** `helm template` parsed into objects. */
export async function render(values: Record<string, unknown> = {}, options: { chart?: string; namespace?: string } = {}): Promise<K8sObject[]> {
  return parseAllDocuments(await templateText(values, options))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/**
 * NOTES.txt as `helm install` would print it for these values, rendered without a cluster: in a copy of
 * the chart, NOTES.txt becomes a named template that a ConfigMap includes.
 */
export async function renderNotes(values: Record<string, unknown> = {}, options: { namespace?: string } = {}): Promise<string> {
  const copy = chartCopy();
  const notes = readFileSync(join(copy, 'templates/NOTES.txt'), 'utf8');
  rmSync(join(copy, 'templates/NOTES.txt'));
  writeFileSync(join(copy, 'templates/_notes-check.tpl'), `{{- define "notes-check" -}}\n${notes}{{- end -}}\n`);
  writeFileSync(join(copy, 'templates/notes-check.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes-check }\ndata:\n  notes: {{ include "notes-check" . | quote }}\n');
  const objects = await render(values, { chart: copy, namespace: options.namespace });
  return (find(objects, 'ConfigMap', 'notes-check') as unknown as { data: { notes: string } }).data.notes;
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

/** The template policy the operator reads from the environment the chart gives its container, or the error it stops with. */
export function operatorTemplatePolicy(objects: K8sObject[]): TemplatePolicy | string {
  type Container = { name: string; env?: { name: string; value?: string }[] };
  const containers = objects.filter((o) => o.kind === 'Deployment').flatMap((d) => (d as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec.containers);
  const env = (containers.find((c) => c.name === 'operator')?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]);
  const loaded = loadConfig(Object.fromEntries(env) as NodeJS.ProcessEnv);
  return loaded.ok ? loaded.config.templatePolicy : loaded.error;
}

/** Every documented option turned on or away from its default, for the render tests. */
export const everyOption: Record<string, unknown> = {
  nameOverride: 'fp',
  fullnameOverride: 'jobs-operator',
  image: { repository: 'registry.example.com/forkpool/operator', tag: '0.1.0-rc.1', pullPolicy: 'Always' },
  imagePullSecrets: [{ name: 'regcred' }],
  replicas: 3,
  leaderElection: { enabled: true, leaseName: 'jobs-leader' },
  logLevel: 'debug',
  port: 9090,
  resources: { requests: { cpu: '100m', memory: '200Mi' }, limits: { cpu: '1', memory: '300Mi' } },
  livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 20 },
  readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 7 },
  podAnnotations: { 'example.com/team': 'jobs' },
  podLabels: { team: 'jobs' },
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ops', effect: 'NoSchedule' }],
  affinity: {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'fp' } } } },
      ],
    },
  },
  serviceAccount: { create: true, name: 'jobs-operator-sa', annotations: { 'example.com/owner': 'ops' } },
  rbac: { create: true, readSecrets: false, aggregateClusterRoles: true },
  templatePolicy: {
    allowPrivileged: true,
    allowPrivilegeEscalation: true,
    allowHostNamespaces: true,
    allowHostPath: true,
    allowedCapabilities: ['NET_BIND_SERVICE', 'SYS_PTRACE'],
    allowedServiceAccountNames: ['default', 'jobs'],
  },
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
  priorityClassName: 'jobs-high',
  strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
  extraEnv: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/forkpool/ca/ca.crt' }],
  extraVolumes: [{ name: 'ca', configMap: { name: 'corporate-ca' } }],
  extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/forkpool/ca', readOnly: true }],
  podDisruptionBudget: { enabled: true, minAvailable: '50%' },
  metrics: {
    service: { enabled: true, port: 9090, annotations: { 'prometheus.io/scrape': 'true' } },
    serviceMonitor: { enabled: true, interval: '15s', scrapeTimeout: '10s', labels: { release: 'prometheus' } },
    podMonitor: { enabled: true, container: 'jobs', port: 9200, interval: '20s', scrapeTimeout: '5s', labels: { release: 'prometheus' } },
    prometheusRule: {
      enabled: true, labels: { release: 'prometheus' }, severity: 'page', jobWaitSeconds: 120, backlogStuckFor: '30m', failureRatio: 0.25, saturatedFor: '20m', redisUnreachableFor: '10m',
    },
  },
  crds: { install: true, keep: false },
  redisSecret: { create: true, name: 'jobs-redis', key: 'redis-url', url: 'redis://:secret@redis:6379/0' },
  examplePool: { enabled: true, name: 'demo', queues: ['critical', 'default'], image: 'example.com/jobs:2', redisUrl: 'redis://redis:6379/1', minReplicas: 1, maxReplicas: 3 },
  dashboard: {
    enabled: true, redisUrl: 'redis://redis:6379/1', resqueNamespace: 'jobs', port: 8088,
    tokenSecret: { name: 'dashboard-token', key: 'secret' }, tokenReads: true, allowedHosts: ['.corp.example.com'], service: { port: 8080 },
    ingress: { enabled: true, className: 'nginx', hosts: ['jobs.example.com'], tls: [{ secretName: 'jobs-tls', hosts: ['jobs.example.com'] }], annotations: { 'example.com/auth': 'sso' } },
    resources: { requests: { cpu: '20m', memory: '80Mi' } }, podAnnotations: { 'example.com/team': 'jobs' }, podLabels: { team: 'jobs' },
    nodeSelector: { pool: 'tools' }, tolerations: [{ key: 'tools', operator: 'Exists', effect: 'NoSchedule' }],
    affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['ops'] }] } }] } },
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }], priorityClassName: 'tools-low',
  },
};

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
}

export interface DocumentedValue {
  /** Dotted path, e.g. `image.tag`. */
  path: string;
  /** The `# --` comment above it, without the marker; undefined when there is none. */
  comment: string | undefined;
  /** Its default, as JSON. */
  defaultJson: string;
}

/**
 * The values of values.yaml, down to the leaves the schema describes (a free-form map such as
 * `resources` is one value), each with the comment above it.
 */
export function documentedValues(): DocumentedValue[] {
  const doc = parseDocument(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as SchemaNode;
  const found: DocumentedValue[] = [];
  const walk = (map: YAMLMap, node: SchemaNode | undefined, prefix: string): void => {
    map.items.forEach((pair, i) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const sub = node?.properties?.[key];
      if (sub?.properties !== undefined && isMap(pair.value)) {
        walk(pair.value, sub, `${prefix}${key}.`);
        return;
      }
      // The comment above a map's first key belongs to the map in the yaml library's model.
      const before = (isScalar(pair.key) ? pair.key.commentBefore : undefined) ?? (i === 0 ? map.commentBefore : undefined) ?? '';
      const marker = before.lastIndexOf(' -- ');
      const comment = marker < 0 ? undefined : before.slice(marker + 4).replace(/\n /g, ' ').trim();
      found.push({ path: `${prefix}${key}`, comment, defaultJson: JSON.stringify(pair.value === null ? null : (pair.value as { toJSON(): unknown }).toJSON()) });
    });
  };
  walk(doc.contents as YAMLMap, schema, '');
  return found;
}

/** The dotted paths of the schema's leaves (where a free-form map or a list is one leaf). */
export function schemaLeaves(): string[] {
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as SchemaNode;
  const leaves: string[] = [];
  const walk = (node: SchemaNode, prefix: string): void => {
    for (const [key, sub] of Object.entries(node.properties ?? {})) {
      if (sub.properties !== undefined) walk(sub, `${prefix}${key}.`);
      else leaves.push(`${prefix}${key}`);
    }
  };
  walk(schema, '');
  return leaves;
}

export { sleep, until };
