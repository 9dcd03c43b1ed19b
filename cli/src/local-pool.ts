// Local mode: a JobPool's worker masters as processes on this machine, sized by the operator's autoscaler,
// scaled down idle-first, with the pool's cron schedules run by the operator's scheduler.
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keys as keyNames, type Keys } from '../../queue/src/keys.ts';
import { formatWorkerId, newStartId } from '../../queue/src/worker-id.ts';
import { decideReplicas, type ScaleReason } from '../../operator/src/autoscaler.ts';
import type { Recommendation, ScaleEvent } from '../../operator/src/scaling-behavior.ts';
import { workerEnv } from '../../operator/src/desired-deployment.ts';
import type { JobPool } from '../../operator/src/jobpool.ts';
import { compileSchedule, Scheduler } from '../../operator/src/scheduler.ts';
import { poolKeyOf } from './jobpool-file.ts';

export interface LocalPoolOptions {
  readonly pool: JobPool;
  /** the Redis the workers use (the pool's, or the one started for the session) */
  readonly redisUrl: string;
  readonly namespace: string;
  /** a connection to it, for polling and the scheduler */
  readonly redis: Redis;
  readonly jobsDir: string;
  /** how to start one worker master, e.g. `[process.execPath, 'dist/worker-image/src/bin.js']` */
  readonly workerCommand: readonly string[];
  /** the worker's stdout and stderr (an open file descriptor) */
  readonly workerOutput: number;
  /** the environment workers start from (PATH, the jobs' own settings) */
  readonly baseEnv: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly onEvent: (event: PoolEvent) => void;
}

/** What the pool did, for the status line and `--json`. */
export type PoolEvent =
  | { type: 'scale'; from: number; to: number; reason: ScaleReason; message: string }
  | { type: 'worker-started'; id: string; pid: number }
  | { type: 'worker-stopping'; id: string; pid: number; inFlight: number }
  | { type: 'worker-exited'; id: string; pid: number; code: number | null; signal: string | null; expected: boolean }
  | { type: 'schedule-fired'; schedule: string }
  | { type: 'status'; workers: number; stopping: number; desired: number; waiting: number | undefined; inFlight: number | undefined; reason: ScaleReason; message: string };

interface LocalWorker {
  readonly id: string;
  readonly proc: ChildProcess;
  readonly startedAt: number;
  stopping: boolean;
  readonly exited: Promise<void>;
}

/** A worker that dies sooner than this after its start counts as crashing: its replacement waits. */
const CRASH_WINDOW_MS = 10_000;
const MAX_RESPAWN_DELAY_MS = 60_000;
const SCHEDULER_TICK_MS = 1000;

export class LocalPool {
  readonly #o: LocalPoolOptions;
  readonly #k: Keys;
  readonly #workers = new Map<number, LocalWorker>();
  readonly #scheduler: Scheduler;
  readonly #host = hostname();
  /** What the next decision starts from: its recommendations and the scale events (the behavior's windows and policies). */
  #recommendations: Recommendation[] = [];
  #scaleEvents: ScaleEvent[] = [];
  #failedReads = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  #schedulerTimer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #stopping = false;
  #crashes = 0;
  #respawnAt = 0;

  constructor(options: LocalPoolOptions) {
    this.#o = options;
    this.#k = keyNames(options.namespace);
    this.#scheduler = new Scheduler({
      log: options.log,
      identity: `forkpool-up:${this.#host}:${process.pid}`,
      onFired: (_pool, schedule) => options.onEvent({ type: 'schedule-fired', schedule }),
    });
    const compiled = options.pool.spec.schedules.map((schedule) => ({ schedule, result: compileSchedule(schedule) }));
    const bad = compiled.find((c) => !c.result.ok);
    if (bad && !bad.result.ok) throw new Error(bad.result.error);
    this.#scheduler.setPool(poolKeyOf(options.pool), options.redis, options.namespace, compiled.flatMap((c) => (c.result.ok ? [{ schedule: c.schedule, cron: c.result.cron }] : [])));
  }

  /** Starts polling (the first decision at once) and the scheduler. */
  start(): void {
    const poll = this.#o.pool.spec.scaling.pollIntervalSeconds * 1000;
    const loop = (): void => {
      this.#ticking = this.tick().finally(() => {
        this.#ticking = undefined;
        if (!this.#stopping) this.#pollTimer = setTimeout(loop, poll);
      });
    };
    loop();
    let busy = false;
    this.#schedulerTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.#scheduler.tick().finally(() => (busy = false));
    }, SCHEDULER_TICK_MS);
  }

  /** The worker id a master registers under: `host:pid-start:queues`, the start given to it (FORKPOOL_START_ID). */
  #workerId(pid: number, start: string): string {
    return formatWorkerId({ host: this.#host, pid, start, queues: this.#o.pool.spec.queues });
  }

  #active(): LocalWorker[] {
    return [...this.#workers.values()].filter((w) => !w.stopping);
  }

  /** One poll: read the depth, decide with the operator's autoscaler, start or stop workers. */
  async tick(now = Date.now()): Promise<void> {
    const { spec } = this.#o.pool;
    let waiting: number | undefined;
    let inFlight: number | undefined;
    try {
      const pipe = this.#o.redis.pipeline();
      for (const q of spec.queues) pipe.llen(this.#k.queue(q));
      pipe.hmget(this.#k.running, ...spec.queues);
      const res = (await pipe.exec()) ?? [];
      const err = res.find(([e]) => e !== null)?.[0];
      if (err) throw err;
      waiting = spec.queues.reduce((n, _q, i) => n + Number(res[i]?.[1] ?? 0), 0);
      this.#failedReads = 0;
      inFlight = ((res[spec.queues.length]?.[1] ?? []) as (string | null)[]).reduce((n, v) => n + Math.max(0, Number(v ?? 0)), 0);
    } catch (err) {
      this.#failedReads += 1;
      this.#o.log.warn({ err: String(err) }, 'cannot read the queue depth: holding the pool size');
    }
    if (this.#stopping) return;
    const active = this.#active();
    const decision = decideReplicas({
      waiting,
      inFlight,
      current: active.length,
      minReplicas: spec.scaling.minReplicas,
      maxReplicas: spec.scaling.maxReplicas,
      jobsPerReplica: spec.scaling.jobsPerReplica,
      scaleDownDelaySeconds: spec.scaling.scaleDownDelaySeconds,
      fixedReplicas: spec.replicas,
      paused: undefined,
      failedReads: this.#failedReads,
      fallback: spec.scaling.fallback,
      behavior: spec.scaling.behavior,
      recommendations: this.#recommendations,
      scaleEvents: this.#scaleEvents,
      now,
    });
    this.#recommendations = decision.recommendations;
    this.#scaleEvents = decision.scaleEvents;
    const scale = decision.desired > active.length ? now >= this.#respawnAt : decision.desired < active.length;
    if (scale) {
      this.#scaleEvents.push({ at: now, change: decision.desired - active.length });
      this.#o.log.info({ from: active.length, to: decision.desired, reason: decision.reason }, decision.message);
      this.#o.onEvent({ type: 'scale', from: active.length, to: decision.desired, reason: decision.reason, message: decision.message });
      if (decision.desired > active.length) for (let i = active.length; i < decision.desired; i++) this.#spawn();
      else await this.#stopIdleFirst(active, active.length - decision.desired);
    }
    const workers = this.#active().length;
    this.#o.onEvent({
      type: 'status', workers, stopping: this.#workers.size - workers, desired: decision.desired, waiting, inFlight, reason: decision.reason, message: decision.message,
    });
  }

  #spawn(): void {
    const { pool } = this.#o;
    const [cmd, ...args] = this.#o.workerCommand as [string, ...string[]];
    const container = pool.spec.template.spec.containers.find((c) => c.name === 'worker') ?? pool.spec.template.spec.containers[0];
    // The container's own plain env, then what the operator sets (it wins, as on the cluster).
    const templateEnv = Object.fromEntries(
      ((container?.env ?? []) as { name?: unknown; value?: unknown }[])
        .filter((e): e is { name: string; value: string } => typeof e.name === 'string' && typeof e.value === 'string')
        .map((e) => [e.name, e.value]),
    );
    const operatorEnv = Object.fromEntries(workerEnv(pool).flatMap((e) => (e.value !== undefined ? [[e.name, e.value]] : [])));
    // A fresh start id for every process, so that `up` knows the id each worker registers under.
    const start = newStartId();
    const proc = spawn(cmd, args, {
      env: {
        ...this.#o.baseEnv,
        ...templateEnv,
        ...operatorEnv,
        REDIS_URL: this.#o.redisUrl,
        RESQUE_NAMESPACE: this.#o.namespace,
        JOBS_DIR: this.#o.jobsDir,
        HOSTNAME: this.#host,
        FORKPOOL_START_ID: start,
        // Several masters on one machine: each takes a free port for health and metrics.
        PORT: '0',
        // The pod's grace period covers the job timeout; locally the master itself waits that long.
        SHUTDOWN_TIMEOUT_SECONDS: String(pool.spec.worker.jobTimeoutSeconds),
      },
      // A session of its own: a terminal's ^C reaches `up` alone, which turns it into one SIGTERM (see stop()).
      // The IPC channel carries nothing; when it closes, `up` is gone (even SIGKILLed) and the worker stops.
      detached: true,
      stdio: ['ignore', this.#o.workerOutput, this.#o.workerOutput, 'ipc'],
    });
    const pid = proc.pid;
    if (pid === undefined) {
      this.#o.log.error({ command: this.#o.workerCommand }, 'cannot start a worker');
      this.#crashed();
      return;
    }
    const id = this.#workerId(pid, start);
    const startedAt = Date.now();
    const exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        const worker = this.#workers.get(pid);
        this.#workers.delete(pid);
        const expected = (worker?.stopping ?? false) || this.#stopping;
        if (!expected && Date.now() - startedAt < CRASH_WINDOW_MS) this.#crashed();
        else if (!expected) this.#crashes = 0;
        if (!expected) this.#o.log.warn({ id, code, signal }, 'worker exited unexpectedly; the next poll replaces it');
        this.#o.onEvent({ type: 'worker-exited', id, pid, code, signal, expected });
        resolve();
      });
    });
    proc.once('error', (err) => this.#o.log.error({ err: String(err) }, 'worker process error'));
    this.#workers.set(pid, { id, proc, startedAt, stopping: false, exited });
    this.#o.onEvent({ type: 'worker-started', id, pid });
  }

  #crashed(): void {
    this.#crashes++;
    this.#respawnAt = Date.now() + Math.min(1000 * 2 ** this.#crashes, MAX_RESPAWN_DELAY_MS);
  }

  /** SIGTERMs `count` workers, those holding no job first (then the fewest jobs, then the youngest). */
  async #stopIdleFirst(active: LocalWorker[], count: number): Promise<void> {
    let held: number[];
    try {
      const pipe = this.#o.redis.pipeline();
      for (const w of active) pipe.hlen(this.#k.inflight(w.id));
      held = ((await pipe.exec()) ?? []).map(([err, n]) => (err ? Number.POSITIVE_INFINITY : Number(n)));
    } catch {
      // Without knowing who is idle, stopping anyone could interrupt a job: wait for the next poll.
      return;
    }
    const order = active
      .map((w, i) => ({ w, held: held[i] ?? Number.POSITIVE_INFINITY }))
      .sort((a, b) => a.held - b.held || b.w.startedAt - a.w.startedAt);
    for (const { w, held: inFlight } of order.slice(0, count)) {
      w.stopping = true;
      w.proc.kill('SIGTERM');
      this.#o.onEvent({ type: 'worker-stopping', id: w.id, pid: w.proc.pid ?? 0, inFlight });
    }
  }

  /** Workers running now (not stopping) and stopping. */
  get size(): { workers: number; stopping: number } {
    const workers = this.#active().length;
    return { workers, stopping: this.#workers.size - workers };
  }

  /**
   * Stops polling and scheduling and SIGTERMs every worker not stopping yet: each finishes its running jobs
   * and exits. Called again, it SIGTERMs them all again, a second signal, which makes them hand their jobs
   * back to the queues now.
   */
  async stop(): Promise<void> {
    const again = this.#stopping;
    this.#stopping = true;
    clearTimeout(this.#pollTimer);
    clearInterval(this.#schedulerTimer);
    await this.#ticking;
    for (const w of this.#workers.values()) {
      // One scaled down already has its SIGTERM: another now would interrupt its jobs.
      if (w.stopping && !again) continue;
      w.stopping = true;
      w.proc.kill('SIGTERM');
    }
    await Promise.all([...this.#workers.values()].map((w) => w.exited));
  }
}
