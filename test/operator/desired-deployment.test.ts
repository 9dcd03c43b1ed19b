// The desired worker Deployment of a JobPool, and drift detection against a live one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobPoolSchema, type JobPool } from '../../operator/src/jobpool.ts';
import type { V1Deployment } from '@kubernetes/client-node';
import { desiredDeployment, isSubset, needsApply, redisSecretHash, REDIS_SECRET_HASH_ANNOTATION, SPEC_HASH_ANNOTATION, TMP_VOLUME } from '../../operator/src/desired-deployment.ts';

type Obj = Record<string, unknown>;

function pool(spec: Obj = {}): JobPool {
  return jobPoolSchema.parse({
    apiVersion: 'forkpool.io/v1alpha1',
    kind: 'JobPool',
    metadata: { name: 'mailers', namespace: 'apps', uid: 'uid-1', generation: 1 },
    spec: {
      redis: { url: 'redis://redis:6379/0' },
      queues: ['critical', 'mailers'],
      template: {
        metadata: { labels: { team: 'mail' }, annotations: { note: 'x' } },
        spec: { containers: [{ name: 'worker', image: 'img:1', env: [{ name: 'JOBS_DIR', value: '/jobs' }, { name: 'QUEUES', value: 'wrong' }, { name: 'POD_NAME', value: 'fixed' }] }] },
      },
      ...spec,
    },
  });
}
const podSpec = (d: V1Deployment) => d.spec!.template.spec!;
const envOf = (d: V1Deployment, i = 0): Record<string, unknown> =>
  Object.fromEntries((podSpec(d).containers[i]!.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

test('owner reference, labels, selector and replicas', () => {
  const d = desiredDeployment(pool(), 3);
  assert.equal(d.metadata!.name, 'mailers');
  assert.equal(d.metadata!.namespace, 'apps');
  assert.deepEqual(d.metadata!.ownerReferences, [
    { apiVersion: 'forkpool.io/v1alpha1', kind: 'JobPool', name: 'mailers', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
  ]);
  assert.deepEqual(d.spec!.selector, { matchLabels: { 'forkpool.io/pool': 'mailers' } });
  assert.equal(d.spec!.replicas, 3);
  assert.equal(d.spec!.template.metadata!.labels!['forkpool.io/pool'], 'mailers');
  assert.equal(d.spec!.template.metadata!.labels!['team'], 'mail');
  assert.equal(d.spec!.template.metadata!.annotations!['note'], 'x');
});

test('worker environment from the spec wins over the template\'s, other env stays', () => {
  const env = envOf(desiredDeployment(pool({ worker: { concurrency: 4, isolation: 'fork', jobTimeoutSeconds: 90 } }), 1));
  assert.deepEqual(env, {
    JOBS_DIR: '/jobs',
    REDIS_URL: 'redis://redis:6379/0',
    RESQUE_NAMESPACE: 'resque',
    QUEUES: 'critical,mailers',
    CONCURRENCY: '4',
    JOBS_PER_CHILD: '1',
    ISOLATION: 'fork',
    JOB_TIMEOUT_SECONDS: '90',
    MAX_CHILD_MEMORY_MB: '512',
    RETRY_ATTEMPTS: '3',
    RETRY_BACKOFF_SECONDS: '15',
    SHUTDOWN_TIMEOUT_SECONDS: '90',
    POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
  });
});

test('the Redis URL comes from the Secret with urlFrom', () => {
  const env = envOf(desiredDeployment(pool({ redis: { urlFrom: { secretKeyRef: { name: 'redis', key: 'url' } } } }), 1));
  assert.deepEqual(env['REDIS_URL'], { secretKeyRef: { name: 'redis', key: 'url' } });
});

test('the container named worker gets the environment, sidecars do not', () => {
  const p = pool({
    template: { spec: { containers: [{ name: 'proxy', image: 'p:1' }, { name: 'worker', image: 'w:1' }] } },
  });
  const d = desiredDeployment(p, 1);
  assert.equal(podSpec(d).containers[0]!.env, undefined);
  assert.equal(envOf(d, 1)['QUEUES'], 'critical,mailers');
});

const restricted = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
  readOnlyRootFilesystem: true,
};
const hardening: Record<string, { container?: Obj; pod?: Obj; want: Obj }> = {
  'nothing set: the restricted standard\'s values': { want: restricted },
  'the container\'s fields win, field by field': {
    container: { runAsUser: 2000, readOnlyRootFilesystem: false, capabilities: { add: ['NET_BIND_SERVICE'] }, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } },
    want: { ...restricted, runAsUser: 2000, readOnlyRootFilesystem: false, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] }, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } },
  },
  'a dropped-capability list of the template\'s stays as it is': { container: { capabilities: { drop: ['NET_RAW'] } }, want: { ...restricted, capabilities: { drop: ['NET_RAW'] } } },
  'the pod\'s fields are not overridden by container defaults': {
    pod: { runAsUser: 3000, runAsGroup: 3000, runAsNonRoot: true, seccompProfile: { type: 'Unconfined' } },
    want: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
  },
  'user 0 from the template gets no runAsNonRoot': { pod: { runAsUser: 0 }, want: { ...restricted, runAsUser: undefined, runAsNonRoot: undefined } },
  'an explicit runAsNonRoot false stays': { container: { runAsNonRoot: false }, want: { ...restricted, runAsNonRoot: false } },
  'a privileged container keeps privilege escalation and its capabilities': {
    container: { privileged: true },
    want: { ...restricted, privileged: true, allowPrivilegeEscalation: undefined, capabilities: undefined },
  },
  'a container adding CAP_SYS_ADMIN keeps privilege escalation': {
    container: { capabilities: { add: ['CAP_SYS_ADMIN'] } },
    want: { ...restricted, allowPrivilegeEscalation: undefined, capabilities: { add: ['CAP_SYS_ADMIN'], drop: ['ALL'] } },
  },
};
for (const [name, { container, pod, want }] of Object.entries(hardening)) {
  test(`the worker container's security context: ${name}`, () => {
    const spec: Obj = { containers: [{ name: 'worker', image: 'w:1', ...(container === undefined ? {} : { securityContext: container }) }] };
    if (pod !== undefined) spec['securityContext'] = pod;
    const d = desiredDeployment(pool({ template: { spec } }), 1);
    const expected = Object.fromEntries(Object.entries(want).filter(([, v]) => v !== undefined));
    assert.deepEqual(podSpec(d).containers[0]!.securityContext, expected);
    assert.deepEqual(podSpec(d).securityContext, pod, 'the pod\'s security context is the template\'s');
  });
}

test('only the worker container is hardened; sidecars and init containers keep what the template says', () => {
  const p = pool({
    template: { spec: { initContainers: [{ name: 'init', image: 'i:1' }], containers: [{ name: 'proxy', image: 'p:1' }, { name: 'worker', image: 'w:1' }] } },
  });
  const spec = podSpec(desiredDeployment(p, 1));
  assert.equal(spec.containers[0]!.securityContext, undefined);
  assert.equal(spec.initContainers![0]!.securityContext, undefined);
  assert.deepEqual(spec.containers[1]!.securityContext, restricted);
});

const tmp: Record<string, { container?: Obj; volumes?: Obj[]; wantVolumes: unknown; wantMounts: unknown }> = {
  'a read-only root filesystem gets an emptyDir at /tmp': {
    wantVolumes: [{ name: TMP_VOLUME, emptyDir: {} }],
    wantMounts: [{ name: TMP_VOLUME, mountPath: '/tmp' }],
  },
  'the template\'s own volumes and mounts stay, ours are added': {
    container: { volumeMounts: [{ name: 'cfg', mountPath: '/etc/app' }] },
    volumes: [{ name: 'cfg', configMap: { name: 'app' } }],
    wantVolumes: [{ name: 'cfg', configMap: { name: 'app' } }, { name: TMP_VOLUME, emptyDir: {} }],
    wantMounts: [{ name: 'cfg', mountPath: '/etc/app' }, { name: TMP_VOLUME, mountPath: '/tmp' }],
  },
  'a template that mounts /tmp keeps its own': {
    container: { volumeMounts: [{ name: 'scratch', mountPath: '/tmp/' }] },
    volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory' } }],
    wantVolumes: [{ name: 'scratch', emptyDir: { medium: 'Memory' } }],
    wantMounts: [{ name: 'scratch', mountPath: '/tmp/' }],
  },
  'a template volume named as ours is left alone': {
    volumes: [{ name: TMP_VOLUME, configMap: { name: 'x' } }],
    wantVolumes: [{ name: TMP_VOLUME, configMap: { name: 'x' } }],
    wantMounts: undefined,
  },
  'a writable root filesystem gets no /tmp volume': { container: { securityContext: { readOnlyRootFilesystem: false } }, wantVolumes: undefined, wantMounts: undefined },
};
for (const [name, { container, volumes, wantVolumes, wantMounts }] of Object.entries(tmp)) {
  test(`/tmp: ${name}`, () => {
    const spec: Obj = { containers: [{ name: 'worker', image: 'w:1', ...container }] };
    if (volumes !== undefined) spec['volumes'] = volumes;
    const d = desiredDeployment(pool({ template: { spec } }), 1);
    assert.deepEqual(podSpec(d).volumes, wantVolumes);
    assert.deepEqual(podSpec(d).containers[0]!.volumeMounts, wantMounts);
  });
}

const grace: Record<string, { template: number | undefined; timeout: number; want: number }> = {
  'no grace period set': { template: undefined, timeout: 300, want: 330 },
  'a shorter one is raised': { template: 30, timeout: 300, want: 330 },
  'a longer one stays': { template: 900, timeout: 300, want: 900 },
};
for (const [name, { template, timeout, want }] of Object.entries(grace)) {
  test(`terminationGracePeriodSeconds covers the job timeout: ${name}`, () => {
    const spec: Obj = { containers: [{ name: 'worker', image: 'w:1' }] };
    if (template !== undefined) spec['terminationGracePeriodSeconds'] = template;
    const d = desiredDeployment(pool({ template: { spec }, worker: { jobTimeoutSeconds: timeout } }), 1);
    assert.equal(podSpec(d).terminationGracePeriodSeconds, want);
  });
}

test('the spec hash changes with the spec, not with replicas', () => {
  const h = (p: JobPool, r: number): string | undefined => desiredDeployment(p, r).metadata!.annotations![SPEC_HASH_ANNOTATION];
  assert.equal(h(pool(), 1), h(pool(), 7));
  assert.notEqual(h(pool(), 1), h(pool({ queues: ['other'] }), 1));
});

test('desiredDeployment does not change the JobPool it reads', () => {
  const p = pool();
  const before = JSON.stringify(p);
  desiredDeployment(p, 2);
  assert.equal(JSON.stringify(p), before);
});

const subset: Record<string, { desired: unknown; live: unknown; want: boolean }> = {
  'equal scalars': { desired: 1, live: 1, want: true },
  'server defaults and others\' fields are not drift': { desired: { a: 1 }, live: { a: 1, b: 2 }, want: true },
  'a changed owned field is drift': { desired: { a: { b: 'x' } }, live: { a: { b: 'y' } }, want: false },
  'a missing owned field is drift': { desired: { a: 1 }, live: {}, want: false },
  'an extra list item is drift': { desired: { l: [{ n: 1 }] }, live: { l: [{ n: 1 }, { n: 2 }] }, want: false },
  'list items compared in order': { desired: { l: [{ n: 1 }] }, live: { l: [{ n: 1, d: 0 }] }, want: true },
  'a number stored as text is not drift': { desired: { port: 8080 }, live: { port: '8080' }, want: true },
};
for (const [name, { desired, live, want }] of Object.entries(subset)) {
  test(`isSubset: ${name}`, () => assert.equal(isSubset(desired, live), want));
}

test('needsApply: missing, in sync, drifted, other replicas', () => {
  const d = desiredDeployment(pool(), 2);
  assert.equal(needsApply(d, undefined), true);
  const live = structuredClone(d);
  live.status = { replicas: 2 };
  live.metadata!.annotations!['user'] = 'kept';
  assert.equal(needsApply(d, live), false);
  // Objects of a list carry no apiVersion and kind.
  assert.equal(needsApply(d, { ...live, apiVersion: undefined, kind: undefined }), false);
  podSpec(live).containers[0]!.env![1]!.value = 'drifted';
  assert.equal(needsApply(d, live), true);
  assert.equal(needsApply(desiredDeployment(pool(), 3), structuredClone(d)), true);
});

test('a live Deployment the server canonicalized or trimmed needs no apply', () => {
  const cases: [string, unknown, unknown, boolean][] = [
    ['1000m is 1', { resources: { limits: { cpu: '1000m' } } }, { resources: { limits: { cpu: '1' } } }, true],
    ['1024Mi is 1Gi', { resources: { requests: { memory: '1024Mi' } } }, { resources: { requests: { memory: '1Gi' } } }, true],
    ['0.5 is 500m', { resources: { requests: { cpu: 0.5 } } }, { resources: { requests: { cpu: '500m' } } }, true],
    ['1e3 is 1k', { resources: { limits: { 'ephemeral-storage': '1e3' } } }, { resources: { limits: { 'ephemeral-storage': '1k' } } }, true],
    ['sizeLimit 2048Ki is 2Mi', { emptyDir: { sizeLimit: '2048Ki' } }, { emptyDir: { sizeLimit: '2Mi' } }, true],
    ['1 is not 1001m', { resources: { limits: { cpu: '1' } } }, { resources: { limits: { cpu: '1001m' } } }, false],
    ['quantities only where quantities live', { env: [{ name: 'X', value: '1000m' }] }, { env: [{ name: 'X', value: '1' }] }, false],
    ['an empty value the server left out', { env: [{ name: 'EMPTY', value: '' }] }, { env: [{ name: 'EMPTY' }] }, true],
    ['false, 0, [] and {} the server left out', { hostNetwork: false, args: [], hostPort: 0, emptyDir: {} }, {}, true],
    ['a value the server has and we do not want', { hostNetwork: false }, { hostNetwork: true }, false],
  ];
  for (const [name, desired, live, same] of cases) assert.equal(isSubset(desired, live), same, name);
});

test('a hash of the Redis URL from the Secret goes on the pod template, next to the template\'s annotations', () => {
  const p = pool();
  const hash = redisSecretHash(p, 'redis://:s3cret@redis:6379/0');
  assert.match(hash, /^[0-9a-f]{16}$/);
  assert.notEqual(redisSecretHash(p, 'redis://:rotated@redis:6379/0'), hash);
  const d = desiredDeployment(p, 1, hash);
  assert.equal(d.spec!.template.metadata!.annotations![REDIS_SECRET_HASH_ANNOTATION], hash);
  assert.equal(d.spec!.template.metadata!.annotations!['note'], 'x');
  assert.equal(desiredDeployment(p, 1).spec!.template.metadata!.annotations![REDIS_SECRET_HASH_ANNOTATION], undefined);
});

const redisCases: Record<string, { redis: Obj; env: Record<string, unknown>; volumes: Obj[]; mounts: Obj[] }> = {
  'no TLS, no auth: only the URL': { redis: { url: 'redis://redis:6379/0' }, env: { REDIS_URL: 'redis://redis:6379/0' }, volumes: [], mounts: [] },
  'ACL user and password from Secrets': {
    redis: { url: 'redis://redis:6379/0', auth: { usernameFrom: { secretKeyRef: { name: 'redis-user', key: 'username' } }, passwordFrom: { secretKeyRef: { name: 'redis-user', key: 'password' } } } },
    env: { REDIS_URL: 'redis://redis:6379/0', REDIS_USERNAME: { secretKeyRef: { name: 'redis-user', key: 'username' } }, REDIS_PASSWORD: { secretKeyRef: { name: 'redis-user', key: 'password' } } },
    volumes: [],
    mounts: [],
  },
  'a CA (default key), a client certificate and a server name': {
    redis: { url: 'rediss://redis:6380', tls: { caSecretRef: { name: 'redis-ca' }, certSecretRef: { name: 'worker-tls' }, serverName: 'redis.internal' } },
    env: {
      REDIS_URL: 'rediss://redis:6380', REDIS_TLS_CA_FILE: '/etc/forkpool/redis-ca/ca.crt', REDIS_TLS_CERT_FILE: '/etc/forkpool/redis-client-cert/tls.crt',
      REDIS_TLS_KEY_FILE: '/etc/forkpool/redis-client-cert/tls.key', REDIS_TLS_SERVERNAME: 'redis.internal',
    },
    volumes: [
      { name: 'forkpool-redis-ca', secret: { secretName: 'redis-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { name: 'forkpool-redis-client-cert', secret: { secretName: 'worker-tls', items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } },
    ],
    mounts: [
      { name: 'forkpool-redis-ca', mountPath: '/etc/forkpool/redis-ca', readOnly: true },
      { name: 'forkpool-redis-client-cert', mountPath: '/etc/forkpool/redis-client-cert', readOnly: true },
    ],
  },
  'a CA under another key, no client certificate': {
    redis: { url: 'rediss://redis:6380', tls: { caSecretRef: { name: 'bundle', key: 'root.pem' } } },
    env: { REDIS_URL: 'rediss://redis:6380', REDIS_TLS_CA_FILE: '/etc/forkpool/redis-ca/ca.crt' },
    volumes: [{ name: 'forkpool-redis-ca', secret: { secretName: 'bundle', items: [{ key: 'root.pem', path: 'ca.crt' }] } }],
    mounts: [{ name: 'forkpool-redis-ca', mountPath: '/etc/forkpool/redis-ca', readOnly: true }],
  },
  'Sentinel with its own password from a Secret': {
    redis: {
      url: 'redis://ignored:6379/2',
      sentinel: { masterName: 'jobs', sentinels: ['sentinel-0.sentinel:26379', '[fd00::1]:26379'], passwordFrom: { secretKeyRef: { name: 'sentinel', key: 'password' } } },
    },
    env: {
      REDIS_URL: 'redis://ignored:6379/2', REDIS_SENTINELS: 'sentinel-0.sentinel:26379,[fd00::1]:26379', REDIS_SENTINEL_MASTER: 'jobs',
      REDIS_SENTINEL_PASSWORD: { secretKeyRef: { name: 'sentinel', key: 'password' } },
    },
    volumes: [],
    mounts: [],
  },
};

for (const [name, c] of Object.entries(redisCases)) {
  test(`worker pods connect as spec.redis says: ${name}`, () => {
    const d = desiredDeployment(pool({ redis: c.redis }), 1);
    const env = envOf(d);
    const redisEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('REDIS_')));
    assert.deepEqual(redisEnv, c.env);
    const ours = (list: { name: string }[] | undefined): unknown[] => (list ?? []).filter((v) => v.name.startsWith('forkpool-redis-'));
    assert.deepEqual(ours(podSpec(d).volumes), c.volumes);
    assert.deepEqual(ours(podSpec(d).containers[0]!.volumeMounts), c.mounts);
  });
}

test('the template cannot set the Redis connection variables the operator owns', () => {
  const d = desiredDeployment(pool({
    redis: { url: 'redis://redis:6379/0' },
    template: { spec: { containers: [{ name: 'worker', image: 'img:1', env: [{ name: 'REDIS_PASSWORD', value: 'stale' }, { name: 'REDIS_TLS_CA_FILE', value: '/x' }] }] } },
  }), 1);
  assert.deepEqual(Object.keys(envOf(d)).filter((k) => k.startsWith('REDIS_')), ['REDIS_URL']);
});

test('spec.redis.tls with a redis:// URL is refused', () => {
  assert.throws(() => pool({ redis: { url: 'redis://redis:6379', tls: { serverName: 'x' } } }), /spec.redis.tls needs a rediss:\/\/ URL/);
});

test('spec.redis.sentinel needs sentinels as host:port, and at least one', () => {
  assert.throws(() => pool({ redis: { url: 'redis://x:6379', sentinel: { masterName: 'jobs', sentinels: ['sentinel'] } } }), /sentinels/);
  assert.throws(() => pool({ redis: { url: 'redis://x:6379', sentinel: { masterName: 'jobs', sentinels: [] } } }), /sentinels/);
});
