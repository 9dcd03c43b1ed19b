// The JobPool status from what was observed, and when it is worth writing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeStatus, failures, statusNeedsWrite, warningKey, type Observed } from '../../operator/src/status.ts';
import type { JobPoolStatus } from '../../operator/src/jobpool.ts';

const now = '2030-01-01T00:00:00Z';
const base: Observed = {
  generation: 3,
  selector: 'forkpool.io/pool=p',
  specError: undefined,
  applyError: undefined,
  queues: [{ name: 'a', waiting: 5, inFlight: 1 }, { name: 'b', waiting: 2, inFlight: 0 }],
  redisError: undefined,
  decision: { desired: 2, reason: 'DemandMet', message: '2 replicas for 7 jobs waiting, 1 in flight', recommendations: [], scaleEvents: [], needed: 1 },
  deployment: { replicas: 2, readyReplicas: 2, updatedReplicas: 2, upToDate: true, podsRefused: undefined },
  lastScaleTime: undefined,
  now,
};
const cond = (s: JobPoolStatus, type: string): [string, string] | undefined => {
  const c = s.conditions?.find((x) => x.type === type);
  return c === undefined ? undefined : [c.status, c.reason];
};

const cases: Record<string, { o: Partial<Observed>; ready: [string, string]; redis: [string, string]; scaling: [string, string] }> = {
  'all well': { o: {}, ready: ['True', 'ReplicasReady'], redis: ['True', 'QueuesRead'], scaling: ['True', 'DemandMet'] },
  'pods not ready yet': {
    o: { deployment: { replicas: 2, readyReplicas: 1, updatedReplicas: 2, upToDate: true, podsRefused: undefined } },
    ready: ['False', 'ReplicasNotReady'],
    redis: ['True', 'QueuesRead'],
    scaling: ['True', 'DemandMet'],
  },
  'no Deployment yet': { o: { deployment: undefined }, ready: ['False', 'DeploymentMissing'], redis: ['True', 'QueuesRead'], scaling: ['True', 'DemandMet'] },
  'Redis down': {
    o: { queues: undefined, redisError: 'connect ECONNREFUSED', decision: { desired: 2, reason: 'RedisUnreachable', message: 'holding', recommendations: [], scaleEvents: [], needed: undefined } },
    ready: ['False', 'RedisUnreachable'],
    redis: ['False', 'RedisError'],
    scaling: ['False', 'RedisUnreachable'],
  },
  'bad spec': {
    o: { specError: { reason: 'InvalidSchedule', message: 'schedule nightly: bad cron' } },
    ready: ['False', 'InvalidSchedule'],
    redis: ['True', 'QueuesRead'],
    scaling: ['True', 'DemandMet'],
  },
  'the Deployment refused': {
    o: { applyError: { reason: 'InvalidTemplate', message: 'Deployment.apps "p" is invalid: spec.template.spec.containers[0].name: Invalid value' }, deployment: undefined },
    ready: ['False', 'InvalidTemplate'],
    redis: ['True', 'QueuesRead'],
    scaling: ['True', 'DemandMet'],
  },
  'a refused Deployment ranks above a spec error': {
    o: { applyError: { reason: 'ApplyFailed', message: 'forbidden' }, specError: { reason: 'InvalidSchedule', message: 'bad cron' } },
    ready: ['False', 'ApplyFailed'],
    redis: ['True', 'QueuesRead'],
    scaling: ['True', 'DemandMet'],
  },
  'pods refused': {
    o: { deployment: { replicas: 0, readyReplicas: 0, updatedReplicas: 0, upToDate: true, podsRefused: 'pods "p-1" is forbidden: violates PodSecurity' } },
    ready: ['False', 'PodsRefused'],
    redis: ['True', 'QueuesRead'],
    scaling: ['True', 'DemandMet'],
  },
  'not polled yet': { o: { queues: undefined, decision: undefined }, ready: ['False', 'RedisUnreachable'], redis: ['Unknown', 'NotPolledYet'], scaling: ['Unknown', 'NotPolledYet'] },
};
for (const [name, { o, ready, redis, scaling }] of Object.entries(cases)) {
  test(`conditions: ${name}`, () => {
    const s = computeStatus({ ...base, ...o }, undefined);
    assert.deepEqual([cond(s, 'Ready'), cond(s, 'RedisReachable'), cond(s, 'Scaling')], [ready, redis, scaling]);
    assert.ok(s.conditions?.every((c) => c.observedGeneration === 3 && c.lastTransitionTime === now && /^[A-Z][A-Za-z]+$/.test(c.reason)));
  });
}

test('failures, most severe first, and the Ready condition\'s message is the first\'s', () => {
  const o: Observed = {
    ...base,
    applyError: { reason: 'InvalidTemplate', message: 'invalid' },
    specError: { reason: 'SecretNotFound', message: 'no Secret' },
    deployment: { ...base.deployment!, podsRefused: 'pods "p-1" is forbidden: quota' },
  };
  assert.deepEqual(failures(o), [
    { reason: 'InvalidTemplate', message: 'invalid' },
    { reason: 'SecretNotFound', message: 'no Secret' },
    { reason: 'PodsRefused', message: 'pods "p-1" is forbidden: quota' },
  ]);
  assert.equal(computeStatus(o, undefined).conditions?.find((c) => c.type === 'Ready')?.message, 'invalid');
  assert.deepEqual(failures(base), []);
});

const keys: Record<string, { a: [string, string]; b: [string, string]; same: boolean }> = {
  'the same refusal of another generated pod': {
    a: ['PodsRefused', 'pods "pool-7d9c8-x2k4q" is forbidden: violates PodSecurity "restricted:latest": privileged'],
    b: ['PodsRefused', 'pods "pool-5f6b1-q8z2m" is forbidden: violates PodSecurity "restricted:latest": privileged'],
    same: true,
  },
  'another refusal': { a: ['PodsRefused', 'pods "p-1" is forbidden: quota'], b: ['PodsRefused', 'pods "p-1" is forbidden: privileged'], same: false },
  'another reason': { a: ['SecretNotFound', 'x'], b: ['SecretForbidden', 'x'], same: false },
  'another field named': { a: ['InvalidTemplate', 'containers[0].name'], b: ['InvalidTemplate', 'containers[1].name'], same: false },
};
for (const [name, { a, b, same }] of Object.entries(keys)) {
  test(`warningKey: ${name}`, () => {
    const key = ([reason, message]: [string, string]): string => warningKey({ reason, message });
    assert.equal(key(a) === key(b), same);
  });
}

test('depth totals, selector, observedGeneration', () => {
  const s = computeStatus(base, undefined);
  assert.equal(s.queueDepth, 7);
  assert.equal(s.inFlight, 1);
  assert.equal(s.selector, 'forkpool.io/pool=p');
  assert.equal(s.observedGeneration, 3);
  assert.equal(s.desiredReplicas, 2);
});

test('the wait estimates: shown with a target, cleared field by field in the merge patch when they no longer apply', () => {
  const estimates = { targetWaitSeconds: 2, arrivalPerSecond: 4, servicePerSecondPerReplica: 2, expectedWaitSeconds: 0.22 };
  const shown = computeStatus({ ...base, autoscaling: estimates }, undefined);
  assert.deepEqual(shown.autoscaling, estimates);
  // The desired replicas can no longer keep up: no expected wait, and a null removes the stored one.
  const saturated = computeStatus({ ...base, autoscaling: { targetWaitSeconds: 2, arrivalPerSecond: 40, servicePerSecondPerReplica: 2 } }, shown);
  assert.deepEqual(saturated.autoscaling, { targetWaitSeconds: 2, arrivalPerSecond: 40, servicePerSecondPerReplica: 2, expectedWaitSeconds: null });
  // The target was removed from the spec.
  assert.equal(computeStatus(base, shown).autoscaling, null);
  assert.equal(computeStatus(base, computeStatus(base, undefined)).autoscaling, undefined, 'nothing to clear, nothing written');
  const t = 100_000;
  const moved = computeStatus({ ...base, autoscaling: { ...estimates, arrivalPerSecond: 4.5 } }, shown);
  assert.equal(statusNeedsWrite(shown, moved, t - 1_000, t, 10_000), false, 'a new estimate alone waits, as the depths do');
  assert.equal(statusNeedsWrite(shown, moved, t - 20_000, t, 10_000), true);
});

test('lastTransitionTime moves only when a condition\'s status changes', () => {
  const first = computeStatus(base, undefined);
  const later = '2030-01-01T00:05:00Z';
  const same = computeStatus({ ...base, now: later }, first);
  assert.ok(same.conditions?.every((c) => c.lastTransitionTime === now));
  const changed = computeStatus({ ...base, now: later, queues: undefined, redisError: 'down' }, first);
  assert.equal(changed.conditions?.find((c) => c.type === 'RedisReachable')?.lastTransitionTime, later);
  assert.equal(changed.conditions?.find((c) => c.type === 'Scaling')?.lastTransitionTime, now);
  assert.equal(changed.queueDepth, 7, 'the last known depth stays while Redis is down');
});

test('statusNeedsWrite', () => {
  const s = computeStatus(base, undefined);
  const deeper = computeStatus({ ...base, queues: [{ name: 'a', waiting: 50, inFlight: 1 }] }, s);
  const scaled = computeStatus({ ...base, decision: { ...base.decision!, desired: 3, reason: 'ScaledUp' } }, s);
  const t = 100_000;
  const table: [string, JobPoolStatus | undefined, JobPoolStatus, number | undefined, boolean][] = [
    ['nothing stored', undefined, s, undefined, true],
    ['unchanged', s, computeStatus(base, s), t - 1, false],
    ['depth changed, written just now', s, deeper, t - 1_000, false],
    ['depth changed, written a while ago', s, deeper, t - 20_000, true],
    ['desired changed', s, scaled, t - 1, true],
  ];
  for (const [name, stored, next, lastWrite, want] of table) {
    assert.equal(statusNeedsWrite(stored, next, lastWrite, t, 10_000), want, name);
  }
});
