// Faults production brings to a worker, each with real processes on a real Redis: an entry under a live
// worker's identity that it does not hold, a worker written off as dead while it was only frozen, a host whose
// clock lags, a job that kills its whole worker each time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { scripts } from '../../queue/src/index.ts';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite, type WorkerProcess } from '../helpers/worker.ts';

const NS = 'resque';
const SHIFT_CLOCK = pathToFileURL(new URL('../fixtures/shift-clock.ts', import.meta.url).pathname).href;

/** What a worker serves on /metrics. */
async function metrics(w: WorkerProcess): Promise<string> {
  const started = await w.waitForLog((l) => l.msg === 'worker started');
  const res = await fetch(`http://127.0.0.1:${String(started.port)}/metrics`);
  return res.text();
}

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

  it('a worker frozen past the heartbeat timeout learns it was written off and does not start the jobs it no longer holds', async () => {
    const file = tempRecordFile();
    const a = await t.start({ RECORD_FILE: file });
    const [worker] = await until('registered', async () => { const l = await t.client.workers(); return l.length > 0 ? l : undefined; });
    assert.ok(worker);
    // A long job, and more than 8 behind it (pushed at once), so that the worker takes the next one ahead
    // while the long one runs.
    const jobs = [['long', 8], ...Array.from({ length: 10 }, (_, i) => [`j${i}`, 0])].map(([id, s]) => JSON.stringify({ class: 'Sleep', args: [s, id] }));
    await t.redis.multi().sadd('resque:queues', 'q').rpush('resque:queue:q', ...jobs).exec();
    await until('the long job runs and the next is taken ahead', async () =>
      records(file).some((r) => r.id === 'long') && (await t.redis.hlen(`resque:forkpool:inflight:${worker.id}`)) === 2);
    process.kill(a.pid, 'SIGSTOP'); // a frozen VM, a long pause: its child runs on, its heartbeat stops
    try {
      // What any other live worker does once the heartbeat has expired.
      await until('its heartbeat expired and its jobs were handed back', async () =>
        JSON.stringify(await scripts.requeueDead.run(t.redis, [NS, 3000, 2])).includes(worker.id), 10_000, 200);
      assert.deepEqual((await t.redis.lrange('resque:queue:q', 0, 1)).map((p) => (JSON.parse(p) as { args: unknown[] }).args[1]), ['long', 'j0']);
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }

    await until('every job behind the long one ran', () => Array.from({ length: 10 }, (_, i) => `j${i}`)
      .every((id) => records(file).some((r) => r.id === id && r.event === 'end')), 40_000);
    const starts = (id: string): number => records(file).filter((r) => r.id === id && r.event === 'start').length;
    assert.equal(starts('j0'), 1, 'the job taken ahead before the freeze was not started by the frozen worker');
    for (let i = 1; i < 10; i++) assert.equal(starts(`j${i}`), 1, `j${i} ran once`);
    const said = await a.waitForLog((l) => typeof l.msg === 'string' && /written off/.test(l.msg), 1000);
    assert.equal(said.level, 50, 'logged as an error');
    assert.equal(said.dropped, 1, 'the job taken ahead');
    assert.equal(said.running, 1, 'the long job');
    assert.match(await metrics(a), /^forkpool_worker_written_off_total 1$/m);
    await until('the long job ran again to its end, nothing left in flight', async () =>
      records(file).filter((r) => r.id === 'long' && r.event === 'end').length === 2
      && Object.keys(await t.redis.hgetall('resque:forkpool:running')).length === 0, 20_000);
  });

  it('heartbeats are written with Redis\'s clock, whatever the host\'s clock says', async () => {
    const w = await t.start({ NODE_OPTIONS: `--import=${SHIFT_CLOCK}` });
    const line = await w.waitForLog((l) => l.msg === 'worker started');
    const [s = '0'] = await t.redis.time();
    const redisNow = Number(s) * 1000;
    assert.ok(Number(line.time) < redisNow - 3_500_000, `the worker's own clock is an hour behind (its log says ${String(line.time)})`);
    const [worker] = await until('registered', async () => { const l = await t.client.workers(); return l.length > 0 ? l : undefined; });
    assert.ok(worker);
    // Redis's time as a new heartbeat lands (its value has seconds: the two differ by at most one).
    const first = await t.redis.hget('resque:workers:heartbeat', worker.id);
    const { beat, now } = await until('a new heartbeat', async () => {
      const value = await t.redis.hget('resque:workers:heartbeat', worker.id);
      const [s = '0'] = await t.redis.time();
      return value !== first ? { beat: value ?? '', now: Number(s) } : undefined;
    }, 5000, 20);
    assert.match(beat, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/, 'Resque\'s Time#iso8601');
    const age = now - Date.parse(beat) / 1000;
    assert.ok(age >= 0 && age <= 1, `heartbeat ${beat} is ${age} s before Redis's time`);
    const started = await t.redis.get(`resque:worker:${worker.id}:started`);
    assert.match(started ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$/, 'Resque\'s Time#to_s');
    const startedAge = Number(now) - Date.parse((started ?? '').replace(' ', 'T').replace(' +0000', 'Z')) / 1000;
    assert.ok(startedAge >= 0 && startedAge <= 10, `started ${started} is ${startedAge} s before Redis's time`);
  });
});

for (const isolation of ['spawn', 'fork'] as const) {
  describe(`worker faults: a poison job (ISOLATION=${isolation})`, () => {
    const t = workerSuite(isolation, { QUEUES: 'q' });

    it('a job that kills its worker each time is recorded as failed after MAX_RECOVERIES, and the jobs behind it run', async () => {
      const file = tempRecordFile();
      await t.client.enqueue('q', 'KillWorker');
      for (let i = 0; i < 5; i++) await t.client.enqueue('q', 'Record', i);
      // The container's restart policy: a worker that dies is started again.
      let current: WorkerProcess | undefined;
      let done = false;
      const dead: string[] = [];
      const supervisor = (async () => {
        while (!done) {
          const w = await t.start({ RECORD_FILE: file });
          current = w;
          const [id] = await until('registered', async () => {
            const ids = (await t.redis.smembers('resque:workers')).filter((x) => !dead.includes(x));
            return ids.length > 0 ? ids : undefined;
          }, 10_000);
          await w.exited;
          if (!done && id !== undefined) dead.push(id);
        }
      })();
      try {
        const failure = await until('the poison job recorded as failed', async () => {
          const [f] = await t.client.failed.list();
          return f?.record;
        }, 60_000, 200);
        assert.equal(failure.exception, 'Forkpool::PoisonJob');
        assert.deepEqual(failure.payload, { class: 'KillWorker', args: [] });
        assert.equal(failure.queue, 'q');
        assert.match(failure.error, /3 times/);
        assert.equal(dead.length, 3, `three workers died of it: ${JSON.stringify(dead)}`);
        assert.equal(failure.worker, dead[2], 'the worker it last killed');
        assert.ok(failure.error.includes(String(dead[2])), failure.error);
        await until('the five jobs behind it ran', () => records(file).length === 5, 10_000);
        assert.deepEqual(records(file).map((r) => (r.args as number[])[0]).sort(), [0, 1, 2, 3, 4]);
        assert.equal(await t.redis.llen('resque:queue:q'), 0);
        await until('nothing counted in flight', async () => Object.keys(await t.redis.hgetall('resque:forkpool:running')).length === 0, 10_000);
        assert.equal(await t.redis.exists('resque:forkpool:recoveries'), 0, 'its recovery count is gone with it');
      } finally {
        done = true;
        current?.kill('SIGTERM');
        await supervisor;
      }
    });
  });
}
