// Each atomic transition (queue/lua/*.lua) on a real Redis: what it leaves in Redis is what a user would see.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { scripts, type Script } from '../../queue/src/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

const NS = 'resque';
const W = 'host:1:high,low';
const RUN_AT = '2026-11-27T07:12:02Z';

/**
 * A connection whose scripts run with a cjson.decode that throws: what a script does through it, it does
 * without decoding anything (a payload of megabytes would hold Redis for seconds).
 */
function withoutDecode(redis: Redis): Redis {
  const bySha = new Map(Object.values(scripts).map((t): [string, Script] => [t.script.sha, t.script]));
  const guard = 'local cjson = { encode = cjson.encode, decode = function(s) error(\'cjson.decode of \' .. #s .. \' bytes\') end }\n';
  return new Proxy(redis, {
    get(target, prop) {
      if (prop === 'evalsha') {
        return (sha: string, ...rest: (string | number | Buffer)[]) => {
          const script = bySha.get(sha);
          assert.ok(script, `a script of queue/lua: ${sha}`);
          return target.eval(guard + script.lua, ...(rest as [number, ...(string | number | Buffer)[]]));
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('Lua transitions', () => {
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = server.connect();
  });
  after(async () => { await server.stop(); });
  beforeEach(async () => { await redis.flushdb(); });

  /** The in-flight hash, each entry `<taken_at>:<queue length in bytes>:<queue>:<payload>` read. */
  const inflight = async (worker = W): Promise<Record<string, { queue: string; payload: string; takenAt: number }>> => {
    const h = await redis.hgetallBuffer(`${NS}:forkpool:inflight:${worker}`);
    return Object.fromEntries(Object.entries(h).map(([k, v]) => {
      const m = /^(\d+):(\d+):/.exec(v.toString('latin1'));
      assert.ok(m, `entry ${k}: ${v.toString()}`);
      const at = m[0].length;
      const queue = v.subarray(at, at + Number(m[2])).toString();
      assert.equal(v.toString('latin1', at + Number(m[2]), at + Number(m[2]) + 1), ':', `entry ${k}: ${v.toString()}`);
      return [k, { queue, payload: v.subarray(at + Number(m[2]) + 1).toString(), takenAt: Number(m[1]) }];
    }));
  };

  it('reserve takes in priority order into the in-flight hash and counts it running', async () => {
    await redis.rpush(`${NS}:queue:low`, 'L1');
    await redis.rpush(`${NS}:queue:high`, 'H1', 'H2');
    assert.deepEqual(await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'high', 'low']), ['high', 'H1']);
    assert.deepEqual(await scripts.reserve.run(redis, [NS, W, '1', RUN_AT, 0, 'high', 'low']), ['high', 'H2']);
    assert.deepEqual(await scripts.reserve.run(redis, [NS, W, '2', RUN_AT, 0, 'high', 'low']), ['low', 'L1']);
    assert.equal(await scripts.reserve.run(redis, [NS, W, '3', RUN_AT, 0, 'high', 'low']), null);
    const held = await inflight();
    assert.deepEqual(Object.keys(held).sort(), ['0', '1', '2']);
    assert.equal(held['2']?.payload, 'L1');
    assert.equal(held['2']?.queue, 'low');
    const [s = '0'] = await redis.time();
    assert.ok(Math.abs((held['2']?.takenAt ?? 0) - Number(s) * 1000) < 2000, 'taken_at: ms by Redis\'s clock');
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), { high: '2', low: '1' });
  });

  it('a take sent again under a field that holds a job returns that job and takes no other', async () => {
    await redis.rpush(`${NS}:queue:low`, 'L1', 'L2');
    assert.deepEqual(await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'low']), ['low', 'L1']);
    assert.deepEqual(await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'low']), ['low', 'L1'], 'the same job again');
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, 'x', 'ok', '', '', RUN_AT, '0', 0, 0, 'low']), [0, 'low', 'L1'], 'finish taking under it too');
    assert.deepEqual(await redis.lrange(`${NS}:queue:low`, 0, -1), ['L2']);
    assert.deepEqual(Object.keys(await inflight()), ['0']);
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), { low: '1' });
  });

  it('a take with an empty run_at shows the job running since now by Redis\'s clock', async () => {
    await redis.rpush(`${NS}:queue:low`, '{"class":"A","args":[]}');
    const before = Number((await redis.time())[0]);
    await scripts.reserve.run(redis, [NS, W, '0', '', 0, 'low']);
    const after = Number((await redis.time())[0]);
    const shown = JSON.parse(String(await redis.get(`${NS}:worker:${W}`))) as { run_at: string };
    const at = Date.parse(shown.run_at) / 1000;
    assert.match(shown.run_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(at >= before && at <= after, `${shown.run_at} between ${before} and ${after}`);
  });

  it('formats Unix times as Resque\'s run_at across leap days, year ends and centuries', async () => {
    const prelude = readFileSync(new URL('../../queue/lua/_lib.lua', import.meta.url), 'utf8');
    const times = [0, 951782400, 951868799, 1709164800, 1735689599, 1798761600, 4107542400, 4102444799, 1795763522, 253402300799];
    for (const t of times) {
      const got = await redis.eval(`${prelude}\nreturn iso_utc(tonumber(ARGV[1]))`, 0, t);
      assert.equal(got, new Date(t * 1000).toISOString().replace('.000', ''), `time ${t}`);
    }
  });

  it('finish records the outcome and takes the next job in the same call', async () => {
    await redis.rpush(`${NS}:queue:low`, 'L1', 'L2', 'L3');
    await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'low']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '0', 'ok', '', '', RUN_AT, '1', 0, 0, 'high', 'low']), [1, 'low', 'L2']);
    assert.deepEqual(Object.keys(await inflight()), ['1']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '1', 'failed', '{"f":1}', '', RUN_AT, '0', 0, 0, 'low']), [1, 'low', 'L3']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '0', 'retry', '{"r":1}', '1795763662', RUN_AT, '', 0, 0]), [1]);
    assert.equal(await redis.get(`${NS}:stat:processed`), '3');
    assert.equal(await redis.get(`${NS}:stat:processed:${W}`), '3');
    assert.equal(await redis.get(`${NS}:stat:failed`), '1');
    assert.deepEqual(await redis.lrange(`${NS}:failed`, 0, -1), ['{"f":1}']);
    assert.deepEqual(await redis.lrange(`${NS}:delayed:1795763662`, 0, -1), ['{"r":1}']);
    assert.deepEqual(await redis.smembers(`${NS}:timestamps:{"r":1}`), ['delayed:1795763662']);
    assert.deepEqual(await inflight(), {});
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), {});
    assert.equal(await redis.exists(`${NS}:worker:${W}`), 0);
  });

  it('finish counts each finished job and its run time per queue, for the operator\'s rate estimates', async () => {
    await redis.rpush(`${NS}:queue:high`, 'H1');
    await redis.rpush(`${NS}:queue:low`, 'L1', 'L2');
    await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'high', 'low']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '0', 'ok', '', '', RUN_AT, '1', 0, 250, 'high', 'low']), [1, 'low', 'L1']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '1', 'failed', '{"f":1}', '', RUN_AT, '0', 0, 1200, 'low']), [1, 'low', 'L2']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '0', 'ok', '', '', RUN_AT, '', 0, 800]), [1]);
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:qstats`), { 'processed:high': '1', 'busy_ms:high': '250', 'processed:low': '2', 'busy_ms:low': '2000' });
  });

  it('finish of a job that was handed back is not counted', async () => {
    await redis.rpush(`${NS}:queue:low`, 'L1');
    await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'low']);
    assert.equal(await scripts.handBack.run(redis, [NS, W]), 1);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '0', 'ok', '', '', RUN_AT, '', 0, 0]), [0]);
    assert.equal(await redis.get(`${NS}:stat:processed`), null);
    assert.equal(await redis.exists(`${NS}:forkpool:qstats`), 0);
    assert.deepEqual(await redis.lrange(`${NS}:queue:low`, 0, -1), ['L1']);
  });

  it('with two slots busy, the worker record shows the job still running', async () => {
    await redis.rpush(`${NS}:queue:low`, '{"class":"A","args":[]}', '{"class":"B","args":[]}');
    await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'low']);
    await scripts.reserve.run(redis, [NS, W, '1', RUN_AT, 0, 'low']);
    await scripts.finish.run(redis, [NS, W, '1', 'ok', '', '', RUN_AT, '', 0, 0]);
    assert.equal(await redis.get(`${NS}:worker:${W}`), `{"queue":"low","run_at":"${RUN_AT}","payload":{"class":"A","args":[]}}`);
  });

  it('no script decodes a payload: a job of megabytes is taken, shown, finished and handed back byte for byte', async () => {
    const guarded = withoutDecode(redis);
    /** Equality that, on failure, shows the start of a value rather than megabytes of it. */
    const same = (actual: unknown, expected: unknown, what: string): void => {
      const [a, e] = [JSON.stringify(actual) ?? String(actual), JSON.stringify(expected) ?? String(expected)];
      assert.ok(a === e, `${what}: got ${a.slice(0, 120)}... (${a.length} chars), expected ${e.slice(0, 120)}... (${e.length} chars)`);
    };
    const big = `{"class":"Big","args":["${'x'.repeat(2 * 1024 * 1024)}",1.0,12345678901234567891]}`;
    const spaced = ` ${big.slice(0, 40)}"]} `;
    await redis.rpush(`${NS}:queue:low`, big, 'not json {', spaced);
    const shown = async (): Promise<string | null> => redis.get(`${NS}:worker:${W}`);
    same(await scripts.reserve.run(guarded, [NS, W, '0', RUN_AT, 0, 'low']), ['low', big], 'taken');
    same(await shown(), `{"queue":"low","run_at":"${RUN_AT}","payload":${big}}`, 'an object payload is shown as it is');
    same(await scripts.reserve.run(guarded, [NS, W, '0', RUN_AT, 0, 'low']), ['low', big], 'a take sent again returns the job it took');
    same(await scripts.reserve.run(guarded, [NS, W, '1', RUN_AT, 0, 'low']), ['low', 'not json {'], 'taken');
    same(await shown(), `{"queue":"low","run_at":"${RUN_AT}","payload":"not json {"}`, 'not an object: shown as a JSON string');
    same(await scripts.finish.run(guarded, [NS, W, '1', 'ok', '', '', RUN_AT, '2', 0, 0, 'low']), [1, 'low', spaced], 'finished, and the next taken');
    same(await shown(), `{"queue":"low","run_at":"${RUN_AT}","payload":${spaced}}`, 'an object after spaces is shown as it is');
    same(await scripts.finish.run(guarded, [NS, W, '2', 'ok', '', '', RUN_AT, '', 0, 0]), [1], 'finished');
    same(await shown(), `{"queue":"low","run_at":"${RUN_AT}","payload":${big}}`, 'the job still held is shown');
    same(await scripts.handBack.run(guarded, [NS, W]), 1, 'handed back');
    same(await redis.lindex(`${NS}:queue:low`, 0), big, 'handed back with its bytes');

    await scripts.reserve.run(guarded, [NS, W, '3', RUN_AT, 0, 'low']);
    await redis.zadd(`${NS}:forkpool:alive`, Date.now() - 60_000, W);
    assert.match(JSON.stringify(await scripts.requeueDead.run(guarded, [NS, 30_000, 2])), new RegExp(W));
    same(await redis.lindex(`${NS}:queue:low`, 0), big, 'recovered with its bytes');
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), {});
  });

  it('a take-ahead happens only when more than min_left jobs wait in the first non-empty queue', async () => {
    await redis.rpush(`${NS}:queue:high`, 'H1', 'H2');
    await redis.rpush(`${NS}:queue:low`, ...Array.from({ length: 10 }, (_, i) => `L${i}`));
    assert.equal(await scripts.reserve.run(redis, [NS, W, 'a', RUN_AT, 2, 'high', 'low']), null, 'never skips to a lower queue');
    assert.deepEqual(await scripts.reserve.run(redis, [NS, W, 'a', RUN_AT, 1, 'high', 'low']), ['high', 'H1']);
    assert.deepEqual(await scripts.reserve.run(redis, [NS, W, 'b', RUN_AT, 0, 'high', 'low']), ['high', 'H2']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, 'a', 'ok', '', '', RUN_AT, 'c', 8, 0, 'high', 'low']), [1, 'low', 'L0']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, 'b', 'ok', '', '', RUN_AT, 'd', 9, 0, 'high', 'low']), [1]);
  });

  it('hand-back puts jobs at the head of their queues, one slot or all', async () => {
    await redis.rpush(`${NS}:queue:low`, 'L1', 'L2', 'L3');
    await scripts.reserve.run(redis, [NS, W, '0', RUN_AT, 0, 'low']);
    await scripts.reserve.run(redis, [NS, W, '1', RUN_AT, 0, 'low']);
    assert.equal(await scripts.handBack.run(redis, [NS, W, '1']), 1);
    assert.deepEqual(await redis.lrange(`${NS}:queue:low`, 0, -1), ['L2', 'L3']);
    assert.equal(await scripts.handBack.run(redis, [NS, W]), 1);
    assert.deepEqual(await redis.lrange(`${NS}:queue:low`, 0, -1), ['L1', 'L2', 'L3']);
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), {});
  });

  it('hand-back keeps the order the jobs were taken in', async () => {
    await redis.rpush(`${NS}:queue:q`, 'J1', 'J2', 'J3', 'J4');
    for (const f of ['z', 'y', 'x']) {
      await scripts.reserve.run(redis, [NS, W, f, RUN_AT, 0, 'q']);
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(await scripts.handBack.run(redis, [NS, W, 'x', 'z', 'y']), 3);
    assert.deepEqual(await redis.lrange(`${NS}:queue:q`, 0, -1), ['J1', 'J2', 'J3', 'J4']);
  });

  it('requeue-dead hands back only the jobs of workers whose heartbeat expired, and unregisters them', async () => {
    const dead = 'gone:7:low';
    const live = 'here:8:low';
    await redis.rpush(`${NS}:queue:low`, 'J1', 'J2', 'J3');
    for (const w of [dead, live]) {
      await redis.sadd(`${NS}:workers`, w);
      await scripts.heartbeat.run(redis, [NS, w, 2]);
      await scripts.reserve.run(redis, [NS, w, '0', RUN_AT, 0, 'low']);
    }
    await redis.zadd(`${NS}:forkpool:alive`, Date.now() - 60_000, dead);
    await redis.set(`${NS}:stat:processed:${dead}`, '5');
    assert.deepEqual(await scripts.requeueDead.run(redis, [NS, 30_000, 2]), [{ worker: dead, handedBack: 1, poisoned: 0 }]);
    assert.deepEqual(await redis.lrange(`${NS}:queue:low`, 0, -1), ['J1', 'J3']);
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [live]);
    assert.deepEqual(await redis.zrange(`${NS}:forkpool:alive`, 0, -1), [live]);
    assert.equal(await redis.hexists(`${NS}:workers:heartbeat`, dead), 0);
    assert.equal(await redis.exists(`${NS}:stat:processed:${dead}`, `${NS}:worker:${dead}`), 0);
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), { low: '1' });
    assert.deepEqual(await scripts.requeueDead.run(redis, [NS, 30_000, 2]), []);
  });

  it('heartbeat hands back, in the order they were taken, the jobs held under fields the worker does not name', async () => {
    await redis.rpush(`${NS}:queue:low`, 'L1', 'L2', 'L3', 'L4');
    await redis.rpush(`${NS}:queue:high`, 'H1');
    for (const f of ['0.1', 'lost.1', '0.2', 'lost.2']) {
      await scripts.reserve.run(redis, [NS, W, f, RUN_AT, 0, 'low']);
      await new Promise((r) => setTimeout(r, 2));
    }
    await scripts.reserve.run(redis, [NS, W, 'lost.3', RUN_AT, 0, 'high']);
    // A field named but holding nothing (a take under way) is told apart. The worker was not alive before.
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, W, 2, '0.1', '0.2', '0.3']), [0, 3, 0, '0.3']);
    assert.deepEqual(Object.keys(await inflight()).sort(), ['0.1', '0.2']);
    assert.deepEqual(await redis.lrange(`${NS}:queue:low`, 0, -1), ['L2', 'L4']);
    assert.deepEqual(await redis.lrange(`${NS}:queue:high`, 0, -1), ['H1']);
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), { low: '2' });
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [W]);
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, W, 2, '0.1', '0.2']), [1, 0, 0], 'nothing else to hand back');
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, W, 2]), [1, 2, 0]);
    assert.equal(await redis.exists(`${NS}:worker:${W}`), 0, 'no job shown running');
  });

  it('heartbeat tells a worker written off as dead so, and which of its fields hold nothing any more', async () => {
    await redis.rpush(`${NS}:queue:low`, 'L1', 'L2');
    await scripts.heartbeat.run(redis, [NS, W, 2]);
    await scripts.reserve.run(redis, [NS, W, '0.0', RUN_AT, 0, 'low']);
    await scripts.reserve.run(redis, [NS, W, '0.1', RUN_AT, 0, 'low']);
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, W, 2, '0.0', '0.1']), [1, 0, 0]);
    await redis.zadd(`${NS}:forkpool:alive`, Date.now() - 60_000, W);
    assert.deepEqual(await scripts.requeueDead.run(redis, [NS, 30_000, 2]), [{ worker: W, handedBack: 2, poisoned: 0 }]);
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, W, 2, '0.0', '0.1']), [0, 0, 0, '0.0', '0.1']);
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [W], 'registered again');
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, W, 2, '0.0', '0.1']), [1, 0, 0, '0.0', '0.1']);
  });

  it('a job whose worker dies running it is recovered MAX_RECOVERIES times, then recorded as a poison job', async () => {
    const poison = '{"class":"Oom","args":[1.0]}';
    await redis.rpush(`${NS}:queue:low`, poison, 'L2', 'L3', 'L4');
    const dead = (n: number): string => `pod:1-${n}:low`;
    const sha = createHash('sha1').update(poison).digest('hex');
    for (let death = 1; death <= 3; death++) {
      const w = dead(death);
      await scripts.heartbeat.run(redis, [NS, w, 2]);
      // The slot runs the first job it took; the one taken ahead had not started, and is not counted.
      assert.deepEqual(await scripts.reserve.run(redis, [NS, w, '0.0', RUN_AT, 0, 'low']), ['low', poison]);
      assert.deepEqual(await scripts.reserve.run(redis, [NS, w, '0.1', RUN_AT, 0, 'low']), ['low', 'L2']);
      await redis.zadd(`${NS}:forkpool:alive`, Date.now() - 60_000, w);
      const poisoned = death === 3 ? 1 : 0;
      assert.deepEqual(await scripts.requeueDead.run(redis, [NS, 30_000, 2]), [{ worker: w, handedBack: 2 - poisoned, poisoned }]);
      assert.equal(await redis.hget(`${NS}:forkpool:recoveries`, sha), death === 3 ? null : String(death));
    }
    assert.deepEqual(await redis.lrange(`${NS}:queue:low`, 0, -1), ['L2', 'L3', 'L4'], 'the jobs behind it are first now');
    const [failure = ''] = await redis.lrange(`${NS}:failed`, 0, -1);
    assert.match(failure, /^\{"failed_at":"\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d UTC","payload":\{"class":"Oom","args":\[1\.0\]\},"exception":"Forkpool::PoisonJob","error":"[^"]+","backtrace":\[\],"worker":"pod:1-3:low","queue":"low"\}$/);
    assert.equal((JSON.parse(failure) as { error: string }).error, 'recovered 3 times, more than MAX_RECOVERIES (2); the last time its worker died while running it (pod:1-3:low)');
    assert.equal(await redis.get(`${NS}:stat:failed`), '1');
    assert.deepEqual(await redis.hgetall(`${NS}:forkpool:running`), {});
    assert.equal(await redis.hget(`${NS}:forkpool:recoveries`, createHash('sha1').update('L2').digest('hex')), null, 'a job taken ahead never ran');
  });

  it('a job that ends forgets its recoveries; one handed back by a stopping worker is not counted', async () => {
    await redis.rpush(`${NS}:queue:low`, 'J1', 'J2');
    const count = async (payload: string): Promise<string | null> => redis.hget(`${NS}:forkpool:recoveries`, createHash('sha1').update(payload).digest('hex'));
    await scripts.reserve.run(redis, [NS, 'gone:1:low', '0.0', RUN_AT, 0, 'low']);
    await redis.zadd(`${NS}:forkpool:alive`, Date.now() - 60_000, 'gone:1:low');
    await scripts.requeueDead.run(redis, [NS, 30_000, 2]);
    assert.equal(await count('J1'), '1');
    await scripts.reserve.run(redis, [NS, W, '0.0', RUN_AT, 0, 'low']);
    assert.equal(await scripts.handBack.run(redis, [NS, W]), 1);
    assert.equal(await count('J1'), '1', 'a graceful hand back is no recovery');
    // A job under a field its worker does not name is recovered as a dead worker's is.
    await scripts.reserve.run(redis, [NS, W, 'lost.0', RUN_AT, 0, 'low']);
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, W, 2]), [0, 1, 0]);
    assert.equal(await count('J1'), '2');
    await scripts.reserve.run(redis, [NS, W, '0.1', RUN_AT, 0, 'low']);
    assert.deepEqual(await scripts.finish.run(redis, [NS, W, '0.1', 'failed', '{"f":1}', '', RUN_AT, '', 0, 0]), [1]);
    assert.equal(await redis.exists(`${NS}:forkpool:recoveries`), 0, 'forgotten once it ended');
  });

  it('move-due moves due delayed jobs unchanged, keeps future ones, and records unreadable ones', async () => {
    const now = Math.floor(Date.now() / 1000);
    const item = '{"class":"NoopJob","args":["x",1],"queue":"dq"}';
    await redis.rpush(`${NS}:delayed:${now - 5}`, item, 'garbage');
    await redis.sadd(`${NS}:timestamps:${item}`, `delayed:${now - 5}`);
    await redis.rpush(`${NS}:delayed:${now + 3600}`, '{"class":"Later","args":[],"queue":"dq"}');
    await redis.zadd(`${NS}:delayed_queue_schedule`, now - 5, String(now - 5), now + 3600, String(now + 3600));
    assert.equal(await scripts.moveDue.run(redis, [NS, 1000, '2026/11/27 07:12:13 UTC', 'sched']), 2);
    assert.deepEqual(await redis.lrange(`${NS}:queue:dq`, 0, -1), [item]);
    assert.deepEqual(await redis.smembers(`${NS}:queues`), ['dq']);
    assert.equal(await redis.exists(`${NS}:timestamps:${item}`, `${NS}:delayed:${now - 5}`), 0);
    assert.deepEqual(await redis.zrange(`${NS}:delayed_queue_schedule`, 0, -1), [String(now + 3600)]);
    const failure = JSON.parse((await redis.lindex(`${NS}:failed`, 0)) ?? '{}') as Record<string, unknown>;
    assert.equal(failure.exception, 'Forkpool::MalformedPayload');
    assert.equal(failure.payload, 'garbage');
    assert.match(String(failure.error), /has no "queue"/);
  });

  it('move-due moves at most the limit per call and leaves the rest for the next', async () => {
    const ts = Math.floor(Date.now() / 1000) - 1;
    await redis.rpush(`${NS}:delayed:${ts}`, ...Array.from({ length: 5 }, (_, i) => `{"class":"X","args":[${i}],"queue":"q"}`));
    await redis.zadd(`${NS}:delayed_queue_schedule`, ts, String(ts));
    assert.equal(await scripts.moveDue.run(redis, [NS, 3, 'x', 'sched']), 3);
    assert.equal(await scripts.moveDue.run(redis, [NS, 3, 'x', 'sched']), 2);
    assert.equal(await redis.llen(`${NS}:queue:q`), 5);
    assert.equal(await redis.zcard(`${NS}:delayed_queue_schedule`), 0);
  });
});
