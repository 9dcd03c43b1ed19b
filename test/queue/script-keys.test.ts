// Every key a Lua script touches is one it was given in KEYS, as its header documents them: what Redis
// Cluster requires, and what keeps key names in keys.ts only. Also the races of the transitions that read
// before they call their script (a key depends on data in Redis): nothing lost, nothing doubled.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { itemId, keys, scripts, type Keys, type Requeued, type Script } from '../../queue/src/index.ts';
import { redisSuite } from '../helpers/redis.ts';

const NS = 'resque';
const RUN_AT = '2026-11-27T07:12:02Z';
const k = keys(NS);

/** One KEYS[i] line of a header (KEYS[i...]: it and every key after it), as patterns of key names. */
interface KeyDecl {
  readonly index: number;
  readonly variadic: boolean;
  readonly patterns: RegExp[];
}

const ANY = '\u0000';

/** `inflight(worker)`, `stat('failed')`, `running` -> the pattern of the key names keys.ts gives it. */
function keyPattern(name: string, params: string | undefined): RegExp {
  const member = (k as unknown as Record<string, unknown>)[name];
  let key: unknown = member;
  if (typeof member === 'function') {
    const values = (params ?? '').split(',').map((p) => p.trim()).filter(Boolean).map((p) => (/^'.*'$/.test(p) ? p.slice(1, -1) : ANY));
    key = (member as (...a: string[]) => unknown)(...values);
  } else {
    assert.equal(params, undefined, `${name} takes no parameters`);
  }
  assert.equal(typeof key, 'string', `${name} is a key name of keys.ts`);
  const escaped = (key as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replaceAll(ANY, '[\\s\\S]*')}$`);
}

/** The key names at the start of a header line's text: `name(params)`, optionally `or name(params)`. */
function keyNamesAt(text: string): RegExp[] {
  const m = /^([a-z]\w*)(?:\(([^)]*)\))?(?:\s+or\s+([a-z]\w*)(?:\(([^)]*)\))?)?(?:\s{2,}|$)/.exec(text.trim());
  if (!m?.[1]) return [];
  const out = [keyPattern(m[1], m[2])];
  if (m[3]) out.push(keyPattern(m[3], m[4]));
  return out;
}

/** The KEYS a script's header declares (the comment block it opens with). */
function declaredKeys(name: string): KeyDecl[] {
  const text = readFileSync(new URL(`../../queue/lua/${name}.lua`, import.meta.url), 'utf8');
  const m = /^--\[\[\n([\s\S]*?)\n\]\]\n/.exec(text);
  assert.ok(m?.[1], `${name}.lua opens with a --[[ ... ]] header`);
  const lines = m[1].split('\n');
  const start = lines.findIndex((l) => /^\s*KEYS\[/.test(l));
  const end = lines.findIndex((l) => /^\s*ARGV\[/.test(l));
  assert.ok(start > 0 && end > start, `${name}.lua documents KEYS, then ARGV`);
  assert.ok(lines.some((l) => /^\s*Output:/.test(l)), `${name}.lua documents its output`);
  const decls: { index: number; variadic: boolean; patterns: RegExp[] }[] = [];
  for (const line of lines.slice(start, end)) {
    const d = /^\s*KEYS\[(\d+)(\.\.\.)?\]\s+(.*)$/.exec(line);
    if (d) {
      decls.push({ index: Number(d[1]), variadic: Boolean(d[2]), patterns: keyNamesAt(d[3] ?? '') });
    } else if (line.trim() !== '') {
      decls.at(-1)?.patterns.push(...keyNamesAt(line));
    }
  }
  decls.forEach((d, i) => {
    assert.equal(d.index, i + 1, `${name}.lua: KEYS numbered from 1`);
    assert.ok(d.patterns.length > 0, `${name}.lua: KEYS[${d.index}] names a key of keys.ts`);
    assert.ok(!d.variadic || i === decls.length - 1, `${name}.lua: only the last KEYS line is KEYS[i...]`);
  });
  return decls;
}

const all: readonly Script[] = Object.values(scripts).map((t) => t.script);

/** Checks a call's KEYS against its script's header. */
function checkKeys(script: Script, passed: readonly string[]): void {
  const decls = declaredKeys(script.name);
  const fixed = decls.filter((d) => !d.variadic);
  const rest = decls.find((d) => d.variadic);
  assert.ok(passed.length >= fixed.length, `${script.name}: ${passed.length} keys for ${fixed.length} declared`);
  if (!rest) assert.equal(passed.length, fixed.length, `${script.name}: as many keys as declared`);
  passed.forEach((key, i) => {
    const d = fixed[i] ?? rest;
    assert.ok(d?.patterns.some((p) => p.test(key)), `${script.name}: KEYS[${i + 1}] ${JSON.stringify(key)} is not what its header declares`);
  });
}

/** A connection whose EVALSHA first runs `before` (once), as another client would between a read and its script. */
function racing(redis: Redis, before: () => Promise<void>, times = 1): Redis {
  let left = times;
  return new Proxy(redis, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'evalsha') {
        return async (...args: unknown[]) => {
          if (left > 0) {
            left--;
            await before();
          }
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('Lua scripts and their keys', () => {
  const suite = redisSuite();
  let redis: Redis;
  let other: Redis;
  before(() => {
    redis = suite.redis;
    other = suite.server.connect();
  });

  const inflight = async (worker: string): Promise<string[]> => Object.keys(await redis.hgetall(k.inflight(worker))).sort();

  it('every script opens with a header declaring its KEYS by keys.ts names', () => {
    for (const script of all) declaredKeys(script.name);
  });

  /** Runs every script through its branches. */
  const scenario = async (): Promise<void> => {
    const [a, b] = ['host:1:high,low', 'host:2:low'];
    const now = Math.floor(Date.now() / 1000);
    await redis.rpush(k.queue('high'), 'H1', 'H2');
    await redis.rpush(k.queue('low'), ...Array.from({ length: 8 }, (_, i) => `{"class":"L","args":[${i}]}`));
    for (const w of [a, b]) await scripts.heartbeat.run(redis, [NS, w, 2]);
    await scripts.reserve.run(redis, [NS, a, '0', RUN_AT, 0, 'high', 'low']);
    await scripts.reserve.run(redis, [NS, a, '0', RUN_AT, 0, 'high', 'low']);
    await scripts.reserve.run(redis, [NS, a, '1', '', 5, 'high', 'low']);
    await scripts.reserve.run(redis, [NS, a, '2', RUN_AT, 0, 'high', 'low']);
    const call = scripts.reserve.call([NS, a, '3', '', 0, 'low']);
    await redis.evalsha(call.script.sha, call.keys.length, ...call.keys, ...call.argv);
    await scripts.finish.run(redis, [NS, a, '0', 'ok', '', '', RUN_AT, '4', 0, 0, 'high', 'low']);
    await scripts.finish.run(redis, [NS, a, '2', 'failed', '{"f":1}', '', RUN_AT, '', 0, 0]);
    await scripts.finish.run(redis, [NS, a, '3', 'retry', '{"r":1,"queue":"low"}', String(now - 1), RUN_AT, '5', 9, 0, 'low']);
    await scripts.handBack.run(redis, [NS, a, '4']);
    await scripts.finish.run(redis, [NS, a, '4', 'ok', '', '', RUN_AT, '', 0, 0]);
    await redis.rpush(k.queue('high'), 'H3');
    await scripts.reserve.run(redis, [NS, b, '0', RUN_AT, 0, 'high']);
    await scripts.reserve.run(redis, [NS, b, '1', RUN_AT, 0, 'low']);
    await redis.zadd(k.alive, Date.now() - 60_000, b);
    assert.deepEqual(await scripts.requeueDead.run(redis, [NS, 30_000, 2]), [{ worker: b, handedBack: 2, poisoned: 0 }]);
    await scripts.reserve.run(redis, [NS, a, '6', RUN_AT, 0, 'high']);
    await scripts.handBack.run(redis, [NS, a]);
    await scripts.reserve.run(redis, [NS, a, '7', RUN_AT, 0, 'low']);
    assert.deepEqual(await scripts.heartbeat.run(redis, [NS, a, 2, '8']), [1, 1, 0, '8'], 'a job under a field the worker does not name goes back');
    // A job recovered more often than allowed becomes a failure; one that ends forgets its recoveries.
    await scripts.reserve.run(redis, [NS, b, '2', RUN_AT, 0, 'low']);
    await redis.zadd(k.alive, Date.now() - 60_000, b);
    assert.deepEqual(await scripts.requeueDead.run(redis, [NS, 30_000, 0]), [{ worker: b, handedBack: 0, poisoned: 1 }]);
    await scripts.reserve.run(redis, [NS, a, '9', RUN_AT, 0, 'low']);
    await scripts.finish.run(redis, [NS, a, '9', 'ok', '', '', RUN_AT, '', 0, 0]);
    await redis.rpush(k.delayed(now - 2), '{"class":"D","args":[],"queue":"dq"}', 'garbage');
    await redis.zadd(k.delayedSchedule, now - 2, String(now - 2), now + 3600, String(now + 3600));
    await scripts.moveDue.run(redis, [NS, 2, '2026/11/27 07:12:13 UTC', 'mover']);
    await scripts.moveDue.run(redis, [NS, 2, '2026/11/27 07:12:13 UTC', 'mover']);
    assert.equal(await redis.llen(k.queue('dq')), 1, 'the scenario moved a due job');
    assert.equal(await redis.llen(k.failed), 3, 'the scenario recorded a failure, a poison job and an unreadable delayed job');
    // The dashboard's actions on one item: a failure retried and removed, a waiting job removed, delayed jobs
    // enqueued now and dropped.
    const failure = '{"failed_at":"x","payload":{"class":"F","args":[]},"exception":"E","error":"e","backtrace":[],"worker":"w","queue":"fq"}';
    await redis.rpush(k.failed, failure);
    assert.equal(await scripts.failedRetry.run(redis, [NS, 0, itemId(failure), failure, 'fq', '{"class":"F","args":[]}']), 3, 'found past the index given');
    assert.equal(await scripts.listRemove.run(redis, [NS, '', 3, itemId(failure)]), 3);
    assert.equal(await scripts.listRemove.run(redis, [NS, 'fq', 0, itemId('{"class":"F","args":[]}')]), 0);
    const later = '{"class":"D","args":[1],"queue":"dq"}';
    await redis.rpush(k.delayed(now + 60), later, later);
    await redis.zadd(k.delayedSchedule, now + 60, String(now + 60));
    await redis.sadd(k.timestamps(later), `delayed:${now + 60}`);
    assert.equal(await scripts.delayedTake.run(redis, [NS, now + 60, later, 'dq']), 1);
    assert.equal(await scripts.delayedTake.run(redis, [NS, now + 60, later, '']), 1);
    assert.equal(await redis.llen(k.queue('dq')), 2, 'the scenario enqueued a delayed job now');
    assert.equal(await redis.exists(k.timestamps(later), k.delayed(now + 60)), 0, 'and cleaned up its timestamp');
  };

  it('every script touches only the keys it is given, and is given the keys its header declares', async () => {
    // Loaded beforehand, so that MONITOR shows each call as EVALSHA (it shows EVAL's script text escaped).
    for (const s of all) await redis.script('LOAD', s.lua);
    const monitor = await suite.server.connect().monitor();
    const events: { args: string[]; source: string }[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => { events.push({ args, source }); });
    await new Promise((r) => setTimeout(r, 50));
    try {
      await scenario();
      await redis.echo('scenario done');
      while (!events.some((e) => e.args[0] === 'echo')) await new Promise((r) => setTimeout(r, 20));
    } finally {
      monitor.disconnect();
    }

    const bySha = new Map(all.map((s) => [s.sha, s]));
    const seen = new Set<string>();
    let given: Set<string> | undefined;
    let script: Script | undefined;
    for (const { args, source } of events) {
      const [command = '', ...rest] = args;
      if (/^eval(sha)?$/i.test(command)) {
        const [sha = '', numkeys = '0'] = rest;
        const passed = rest.slice(2, 2 + Number(numkeys));
        script = bySha.get(sha);
        assert.ok(script, `${command} ${sha}: a script of queue/lua`);
        seen.add(script.name);
        checkKeys(script, passed);
        given = new Set(passed);
      } else if (source === 'lua') {
        assert.ok(given && script);
        const touched = (await redis.call('COMMAND', 'GETKEYS', ...args).catch(() => [])) as string[];
        for (const key of touched) assert.ok(given.has(key), `${script.name}: ${command} ${key} is not among its KEYS`);
      } else {
        given = undefined;
      }
    }
    assert.deepEqual([...seen].sort(), all.map((s) => s.name).sort(), 'the scenario ran every script');
  });

  it('hand-back given too few queue lists writes nothing and names the missing queues', async () => {
    const w = 'host:1:high,low';
    await redis.rpush(k.queue('low'), 'L1');
    await redis.rpush(k.queue('high'), 'H1');
    await scripts.reserve.run(redis, [NS, w, '0', RUN_AT, 0, 'low']);
    await scripts.reserve.run(redis, [NS, w, '1', RUN_AT, 0, 'high']);
    const res = await scripts.handBack.script.eval(redis, [k.inflight(w), k.running, k.queues, k.worker(w), k.queue('low')], [0, 'low']);
    assert.deepEqual(res, ['high']);
    assert.deepEqual(await inflight(w), ['0', '1']);
    assert.equal(await redis.llen(k.queue('low')), 0);
    assert.deepEqual(await redis.hgetall(k.running), { high: '1', low: '1' });
  });

  it('hand-back: a job taken from another queue between two calls goes back too, once', async () => {
    const w = 'host:1:*';
    await redis.rpush(k.queue('low'), 'L1');
    await redis.rpush(k.queue('other'), 'O1');
    await scripts.reserve.run(redis, [NS, w, '0', RUN_AT, 0, 'low']);
    // Between the call that learns of `low` and the one that passes it, another slot takes from `other`.
    let calls = 0;
    const conn = racing(redis, async () => {
      if (++calls === 2) await scripts.reserve.run(other, [NS, w, '1', RUN_AT, 0, 'other']);
    }, 2);
    assert.equal(await scripts.handBack.run(conn, [NS, w]), 2);
    assert.deepEqual(await redis.lrange(k.queue('low'), 0, -1), ['L1']);
    assert.deepEqual(await redis.lrange(k.queue('other'), 0, -1), ['O1']);
    assert.deepEqual(await inflight(w), []);
    assert.deepEqual(await redis.hgetall(k.running), {});
  });

  it('requeue-dead leaves alone a worker that beat after it was listed', async () => {
    const w = 'slow:1:low';
    await redis.rpush(k.queue('low'), 'L1');
    await scripts.heartbeat.run(redis, [NS, w, 2]);
    await scripts.reserve.run(redis, [NS, w, '0', RUN_AT, 0, 'low']);
    await redis.zadd(k.alive, Date.now() - 60_000, w);
    const conn = racing(redis, async () => { await scripts.heartbeat.run(other, [NS, w, 2, '0']); });
    assert.deepEqual(await scripts.requeueDead.run(conn, [NS, 30_000, 2]), []);
    assert.deepEqual(await inflight(w), ['0']);
    assert.deepEqual(await redis.smembers(k.workers), [w]);
  });

  it('requeue-dead run by several workers at once hands each job back once', async () => {
    const dead = ['gone:1:a', 'gone:2:a,b'];
    await redis.rpush(k.queue('a'), 'A1', 'A2', 'A3');
    await redis.rpush(k.queue('b'), 'B1');
    for (const w of dead) await scripts.heartbeat.run(redis, [NS, w, 2]);
    await scripts.reserve.run(redis, [NS, 'gone:1:a', '0', RUN_AT, 0, 'a']);
    await scripts.reserve.run(redis, [NS, 'gone:2:a,b', '0', RUN_AT, 0, 'b']);
    await scripts.reserve.run(redis, [NS, 'gone:2:a,b', '1', RUN_AT, 0, 'a']);
    for (const w of dead) await redis.zadd(k.alive, Date.now() - 60_000, w);
    const conns = [redis, other, suite.server.connect(), suite.server.connect()];
    const results = await Promise.all(conns.map((c) => scripts.requeueDead.run(c, [NS, 30_000, 2]) as Promise<Requeued[]>));
    const handed = results.flat().reduce((n, r) => n + r.handedBack, 0);
    assert.equal(handed, 3);
    assert.deepEqual((await redis.lrange(k.queue('a'), 0, -1)).sort(), ['A1', 'A2', 'A3']);
    assert.deepEqual(await redis.lrange(k.queue('b'), 0, -1), ['B1']);
    assert.deepEqual(await redis.hgetall(k.running), {});
    assert.deepEqual(await redis.smembers(k.workers), []);
  });

  it('move-due given items a list no longer starts with moves nothing', async () => {
    const ts = String(Math.floor(Date.now() / 1000) - 1);
    const item = '{"class":"X","args":[],"queue":"q"}';
    await redis.rpush(k.delayed(ts), item);
    await redis.zadd(k.delayedSchedule, ts, ts);
    const keysFor = (i: string): string[] => [k.delayedSchedule, k.queues, k.stat('failed'), k.delayed(ts), k.timestamps(i), k.queue('q')];
    const stale = '{"class":"Y","args":[],"queue":"q"}';
    assert.equal(await scripts.moveDue.script.eval(redis, keysFor(stale), ['at', 'm', ts, 1, stale, 'q']), -1);
    assert.deepEqual(await redis.lrange(k.delayed(ts), 0, -1), [item]);
    assert.equal(await redis.exists(k.queue('q')), 0);
    assert.equal(await scripts.moveDue.script.eval(redis, keysFor(item), ['at', 'm', ts, 1, item, 'q']), 1);
    assert.deepEqual(await redis.lrange(k.queue('q'), 0, -1), [item]);
  });

  it('move-due racing another mover, and an enqueue, moves every item once', async () => {
    const ts = Math.floor(Date.now() / 1000) - 1;
    const items = [0, 1, 2].map((i) => `{"class":"X","args":[${i}],"queue":"q"}`);
    await redis.rpush(k.delayed(ts), ...items);
    await redis.zadd(k.delayedSchedule, ts, String(ts));
    const late = '{"class":"X","args":[3],"queue":"q"}';
    const conn = racing(redis, async () => {
      assert.equal(await scripts.moveDue.run(other, [NS, 2, 'at', 'other']), 2);
      await redis.rpush(k.delayed(ts), late);
    });
    const moved = Number(await scripts.moveDue.run(conn, [NS, 10, 'at', 'me']));
    assert.equal(moved, 2, 'the item the other left, and the one enqueued meanwhile');
    assert.deepEqual(await redis.lrange(k.queue('q'), 0, -1), [...items, late]);
    assert.equal(await redis.exists(k.delayed(ts)), 0);
    assert.equal(await redis.zcard(k.delayedSchedule), 0);
  });

  it('move-due moves an item that is not UTF-8 with its exact bytes, and forgets an empty timestamp', async () => {
    const ts = Math.floor(Date.now() / 1000) - 1;
    const item = Buffer.concat([Buffer.from('{"class":"X","args":["'), Buffer.from([0xff, 0xfe]), Buffer.from('"],"queue":"q"}')]);
    await redis.rpush(k.delayed(ts), item);
    await redis.sadd(k.timestamps(item), `delayed:${ts}`);
    await redis.zadd(k.delayedSchedule, ts, String(ts), ts - 1, String(ts - 1));
    assert.equal(await scripts.moveDue.run(redis, [NS, 10, 'at', 'me']), 1);
    assert.deepEqual(await redis.lrangeBuffer(k.queue('q'), 0, -1), [item]);
    assert.equal(await redis.exists(k.timestamps(item)), 0);
    assert.equal(await redis.zcard(k.delayedSchedule), 0);
  });
});

// keys.ts stays the one place names are made: a Buffer payload names the same key as its string.
describe('keys', () => {
  it('timestamps of a Buffer is the bytes of timestamps of its string', () => {
    const ks: Keys = keys('ns');
    assert.deepEqual(ks.timestamps(Buffer.from('{"a":1}')), Buffer.from(ks.timestamps('{"a":1}')));
  });
});
