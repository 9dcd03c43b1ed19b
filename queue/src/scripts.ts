// The atomic transitions, kept as Lua files in queue/lua and run with EVALSHA (falling back to EVAL once).
// A script touches only the keys it is given in KEYS, and they are named here, from keys.ts: each Lua
// file's header says which key each KEYS[i] is. Callers pass ARGV-style arguments, the namespace first.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
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

/** A script not yet given its keys: it derives them from the namespace in ARGV[1]. */
function namespaced(name: string): Transition {
  const script = new Script(name);
  return { script, run: (redis, args) => script.eval(redis, [], args) };
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
 * args: namespace, worker id, field, outcome, record, retry timestamp, run_at, next field, min_left, queue names...
 */
const finish = singleCall('finish', (k, [worker = '', field = '', outcome = '', record = '', retryTs = '', runAt = '', nextField = '', minLeft = '', ...queues]) => ({
  keys: [
    k.inflight(worker), k.running, k.worker(worker),
    k.stat('processed'), k.workerStat('processed', worker), k.stat('failed'), k.workerStat('failed', worker), k.failed,
    // Only a retry touches these two; any other outcome passes names of the namespace it leaves alone.
    k.delayedSchedule, k.delayed(retryTs), k.timestamps(outcome === 'retry' ? record : ''),
    ...queues.map((q) => k.queue(q)),
  ],
  argv: [field, outcome, record, retryTs, runAt, nextField, minLeft, ...queues],
}));

/**
 * Records that a worker is alive, in forkpool's liveness zset and Resque's registry.
 * args: namespace, worker id, heartbeat time (Resque's format), start time (Resque's format). Resolves to Redis's time in ms.
 */
const heartbeat = singleCall('heartbeat', (k, [worker = '', beat = '', started = '']) => ({
  keys: [k.alive, k.workers, k.workerStarted(worker), k.heartbeats],
  argv: [worker, beat, started],
}));

/** Every transition, its script loaded once per process. */
export const scripts = {
  reserve,
  finish,
  handBack: namespaced('hand-back'),
  heartbeat,
  requeueDead: namespaced('requeue-dead'),
  moveDue: namespaced('move-due'),
} as const;
