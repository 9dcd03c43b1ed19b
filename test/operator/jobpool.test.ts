// The JobPool schema and the CRD generated from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { jobPoolSpecSchema, describeIssues, parseJobPool, pauseOf } from '../../operator/src/jobpool.ts';
import { renderCrd, jobPoolCrd } from '../../operator/src/crd.ts';

const root = new URL('../../', import.meta.url);
const minimal = {
  redis: { url: 'redis://redis:6379/0' },
  queues: ['mailers'],
  template: { spec: { containers: [{ name: 'worker', image: 'example.com/jobs:1' }] } },
};

test('the checked-in CRD is what the schema generates (run `npm run crds` after a schema change)', () => {
  assert.equal(readFileSync(new URL('crds/jobpool.yaml', root), 'utf8'), renderCrd());
});

test('defaults fill every optional field of a minimal spec', () => {
  const spec = jobPoolSpecSchema.parse(minimal);
  assert.equal(spec.redis.namespace, 'resque');
  assert.deepEqual(spec.worker, { concurrency: 1, jobsPerChild: 1, isolation: 'spawn', jobTimeoutSeconds: 300, maxChildMemoryMiB: 512 });
  assert.deepEqual(spec.scaling, {
    minReplicas: 0,
    maxReplicas: 10,
    jobsPerReplica: 10,
    pollIntervalSeconds: 2,
    scaleDownDelaySeconds: 60,
    behavior: { scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [] }, scaleDown: { selectPolicy: 'Max', policies: [] } },
  });
  assert.deepEqual(spec.retry, { attempts: 3, backoffSeconds: 15 });
  assert.deepEqual(spec.schedules, []);
  assert.equal(spec.replicas, undefined);
});

const bad: Record<string, { spec: unknown; field: string }> = {
  'no redis url at all': { spec: { ...minimal, redis: {} }, field: 'redis' },
  'both url and urlFrom': {
    spec: { ...minimal, redis: { url: 'redis://r', urlFrom: { secretKeyRef: { name: 's', key: 'url' } } } },
    field: 'redis',
  },
  'not a redis url': { spec: { ...minimal, redis: { url: 'http://r' } }, field: 'redis.url' },
  'no queues': { spec: { ...minimal, queues: [] }, field: 'queues' },
  'queue with a space': { spec: { ...minimal, queues: ['a b'] }, field: 'queues.0' },
  'no containers': { spec: { ...minimal, template: { spec: { containers: [] } } }, field: 'template.spec.containers' },
  'min above max': { spec: { ...minimal, scaling: { minReplicas: 5, maxReplicas: 2 } }, field: 'scaling' },
  'zero maxReplicas': { spec: { ...minimal, scaling: { maxReplicas: 0 } }, field: 'scaling.maxReplicas' },
  'fractional concurrency': { spec: { ...minimal, worker: { concurrency: 1.5 } }, field: 'worker.concurrency' },
  'unknown isolation': { spec: { ...minimal, worker: { isolation: 'thread' } }, field: 'worker.isolation' },
  'cron with 3 fields': {
    spec: { ...minimal, schedules: [{ name: 'n', cron: '* * *', queue: 'q', class: 'C' }] },
    field: 'schedules.0.cron',
  },
};
for (const [name, { spec, field }] of Object.entries(bad)) {
  test(`rejects a spec with ${name}, naming ${field}`, () => {
    const result = jobPoolSpecSchema.safeParse(spec);
    assert.equal(result.success, false);
    assert.ok(result.error);
    assert.match(describeIssues(result.error), new RegExp(`(^|; )${field.replaceAll('.', '\\.')}: `));
  });
}

test('parseJobPool reads an untyped object from the API server', () => {
  const obj = { apiVersion: 'forkpool.io/v1alpha1', kind: 'JobPool', metadata: { name: 'p', namespace: 'ns', uid: 'u', generation: 2 }, spec: minimal };
  const result = parseJobPool(obj);
  assert.ok(result.ok);
  assert.equal(result.pool.metadata.generation, 2);
  const broken = parseJobPool({ ...obj, spec: { ...minimal, queues: 'mailers' } });
  assert.ok(!broken.ok);
  assert.match(broken.error, /spec\.queues/);
});

test('the example JobPool is valid', () => {
  const doc = parse(readFileSync(new URL('examples/jobpool.yaml', root), 'utf8')) as { spec: unknown };
  assert.equal(jobPoolSpecSchema.safeParse(doc.spec).success, true);
});

/** Walks an OpenAPI schema, calling `visit` on every property with its path. */
function walk(node: Record<string, unknown>, path: string, visit: (path: string, node: Record<string, unknown>) => void): void {
  const props = node['properties'] as Record<string, Record<string, unknown>> | undefined;
  for (const [name, child] of Object.entries(props ?? {})) {
    visit(`${path}.${name}`, child);
    walk(child, `${path}.${name}`, visit);
  }
  const items = node['items'] as Record<string, unknown> | undefined;
  if (items !== undefined) walk(items, `${path}[]`, visit);
  const additional = node['additionalProperties'];
  if (typeof additional === 'object' && additional !== null) walk(additional as Record<string, unknown>, `${path}{}`, visit);
}

test('every spec and status field of the CRD has a description and is structural', () => {
  const crd = jobPoolCrd() as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
  const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
  const problems: string[] = [];
  walk(schema, '', (path, node) => {
    if (path === '.metadata') return;
    if (typeof node['description'] !== 'string') problems.push(`${path}: no description`);
    if (node['type'] === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) problems.push(`${path}: no type`);
    if (node['additionalProperties'] === false) problems.push(`${path}: additionalProperties false`);
    if (node['$ref'] !== undefined || node['anyOf'] !== undefined) problems.push(`${path}: not structural`);
  });
  assert.deepEqual(problems, []);
});

test('a schedule is caught up within 300 s and runs unless suspended, by default', () => {
  const spec = jobPoolSpecSchema.parse({ ...minimal, schedules: [{ name: 'n', cron: '0 3 * * *', queue: 'q', class: 'C' }] });
  assert.equal(spec.schedules[0]?.startingDeadlineSeconds, 300);
  assert.equal(spec.schedules[0]?.suspend, false);
});

const pauses: Record<string, { annotations: Record<string, string> | undefined; want: ReturnType<typeof pauseOf> }> = {
  'no annotations': { annotations: undefined, want: undefined },
  'paused "true" holds the size': { annotations: { 'forkpool.io/paused': 'true' }, want: { replicas: undefined } },
  'paused "false" is not paused': { annotations: { 'forkpool.io/paused': 'false' }, want: undefined },
  'paused-replicas sets the size': { annotations: { 'forkpool.io/paused': 'true', 'forkpool.io/paused-replicas': '3' }, want: { replicas: 3 } },
  'paused-replicas alone pauses, as in KEDA': { annotations: { 'forkpool.io/paused-replicas': '0' }, want: { replicas: 0 } },
  'a paused-replicas that is not a whole number holds the size': { annotations: { 'forkpool.io/paused-replicas': 'two' }, want: { replicas: undefined } },
};
for (const [name, { annotations, want }] of Object.entries(pauses)) {
  test(`pause: ${name}`, () => assert.deepEqual(pauseOf(annotations), want));
}
