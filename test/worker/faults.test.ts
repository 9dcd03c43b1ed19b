// Faults production brings to a worker, each with real processes on a real Redis: an entry under a live
// worker's identity that it does not hold.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scripts } from '../../queue/src/index.ts';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

const NS = 'resque';

describe('worker faults (ISOLATION=spawn)', () => {
  const t = workerSuite('spawn', { QUEUES: 'q' });

  it('a job under its identity that a live worker does not run (a lost acknowledgement) goes back to its queue and runs', async () => {
    const file = tempRecordFile();
    await t.start({ RECORD_FILE: file });
    const [worker] = await until('registered', async () => { const l = await t.client.workers(); return l.length > 0 ? l : undefined; });
    assert.ok(worker);
    // As a Redis failover can leave it: a job in the worker's in-flight hash under a field it does not hold.
    // Pushed and taken in one transaction, so that the worker's own wait never sees it in the queue.
    const take = scripts.reserve.call([NS, worker.id, 'lost.0', '', 0, 'q']);
    await t.redis.script('LOAD', take.script.lua);
    await t.redis.multi()
      .rpush('resque:queue:q', JSON.stringify({ class: 'Record', args: ['orphan'] }))
      .evalsha(take.script.sha, take.keys.length, ...take.keys, ...take.argv)
      .exec();
    assert.equal(await t.redis.hlen(`resque:forkpool:inflight:${worker.id}`), 1);
    await until('the job ran', () => records(file).some((r) => (r.args as unknown[])[0] === 'orphan'), 10_000);
    await until('nothing counted in flight', async () => Object.keys(await t.redis.hgetall('resque:forkpool:running')).length === 0, 5000);
    assert.equal(await t.redis.hlen(`resque:forkpool:inflight:${worker.id}`), 0);
    assert.equal(records(file).length, 1, 'it ran once');
  });
});
