// The atomic transitions, kept as Lua files in queue/lua and run with EVALSHA (falling back to EVAL once).
// A script touches only the keys it is given in KEYS, and they are named here, from keys.ts: each Lua
// file's header says which key each KEYS[i] is. Callers pass ARGV-style arguments, the namespace first.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ChainableCommander, Redis } from 'ioredis';
import { ForkpoolError } from './errors.ts';
import { keys as keyNames, type Keys } from './keys.ts';

/** A key or an argument as Redis takes it (a Buffer passes bytes that are not UTF-8 unchanged). */
export type ScriptArg = string | number | Buffer;

const luaDir = new URL('../lua/', import.meta.url);
const prelude = readFileSync(new URL('_lib.lua', luaDir), 'utf8');

/** One Lua script: its text (with the shared prelude) and its SHA-1 for EVALSHA. */
export class Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;

  constructor(name: string) {
    this.name = name;
    this.lua = `${prelude}\n${readFileSync(new URL(`${name}.lua`, luaDir), 'utf8')}`;
    this.sha = createHash('sha1').update(this.lua).digest('hex');
  }

  /** Runs the script with these KEYS and ARGV. */
  async eval(redis: Redis, keys: readonly (string | Buffer)[], argv: readonly ScriptArg[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...argv);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(this.lua, keys.length, ...keys, ...argv);
      throw err;
    }
  }
}

/** One call of a script, for a caller that sends it itself (in a pipeline): EVALSHA sha numkeys keys argv. */
export interface ScriptCall {
  readonly script: Script;
  readonly keys: readonly (string | Buffer)[];
  readonly argv: readonly ScriptArg[];
}

/** ARGV-style arguments of a transition, the namespace first. */
export type TransitionArgs = readonly (string | number)[];

/** An atomic transition as callers use it: its script, run with the keys built from `args`. */
export interface Transition {
  readonly script: Script;
  run(redis: Redis, args: TransitionArgs): Promise<unknown>;
}

/** A transition whose keys are all known from its arguments: one call of its script. */
export interface SingleCallTransition extends Transition {
  /** The script with its KEYS and ARGV, for `args`. */
  call(args: TransitionArgs): ScriptCall;
}

const keysByNamespace = new Map<string, Keys>();

/** The arguments as strings, and the key names of their namespace (the first). */
function parse(args: TransitionArgs): { k: Keys; rest: string[] } {
  const [ns = '', ...rest] = args.map(String);
  let k = keysByNamespace.get(ns);
  if (!k) {
    k = keyNames(ns);
    keysByNamespace.set(ns, k);
  }
  return { k, rest };
}

function singleCall(name: string, build: (k: Keys, args: string[]) => Omit<ScriptCall, 'script'>): SingleCallTransition {
  const script = new Script(name);
  const call = (args: TransitionArgs): ScriptCall => {
    const { k, rest } = parse(args);
    return { script, ...build(k, rest) };
  };
  return {
    script,
    call,
    run(redis, args) {
      const c = call(args);
      return script.eval(redis, c.keys, c.argv);
    },
  };
}

/**
 * Takes one job for a worker into its in-flight hash.
 * args: namespace, worker id, field, run_at ('' for now), min_left, queue names in priority order...
 * Resolves to [queue, payload] or null.
 */
const reserve = singleCall('reserve', (k, [worker = '', field = '', runAt = '', minLeft = '', ...queues]) => ({
  keys: [k.inflight(worker), k.running, k.worker(worker), ...queues.map((q) => k.queue(q))],
  argv: [field, runAt, minLeft, ...queues],
}));

/**
 * Records how a held job ended and takes the next one (see finish.lua).
 * args: namespace, worker id, field, outcome, record, retry timestamp, run_at, next field, min_left, the job's
 * run time in ms, queue names...
 */
const finish = singleCall('finish', (k, [worker = '', field = '', outcome = '', record = '', retryTs = '', runAt = '', nextField = '', minLeft = '', durationMs = '', ...queues]) => ({
  keys: [
    k.inflight(worker), k.running, k.worker(worker),
    k.stat('processed'), k.workerStat('processed', worker), k.stat('failed'), k.workerStat('failed', worker), k.failed, k.delayedSchedule,
    // A retry's delayed list and index entry; for another outcome, names the script leaves alone.
    k.delayed(retryTs), k.timestamps(outcome === 'retry' ? record : ''), k.recoveries, k.queueStats,
    ...queues.map((q) => k.queue(q)),
  ],
  argv: [field, outcome, record, retryTs, runAt, nextField, minLeft, durationMs, ...queues],
}));

/**
 * Runs a hand-back call until it has been given the list of every queue the jobs it hands back belong to.
 * Those are read from the in-flight hash, which only the script can read atomically with the hand-back: a
 * call that lacks some writes nothing and names them, and the next call passes them too. Between two calls
 * the hash may change (the worker's other slots take and finish; another worker hands back the same dead
 * worker): each call reads it anew and either hands back every job it reads or none, so no job is lost or
 * handed back twice, and a queue passed that is no longer needed is left untouched.
 */
async function withHeldQueues(what: string, run: (queues: readonly string[]) => Promise<unknown>): Promise<unknown> {
  const queues: string[] = [];
  for (;;) {
    const res = await run(queues);
    // Queue names come as strings; a script's own result is a number, nil, or a list that starts with a number.
    if (!Array.isArray(res) || typeof res[0] !== 'string') return res;
    const added = res.map(String).filter((q) => !queues.includes(q));
    // Only a queue name whose bytes do not survive a round trip as a string could come back again.
    if (added.length === 0) throw new ForkpoolError('malformed', `${what}: held jobs name queues that cannot be passed back: ${JSON.stringify(res)}`);
    queues.push(...added);
  }
}

const handBackScript = new Script('hand-back');

/**
 * Puts a live worker's in-flight jobs back at the head of their queues.
 * args: namespace, worker id, fields... (none: every held job). Resolves to the number handed back.
 */
const handBack: Transition = {
  script: handBackScript,
  run(redis, args) {
    const { k, rest: [worker = '', ...fields] } = parse(args);
    return withHeldQueues(`hand back the jobs of ${worker}`, (queues) => handBackScript.eval(
      redis,
      [k.inflight(worker), k.running, k.queues, k.worker(worker), ...queues.map((q) => k.queue(q))],
      [fields.length, ...fields, ...queues],
    ));
  },
};

const heartbeatScript = new Script('heartbeat');

/**
 * Records that a worker is alive, in forkpool's liveness zset and Resque's registry, and hands back the jobs
 * its in-flight hash holds under any field but those it names (see heartbeat.lua).
 * Its times are Redis's clock. args: namespace, worker id, MAX_RECOVERIES, fields the worker may hold a job
 * under... Resolves to [alive before this beat (1) or not (0), jobs handed back, jobs recorded as poison,
 * fields named that hold no job...].
 */
const heartbeat: Transition = {
  script: heartbeatScript,
  run(redis, args) {
    const { k, rest: [worker = '', maxRecoveries = '', ...fields] } = parse(args);
    return withHeldQueues(`heartbeat of ${worker}`, (queues) => heartbeatScript.eval(
      redis,
      [
        k.alive, k.workers, k.workerStarted(worker), k.heartbeats,
        k.inflight(worker), k.running, k.queues, k.worker(worker), k.recoveries, k.failed, k.stat('failed'),
        ...queues.map((q) => k.queue(q)),
      ],
      [worker, maxRecoveries, fields.length, ...fields, ...queues],
    ));
  },
};

const requeueDeadScript = new Script('requeue-dead');

/** What requeueDead did for one dead worker. */
/** How often a job may be recovered from a dead worker before it becomes a poison job, unless MAX_RECOVERIES says otherwise. */
export const DEFAULT_MAX_RECOVERIES = 2;

export interface Requeued {
  readonly worker: string;
  /** jobs back at the head of their queues */
  readonly handedBack: number;
  /** jobs recovered more than MAX_RECOVERIES times, recorded as Forkpool::PoisonJob failures instead */
  readonly poisoned: number;
}

/**
 * Hands back the jobs of every worker whose heartbeat is older than the timeout and unregisters it.
 * args: namespace, timeout in ms, MAX_RECOVERIES. Resolves to a Requeued[], one for each worker handed back.
 */
const requeueDead: Transition = {
  script: requeueDeadScript,
  async run(redis, args): Promise<Requeued[]> {
    const { k, rest: [timeout = '', maxRecoveries = ''] } = parse(args);
    // Redis's clock, as the heartbeats are; the script checks each worker again by it.
    const [s = 0, us = 0] = await redis.time();
    const expired = await redis.zrangebyscore(k.alive, '-inf', Number(s) * 1000 + Math.floor(Number(us) / 1000) - Number(timeout));
    const out: Requeued[] = [];
    for (const worker of expired) {
      const res = await withHeldQueues(`requeue the jobs of ${worker}`, (queues) => requeueDeadScript.eval(
        redis,
        [
          k.alive, k.workers, k.heartbeats, k.worker(worker), k.workerStarted(worker),
          k.workerStat('processed', worker), k.workerStat('failed', worker),
          k.inflight(worker), k.running, k.queues, k.recoveries, k.failed, k.stat('failed'),
          ...queues.map((q) => k.queue(q)),
        ],
        [worker, timeout, maxRecoveries, ...queues],
      ));
      // null: it beat since it was listed, or another worker handed it back first.
      if (Array.isArray(res)) out.push({ worker, handedBack: Number(res[0]), poisoned: Number(res[1]) });
    }
    return out;
  },
};

/** The replies of a pipeline, or its first error. */
async function replies(pipe: ChainableCommander): Promise<unknown[]> {
  const res = (await pipe.exec()) ?? [];
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** The queue a delayed item names, or '' when it names none (it then becomes a failure record). */
function delayedQueue(item: Buffer): string {
  try {
    const job: unknown = JSON.parse(item.toString());
    if (typeof job === 'object' && job !== null && 'queue' in job && typeof job.queue === 'string') return job.queue;
  } catch {
    // not JSON: it names no queue
  }
  return '';
}

const moveDueScript = new Script('move-due');

/**
 * Moves due delayed jobs to their queues, at most `limit` per call (see move-due.lua).
 * args: namespace, limit, failed_at (Resque's format), mover id. Resolves to the number moved.
 */
const moveDue: Transition = {
  script: moveDueScript,
  async run(redis, args) {
    const { k, rest: [limitArg = '', failedAt = '', mover = ''] } = parse(args);
    const limit = Number(limitArg);
    for (;;) {
      // Due by Redis's clock, as resque-scheduler's are.
      const [now = 0] = await redis.time();
      const due = await redis.zrangebyscore(k.delayedSchedule, '-inf', Number(now), 'LIMIT', 0, limit);
      if (due.length === 0) return 0;
      const lengths = await replies(due.reduce((p, ts) => p.llen(k.delayed(ts)), redis.pipeline()));
      let left = limit;
      const counts = lengths.map((n) => {
        const take = Math.min(Number(n), left);
        left -= take;
        return take;
      });
      // Items as bytes: they go back to Redis as they were read, as keys (their index entries) and to compare.
      const heads = await replies(due.reduce((p, ts, i) => (counts[i] ? p.lrangeBuffer(k.delayed(ts), 0, (counts[i] ?? 0) - 1) : p), redis.pipeline()));
      const keys: (string | Buffer)[] = [k.delayedSchedule, k.queues, k.stat('failed')];
      const argv: ScriptArg[] = [failedAt, mover];
      let read = 0;
      due.forEach((ts, i) => {
        const items = counts[i] ? (heads[read++] as Buffer[]) : [];
        keys.push(k.delayed(ts));
        argv.push(ts, items.length);
        for (const item of items) {
          const queue = delayedQueue(item);
          keys.push(k.timestamps(item), queue ? k.queue(queue) : k.failed);
          argv.push(item, queue);
        }
      });
      const moved = Number(await moveDueScript.eval(redis, keys, argv));
      // -1: a list changed since it was read (another mover got there first); read again.
      if (moved >= 0) return moved;
    }
  },
};

/**
 * Retries one failure named by index and SHA-1 (see failed-retry.lua).
 * args: namespace, index, SHA-1, the record marked retried_at, queue, payload. Resolves to the index, or null.
 */
const failedRetry = singleCall('failed-retry', (k, [index = '', sha = '', record = '', queue = '', payload = '']) => ({
  keys: [k.failed, k.queues, k.queue(queue)],
  argv: [index, sha, record, queue, payload],
}));

/**
 * Removes one item of the failed list (queue '') or of a queue, named by index and SHA-1 (see list-remove.lua).
 * args: namespace, queue or '', index, SHA-1. Resolves to the index, or null.
 */
const listRemove = singleCall('list-remove', (k, [queue = '', index = '', sha = '']) => ({
  keys: [queue === '' ? k.failed : k.queue(queue)],
  argv: [index, sha],
}));

/**
 * Takes one delayed job out of the delayed set and enqueues it now, or drops it (see delayed-take.lua).
 * args: namespace, timestamp, the job's exact text, its queue ('' to drop it). Resolves to 1, or 0 when gone.
 */
const delayedTake = singleCall('delayed-take', (k, [ts = '', payload = '', queue = '']) => ({
  keys: [k.delayedSchedule, k.delayed(ts), k.timestamps(payload), ...(queue === '' ? [] : [k.queues, k.queue(queue)])],
  argv: [ts, payload, queue],
}));

/** Every transition, its script loaded once per process. */
export const scripts = {
  reserve,
  finish,
  handBack,
  heartbeat,
  requeueDead,
  moveDue,
  failedRetry,
  listRemove,
  delayedTake,
} as const;
