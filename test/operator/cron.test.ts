// Cron schedules as Kubernetes users know them, on a real control plane with a real Redis: fire times
// missed while the operator was stopped are enqueued once each within startingDeadlineSeconds, older
// ones are skipped and reported, and a suspended schedule enqueues nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';
import type { RunningOperator } from '../../operator/src/operator.ts';
import { createNamespace, createPool, operatorLog, poolSpec, runOperator, sleep, startEnv, until, warnings, type Env } from './harness.ts';

const k = keys('resque');

/** The fire times an operator's log says it enqueued for a schedule, with how late each was (ms). */
function enqueued(log: string, schedule: string): { fire: number; lateMs: number }[] {
  return log
    .split('\n')
    .filter((line) => line.includes('"enqueued a scheduled job"'))
    .map((line) => JSON.parse(line) as { schedule: string; fireTime: string; time: number })
    .filter((e) => e.schedule === schedule)
    .map((e) => ({ fire: Date.parse(e.fireTime), lateMs: e.time - Date.parse(e.fireTime) }));
}

describe('cron schedules across an operator restart', { timeout: 300_000 }, () => {
  let env: Env;
  let redis: Redis;
  const operators: RunningOperator[] = [];

  before(async () => {
    env = await startEnv();
    redis = env.redis.connect();
  });
  after(async () => {
    for (const op of operators) await op.stop();
    await env?.stop();
  });

  it('enqueues each missed fire time within the deadline once, skips older ones, and nothing of a suspended schedule', async () => {
    await createNamespace(env, 'cron');
    await createPool(
      env,
      'cron',
      'pool',
      poolSpec(env.redis.url, {
        queues: ['cron'],
        schedules: [
          { name: 'tick', cron: '*/2 * * * * *', queue: 'ticks', class: 'TickJob', startingDeadlineSeconds: 9 },
          { name: 'off', cron: '* * * * * *', queue: 'off', class: 'OffJob', suspend: true },
        ],
      }),
    );
    operators.push(await runOperator(env, 'first'));
    await until('two fires', async () => (await redis.llen(k.queue('ticks'))) >= 2, 30_000);
    await operators[0]?.stop();
    const lastBefore = Number(await redis.hget(k.scheduleFired, 'cron/pool/tick'));
    const before = await redis.llen(k.queue('ticks'));

    // Stopped across 8 fire times (16 s): those of the last 9 s before the next look are due, older ones not.
    await sleep(16_000);
    operators.push(await runOperator(env, 'second'));
    const skipped = await until('the MissedSchedule Warning', async () => (await warnings(env, 'cron', 'pool')).find((w) => w.startsWith('MissedSchedule: ')), 30_000);
    await sleep(3000);

    const first = enqueued(operatorLog(env, 'first'), 'tick');
    const second = enqueued(operatorLog(env, 'second'), 'tick');
    const all = [...first, ...second].map((e) => e.fire);
    // None twice: every fire time once, and the queue holds one job per logged fire time.
    assert.equal(new Set(all).size, all.length, `a fire time was enqueued twice: ${all.map((t) => new Date(t).toISOString()).join(' ')}`);
    assert.equal(await redis.llen(k.queue('ticks')), all.length);
    assert.equal(first.length, before);
    // Caught up: the new operator's first fire times are late ones (the 9 s window holds 4 or 5), then every 2 s.
    const late = second.filter((e) => e.lateMs >= 2000);
    assert.ok(late.length >= 3, `only ${late.length} missed fire times were enqueued late: ${JSON.stringify(second)}`);
    const fires = second.map((e) => e.fire).sort((a, b) => a - b);
    assert.ok(fires.every((t, i) => i === 0 || t - (fires[i - 1] ?? 0) === 2000), 'a fire time inside the window was left out');
    // Older ones skipped, and counted: the gap between the last fire before the stop and the first after it.
    const gap = (fires[0] ?? 0) - lastBefore;
    const count = gap / 2000 - 1;
    assert.ok(count >= 1);
    assert.equal(skipped, `MissedSchedule: schedule tick: ${count} fire ${count === 1 ? 'time was' : 'times were'} skipped, older than its startingDeadlineSeconds`);
    // The suspended schedule enqueued nothing.
    assert.equal(await redis.llen(k.queue('off')), 0);
  });
});
