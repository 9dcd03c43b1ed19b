// forkpool up <jobpool.yaml>: a JobPool run on this machine, as the operator would run it on a cluster.
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { z } from 'zod';
import type { RedisTarget } from '../../../queue/src/redis-connection.ts';
import { redactUrl } from '../../../queue/src/redis-url.ts';
import { connect, type Connection } from '../connect.ts';
import { CliError, usageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { readJobPoolFile } from '../jobpool-file.ts';
import { LocalPool, type PoolEvent } from '../local-pool.ts';
import { commonSchema, resolveTarget, withConnectionFlags } from '../options.ts';
import { findRedisServer, isLocalRedis, startSessionRedis, type SessionRedis } from '../session-redis.ts';

/** What `forkpool help up` says after the options. */
export const UP_HELP = `
Runs the JobPool in the file (the same one you kubectl apply) on this machine: forkpool-worker
masters as local processes with the environment the operator gives its pods, sized every
spec.scaling.pollIntervalSeconds by the operator's autoscaler from queue depth and jobs in flight
(min/max, jobsPerReplica, scaleDownDelaySeconds, scale to zero), idle workers stopped first on a
scale-down, and spec.schedules enqueued on time. Ctrl-C stops taking jobs, lets running ones finish
and exits; a second Ctrl-C hands unfinished jobs back to their queues now. Should forkpool up be
killed, its workers stop as on the first Ctrl-C.

The pool's spec.redis.url is used unless --redis is given (with urlFrom: --redis or $REDIS_URL).
When that Redis is on this machine (localhost, 127.0.0.1, ::1), cannot be reached, and redis-server is
on the PATH, one is started for the session; never for a Redis on another host, nor with --no-redis.

With --json, every event (scale, worker started/stopping/exited, schedule fired, status) is a JSON
line on stdout.`;

export const upSchema = commonSchema.extend({
  jobs: z.string().min(1).default('./jobs'),
  logFile: z.string().min(1).optional(),
  /** false with --no-redis: never start a session redis-server */
  startRedis: z.boolean().default(true),
});

/** The worker master's entry point next to this file: the built .js under dist, the .ts in the sources. */
const WORKER_BIN = fileURLToPath(new URL(`../../../worker-image/src/bin${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

const clock = (): string => new Date().toISOString().slice(11, 19);

/** The status line's words for why the pool has its size (the reason codes are for --json and conditions). */
const SIZE_WORDS: Record<Extract<PoolEvent, { type: 'status' }>['reason'], string> = {
  Paused: 'paused: size held',
  FixedReplicas: 'fixed size (spec.replicas)',
  RedisUnreachable: 'Redis cannot be read: size held',
  Fallback: 'Redis cannot be read: fallback size',
  ScaledUp: 'scaling up',
  ScaledDown: 'scaling down',
  ScaleUpDelayed: 'more needed: scaling up after the scale-up stabilization window',
  ScaleDownDelayed: 'fewer needed: scaling down after scaleDownDelaySeconds unless demand rises',
  ScaleUpLimited: 'more needed: scaling up at the rate behavior.scaleUp allows',
  ScaleDownLimited: 'fewer needed: scaling down at the rate behavior.scaleDown allows',
  AtMaxReplicas: 'more needed: capped at maxReplicas',
  AtMinReplicas: 'held at minReplicas',
  DemandMet: 'enough workers',
};

/** One line for people about an event; undefined for those not worth a line. */
function describe(e: PoolEvent): string | undefined {
  switch (e.type) {
    case 'scale': return e.message;
    case 'worker-started': return `started worker ${e.pid}`;
    case 'worker-stopping': return `stopping worker ${e.pid} (${e.inFlight === 0 ? 'idle' : `finishing ${e.inFlight} job${e.inFlight === 1 ? '' : 's'}`})`;
    case 'worker-exited': return e.expected ? `worker ${e.pid} exited` : `worker ${e.pid} exited unexpectedly (${e.signal !== null ? `killed by ${e.signal}` : `exit code ${e.code}`}); it will be replaced`;
    case 'schedule-fired': return `schedule ${e.schedule}: enqueued its job`;
    case 'status': return undefined;
  }
}

/** A target that is its URL alone: no TLS files, credentials or sentinels given apart from it. */
function isPlain(target: RedisTarget): boolean {
  return Object.keys(target).length === 1;
}

/** forkpool up: runs a JobPool's workers on this machine until Ctrl-C. */
export async function upCommand(opts: z.output<typeof upSchema>, io: Io): Promise<number> {
  const [file] = opts.positionals;
  if (file === undefined) throw usageError('up needs a JobPool file: forkpool up jobpool.yaml');
  const pool = readJobPoolFile(file);
  const jobsDir = resolve(opts.jobs);
  if (!existsSync(jobsDir) || !statSync(jobsDir).isDirectory()) throw usageError(`jobs folder ${jobsDir} does not exist (--jobs DIR)`);
  if (!existsSync(WORKER_BIN)) throw new CliError('runtime', `forkpool-worker not found at ${WORKER_BIN}`);

  const target = resolveTarget(opts, io.env, { url: pool.spec.redis.url, namespace: pool.spec.redis.namespace });
  let session: SessionRedis | undefined;
  let conn: Connection;
  let url = target.redis.url;
  try {
    conn = await connect(target.redis, target.namespace, { longLived: true });
  } catch (err) {
    // A session Redis stands in only for a Redis meant to run on this machine: for a remote one it
    // would hide the outage and take the jobs away from everyone else who uses that server. Nor for a target
    // with TLS files, credentials or sentinels apart from its URL: they describe a set-up of its own, which a
    // plain, empty redis-server would not be.
    const binary = findRedisServer(io.env);
    if (!(err instanceof CliError) || err.kind !== 'redisUnreachable' || !opts.startRedis || !isLocalRedis(url) || !isPlain(target.redis) || !binary) throw err;
    session = await startSessionRedis(binary, url);
    io.err(`Redis at ${redactUrl(url)} is unreachable: started ${binary} at ${session.url} for this session (its data goes when forkpool up exits)`);
    url = session.url;
    conn = await connect({ url }, target.namespace, { longLived: true });
  }

  const logFile = resolve(opts.logFile ?? join(tmpdir(), `forkpool-up-${pool.metadata.name}.log`));
  const fd = openSync(logFile, 'a');
  const log = pino({ name: 'forkpool-up', level: 'info' }, pino.destination({ fd, sync: true }));
  const name = pool.metadata.name;
  let lastStatus = '';
  const onEvent = (e: PoolEvent): void => {
    if (e.type === 'status') {
      const line = `${name}: ${e.workers} worker${e.workers === 1 ? '' : 's'}${e.stopping ? ` (+${e.stopping} stopping)` : ''}, ` +
        `${e.waiting ?? '?'} waiting, ${e.inFlight ?? '?'} in flight; ${SIZE_WORDS[e.reason]}`;
      if (io.stderrIsTTY && !opts.json) io.status(line);
      const changed = line.replace(/, \d+ waiting, \d+ in flight/, '') !== lastStatus.replace(/, \d+ waiting, \d+ in flight/, '');
      if (changed && opts.json) io.out(JSON.stringify({ time: new Date().toISOString(), ...e }));
      else if (changed && !io.stderrIsTTY) io.err(`${clock()} ${line}`);
      lastStatus = line;
      return;
    }
    if (opts.json) io.out(JSON.stringify({ time: new Date().toISOString(), ...e }));
    else {
      const text = describe(e);
      if (text) io.err(`${clock()} ${text}`);
    }
  };

  let local: LocalPool;
  try {
    local = new LocalPool({
      pool, redisUrl: url, namespace: target.namespace, redis: conn.redis, jobsDir,
      workerCommand: [process.execPath, WORKER_BIN], workerOutput: fd, baseEnv: withConnectionFlags(opts, io.env), log, onEvent,
    });
  } catch (err) {
    await conn.close();
    await session?.stop();
    closeSync(fd);
    throw usageError(`${file}: ${(err as Error).message}`);
  }
  io.err(`forkpool up: pool ${name} on ${redactUrl(url)} (namespace ${target.namespace}), queues ${pool.spec.queues.join(',')}, ` +
    `${pool.spec.scaling.minReplicas}-${pool.spec.scaling.maxReplicas} workers, jobs from ${jobsDir}; worker logs in ${logFile}; Ctrl-C to stop`);
  local.start();

  // The workers run in sessions of their own (LocalPool), so a terminal's ^C reaches this process alone. The
  // first SIGINT or SIGTERM becomes one SIGTERM to each worker: no new jobs, running ones finish. The second
  // becomes a second SIGTERM: unfinished jobs are handed back to their queues now. Should this process die
  // without stopping them (SIGKILL, a closed terminal's SIGHUP), each worker sees its IPC channel close and
  // stops as on the first SIGTERM.
  await new Promise<void>((done) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        const { workers, stopping } = local.size;
        io.err(`${signal}: stopping ${workers + stopping} worker(s) after their running jobs (Ctrl-C again to hand the jobs back now)`);
        void local.stop().then(done);
      } else {
        io.err(`${signal}: handing unfinished jobs back to their queues`);
        void local.stop();
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  if (io.stderrIsTTY) io.status('');
  io.err('forkpool up: all workers stopped');
  await conn.close();
  if (session) {
    await session.stop();
    io.err(`stopped the session's redis-server`);
  }
  log.flush();
  closeSync(fd);
  return 0;
}
