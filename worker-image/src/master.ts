// The master: takes jobs in queue-priority order, runs each in a child through its slot's executor, records
// how it ended, and never runs job code itself. Signals, as Resque, with Kubernetes in mind:
//   TERM, INT, QUIT  stop taking jobs; running ones finish within SHUTDOWN_TIMEOUT_SECONDS, then are handed
//                    back to the head of their queues. A second one: hand them back now. A child stopped
//                    so gets SIGTERM, then SIGKILL after CHILD_TERM_GRACE_SECONDS (the executors do it).
//   USR1             kill the running children (their jobs fail as Resque::DirtyExit); carry on.
//   USR2 / CONT      pause taking jobs / resume.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  encodeFailure, formatFailedAt, formatRunAt, formatWorkerId, keys, parseJob, scripts, type Keys,
  type Requeued,
} from '../../queue/src/index.ts';
import { withMembers } from '../../queue/src/json-text.ts';
import { evictionProblem, readServerFacts, versionProblem } from '../../queue/src/redis-checks.ts';
import { createRedis, describeTarget, explainRedisError } from '../../queue/src/redis-connection.ts';
import { isFailoverError, redisOptions } from '../../queue/src/redis-options.ts';
import type { WorkerConfig } from './config.ts';
import type { Executor } from './executor.ts';
import { startHttp } from './http.ts';
import { createMetrics, type WorkerMetrics } from './metrics.ts';
import { describeFailure, isRetryable } from './outcome.ts';
import { BlockingTake } from './blocking-take.ts';
import { ForkExecutors } from './fork/fork-executor.ts';
import { SpawnExecutor } from './spawn-executor.ts';
import { launcher, type Launcher } from './launch.ts';
import { Slot, type Ran, type Taken } from './slot.ts';
import { Waker } from './waker.ts';

type Finish = { kind: 'ok' } | { kind: 'failed'; record: string } | { kind: 'retry'; record: string; at: number };

const REDIS_RETRY_MAX_MS = 5000;
/**
 * How long past the shutdown timeout (and past the TERM grace of children it stopped) the master keeps trying
 * to reach Redis before it exits anyway.
 */
const SHUTDOWN_REDIS_GRACE_MS = 5000;
/**
 * A slot takes its next job while the current one runs only when more than this many wait in that queue:
 * under a backlog it saves a round trip per job; with few jobs it never holds one an idle worker could run.
 */
const TAKE_AHEAD_MIN_BACKLOG = 8;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The take script's reply: {queue, payload} or nil. */
const asTaken = (res: unknown, field: string): Taken | undefined =>
  Array.isArray(res) ? { queue: String(res[0]), raw: String(res[1]), field } : undefined;

export class Master {
  readonly id: string;
  readonly #config: WorkerConfig;
  readonly #log: Logger;
  readonly #keys: Keys;
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #waker: Waker;
  readonly #metrics: WorkerMetrics;
  readonly #executors: Executor[] = [];
  /** one per slot when the worker takes from a single named queue (see blocking-take.ts) */
  readonly #blocking: BlockingTake[] = [];
  readonly #stop = new AbortController();
  readonly #timers: NodeJS.Timeout[] = [];
  /** periodic duties under way: a stopping worker waits for them before it unregisters */
  readonly #duties = new Set<Promise<void>>();
  readonly #slots: Slot[] = [];
  readonly #slotLoops: Promise<void>[] = [];
  #server: Server | undefined;
  #beats = 0;
  #paused = false;
  #stoppingNow = false;
  /** when a shutdown that cannot reach Redis gives up (see SHUTDOWN_REDIS_GRACE_MS) */
  #giveUpAt = 0;
  #knownQueues: string[] = [];
  #knownQueuesAt = 0;
  #finished: Promise<void> | undefined;
  readonly #onRedisError: (err: Error) => void;
  /** the last connection error, to say why a start could not connect */
  #lastRedisError: Error | undefined;
  /** false from a failover answer (READONLY, ...) until a heartbeat is written again: /readyz is then 503 */
  #writable = true;
  /**
   * Reconnects after a failover answer that reached a server that still cannot take writes: the address may
   * lead to the old primary for a while (DNS caches), and reconnects back off meanwhile.
   */
  #reconnectsToReplica = 0;
  #lastFailoverLog = 0;
  /** how spawn-mode children are started, chosen once */
  #launch: Launcher | undefined;

  constructor(config: WorkerConfig, log: Logger) {
    this.#config = config;
    this.id = formatWorkerId({ host: config.hostname, pid: process.pid, start: config.startId, queues: config.queues });
    this.#log = log.child({ worker: this.id });
    this.#keys = keys(config.namespace);
    const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times + this.#reconnectsToReplica, 6), REDIS_RETRY_MAX_MS) + Math.floor(Math.random() * 100);
    const opts = redisOptions({ maxRetriesPerRequest: null, retryStrategy, lazyConnect: true }, (err) => this.#onFailover(err));
    this.#redis = createRedis(config.redis, { ...opts, connectionName: `forkpool-worker:${this.id}` });
    // Named at every connect, so that the waker finds it in CLIENT LIST after a reconnect too.
    this.#sub = createRedis(config.redis, { ...opts, connectionName: `forkpool-wake:${randomUUID()}` });
    let lastError = 0;
    let lastLogged = '';
    this.#onRedisError = (err: Error): void => {
      this.#lastRedisError = err;
      // An error that goes on is said once per burst; one of another kind (the server is up again, but now
      // refuses the certificate) at once.
      const explained = explainRedisError(err, config.redis);
      if (Date.now() - lastError > 5000 || explained !== lastLogged) {
        this.#log.error({ err: explained, redis: describeTarget(config.redis) }, 'Redis unreachable; retrying with backoff');
        lastLogged = explained;
      }
      lastError = Date.now();
    };
    for (const conn of [this.#redis, this.#sub]) conn.on('error', this.#onRedisError);
    this.#redis.on('ready', () => {
      if (lastError) this.#log.info('Redis reachable again');
      // After a failover, the first heartbeat on the new connection is what proves the worker can write again.
      if (!this.#writable) {
        this.#heartbeat().catch((err: Error) => { if (isFailoverError(err)) this.#reconnectsToReplica++; });
      }
    });
    const [only] = config.queues;
    if (config.queues.length === 1 && only !== undefined && only !== '*') {
      for (let slot = 0; slot < config.concurrency; slot++) {
        this.#blocking.push(new BlockingTake(config.redis, { ...opts, connectionName: `forkpool-wait:${slot}:${this.id}` }, this.#keys.queue(only)));
      }
    }
    this.#metrics = createMetrics();
    this.#waker = new Waker(this.#redis, this.#sub, this.#keys.queue(''), this.#log, (on) => this.#metrics.queueNotifications.set(on ? 1 : 0));
  }

  /** Connects, registers, starts the slots and the periodic duties. Resolves once jobs are being taken. */
  async start(): Promise<void> {
    const config = this.#config;
    this.#server = await startHttp(config.port, this.#metrics.registry, () => this.#redis.status === 'ready' && this.#writable && !this.#stop.signal.aborted);
    try {
      await Promise.all([this.#redis.connect(), this.#sub.connect(), ...this.#blocking.map((b) => b.connect(this.#onRedisError))]);
    } catch (err) {
      const why = this.#lastRedisError ?? (err as Error);
      const explained = explainRedisError(why, config.redis);
      throw new Error(explained === why.message ? `cannot connect to Redis at ${describeTarget(config.redis)}: ${why.message}` : explained, { cause: err });
    }
    const tooOld = await this.#checkServer();
    if (tooOld) throw new Error(tooOld);
    // A reconnect may reach another server (a failover): it is checked again.
    this.#redis.on('ready', () => void this.#checkServer().then((problem) => { if (problem) this.#log.error(problem); }));
    await this.#heartbeat();
    await this.#waker.start();
    // The heartbeat first, so that a worker never finds its own heartbeat expired.
    this.#every(config.heartbeatIntervalMs, async () => {
      await this.#heartbeat();
      await this.#requeueDead();
    });
    if (config.delayedPollMs > 0) this.#every(config.delayedPollMs, () => this.#moveDue());
    await this.#requeueDead();
    const forks = config.isolation === 'fork' ? await this.#startForkMode() : undefined;
    for (let i = 0; i < config.concurrency; i++) {
      const exec = forks ? forks.executor() : this.#createSpawnExecutor();
      this.#executors.push(exec);
      const slot = new Slot({
        name: String(i), exec, blocking: this.#blocking[i], stopped: this.#stop.signal, run: (taken) => this.#runJob(exec, taken),
      });
      this.#slots.push(slot);
      this.#slotLoops.push(this.#slotLoop(slot));
    }
    const address = this.#server.address();
    this.#log.info({
      queues: config.queues, concurrency: config.concurrency, jobsPerChild: forks ? 1 : config.jobsPerChild, isolation: forks ? 'fork' : 'spawn',
      jobsDir: config.jobsDir, port: typeof address === 'object' && address ? address.port : config.port,
    }, 'worker started');
  }

  /** TERM/INT/QUIT: the first stops taking jobs and drains; the second (or the timeout) hands jobs back now. */
  shutdown(): Promise<void> {
    if (this.#finished) {
      this.#log.warn('second stop signal: handing running jobs back now');
      this.#interruptRunning();
      return this.#finished;
    }
    this.#log.info({ timeoutMs: this.#config.shutdownTimeoutMs }, 'stopping: no new jobs; waiting for running ones');
    this.#stop.abort();
    this.#wakeIdle();
    const deadline = setTimeout(() => {
      this.#log.warn('shutdown timeout reached: handing running jobs back');
      this.#interruptRunning();
    }, this.#config.shutdownTimeoutMs);
    const drained = (async () => {
      await Promise.all(this.#slotLoops);
      clearTimeout(deadline);
      for (const t of this.#timers) clearInterval(t);
      await Promise.all(this.#duties); // a heartbeat landing after the unregistering would register it again
      await Promise.all(this.#executors.map((e) => e.close()));
      const handedBack = Number(await scripts.handBack.run(this.#redis, [this.#keys.namespace, this.id]));
      if (handedBack > 0) this.#log.warn({ handedBack }, 'jobs handed back to their queues');
      await this.#unregister();
      await Promise.all([this.#redis.quit(), this.#sub.quit(), ...this.#blocking.map((b) => b.close())]).catch(() => undefined);
      await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
      this.#log.info('worker stopped');
    })();
    // Without Redis nothing can be handed back; the jobs stay in flight and another worker recovers them once
    // this worker's heartbeat expires. Exit rather than hang.
    let giveUp: NodeJS.Timeout | undefined;
    this.#giveUpAt = Date.now() + this.#config.shutdownTimeoutMs + SHUTDOWN_REDIS_GRACE_MS;
    const unreachable = new Promise<void>((resolve) => {
      const check = (): void => {
        if (Date.now() < this.#giveUpAt) {
          giveUp = setTimeout(check, this.#giveUpAt - Date.now());
          return;
        }
        this.#log.error('Redis unreachable at shutdown: exiting; in-flight jobs will be recovered when the heartbeat expires');
        resolve();
      };
      giveUp = setTimeout(check, this.#giveUpAt - Date.now());
    });
    this.#finished = Promise.race([drained, unreachable]).finally(() => clearTimeout(giveUp));
    return this.#finished;
  }

  /** USR1: kill the children running jobs; the jobs fail as Resque's DirtyExit. */
  killChildren(): void {
    this.#log.warn('USR1: killing running children');
    for (const e of this.#executors) e.killRunning('kill');
  }

  /** USR2 / CONT. */
  setPaused(paused: boolean): void {
    if (this.#paused === paused) return;
    this.#paused = paused;
    this.#log.info(paused ? 'paused: not taking new jobs' : 'resumed');
    this.#wakeIdle();
  }

  /** Idle slots look again at what they may do (pause, resume, stop). */
  #wakeIdle(): void {
    this.#waker.wake();
    for (const b of this.#blocking) void b.interrupt(this.#redis);
  }

  #interruptRunning(): void {
    this.#stoppingNow = true;
    const stopped = this.#executors.map((e) => e.killRunning('interrupt')).some(Boolean);
    // A stopped child may use its whole TERM grace before its job can be handed back.
    if (stopped) this.#giveUpAt = Math.max(this.#giveUpAt, Date.now() + this.#config.childTermGraceMs + SHUTDOWN_REDIS_GRACE_MS);
  }

  /** Fork mode, or undefined (with the reason logged) when it cannot run here: the worker then spawns. */
  async #startForkMode(): Promise<ForkExecutors | undefined> {
    const config = this.#config;
    if (config.jobsPerChild !== 1) this.#log.warn({ jobsPerChild: config.jobsPerChild }, 'JOBS_PER_CHILD is ignored in fork mode: every job gets a fresh fork');
    try {
      return await ForkExecutors.start({
        jobsDir: config.jobsDir,
        limits: { timeoutMs: config.jobTimeoutMs, maxMemoryMb: config.maxChildMemoryMb, termGraceMs: config.childTermGraceMs },
        log: this.#log,
        onChildStart: (ms) => this.#metrics.childStart.observe(ms / 1000),
      });
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'ISOLATION=fork cannot run here; falling back to spawn mode');
      return undefined;
    }
  }

  #createSpawnExecutor(): Executor {
    const config = this.#config;
    if (!this.#launch) {
      const l = launcher();
      if (l.how === 'child_process') this.#log.info({ reason: l.why }, 'job children start with Node\'s spawn, not posix_spawn');
      this.#launch = l.launch;
    }
    return new SpawnExecutor({
      launch: this.#launch,
      jobsDir: config.jobsDir,
      jobsPerChild: config.jobsPerChild,
      limits: { timeoutMs: config.jobTimeoutMs, maxMemoryMb: config.maxChildMemoryMb, termGraceMs: config.childTermGraceMs },
      log: this.#log,
      onChildStart: (ms) => this.#metrics.childStart.observe(ms / 1000),
    });
  }

  /**
   * One slot's loop, read as Resque's worker loop: take a job, run it in a child, wait for it to end, record
   * how it ended. Up to `exec.depth` jobs are given to the executor at once (run one after another); under a
   * backlog one more is taken ahead, to start the moment there is room; recording a job shares one round trip
   * with taking the next. Every job held is in this worker's in-flight hash under its own field, so nothing
   * is only in memory.
   */
  async #slotLoop(slot: Slot): Promise<void> {
    slot.exec.prepare();
    for (;;) {
      // Taken but not started: they go back rather than delay the shutdown.
      if (this.#stopping) await this.#handBackUnstarted(slot);
      if (!slot.busy) {
        if (slot.taking) await slot.nextLanding(); // a job may be on its way
        else if (this.#stopping) break;
        else await this.#takeWhenIdle(slot); // take a job and run it
        continue;
      }
      this.#takeAhead(slot);
      const { taken, ran } = await slot.nextEnded(); // wait for the first job to end
      if (ran.outcome.kind === 'interrupted') await this.#handBackInterrupted(slot, taken);
      else this.#recordAndTakeNext(slot, taken, ran); // record how it ended
    }
    await slot.roundTripsLanded();
    await this.#handBackUnstarted(slot);
  }

  /** Nothing runs: waits while paused, else takes a job (waiting for one when it can) and starts it. */
  async #takeWhenIdle(slot: Slot): Promise<void> {
    const mark = this.#waker.mark;
    if (!this.#canTake()) {
      await this.#waker.wait(mark, this.#stop.signal);
      return;
    }
    const { taken, waited } = await this.#reserveIdle(slot.idleField(), slot.blocking);
    if (taken) {
      slot.idleFieldUsed();
      if (this.#canTake()) slot.add(taken);
      else await this.#handBack(slot, [taken]); // paused or stopped while it waited
    } else if (!waited) {
      await this.#waker.wait(mark, this.#stop.signal);
    }
  }

  /**
   * While jobs run, one more is taken when the slot has room for it, to start the moment the executor has;
   * the take script takes it only under a backlog (TAKE_AHEAD_MIN_BACKLOG).
   */
  #takeAhead(slot: Slot): void {
    if (!this.#canTake() || !slot.hasRoom()) return;
    // One field for every attempt: an attempt whose reply was lost may have taken a job, which the next
    // attempt under the same field returns rather than leave behind.
    const field = slot.nextField();
    slot.track(this.#retrying('take a job', () => this.#reserve(field, true)).then((taken) => {
      if (!taken) slot.release(field);
      return taken;
    }), true);
  }

  /** Records how a job ended; the same round trip takes the next job when the slot has room for one. */
  #recordAndTakeNext(slot: Slot, taken: Taken, ran: Ran): void {
    slot.noteDuration(ran.durationMs);
    const finish = this.#settle(slot.name, taken, ran) as Finish;
    const nextField = this.#canTake() && slot.hasRoom() ? slot.nextField() : undefined;
    const ahead = slot.held > 0;
    slot.track(this.#retrying('record a finished job', () => this.#finish(taken, finish, ran.durationMs, nextField, ahead)).then((next) => {
      slot.release(taken.field);
      if (nextField !== undefined && !next) slot.release(nextField);
      return next;
    }), nextField !== undefined);
  }

  /** A job the second stop signal (or the shutdown timeout) cut short goes back to the head of its queue. */
  async #handBackInterrupted(slot: Slot, taken: Taken): Promise<void> {
    await this.#handBack(slot, [taken]);
    this.#log.warn({ queue: taken.queue, slot: slot.name }, 'job interrupted by shutdown and handed back to the head of its queue');
  }

  /** Jobs the slot took but has not started go back to their queues. */
  async #handBackUnstarted(slot: Slot): Promise<void> {
    const unstarted = slot.unstarted();
    if (unstarted.length > 0) await this.#handBack(slot, unstarted);
  }

  /** A stop signal came: no new jobs. */
  get #stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  #canTake(): boolean {
    return !this.#stopping && !this.#paused;
  }

  async #handBack(slot: Slot, jobs: readonly Taken[]): Promise<void> {
    await this.#retrying('hand a job back', () => scripts.handBack.run(this.#redis, [this.#keys.namespace, this.id, ...jobs.map((j) => j.field)]));
    for (const j of jobs) slot.release(j.field);
  }

  /** Runs a taken job in a child (a malformed or oversize one never reaches a child). */
  async #runJob(exec: Executor, taken: Taken): Promise<Ran> {
    const parsed = parseJob(taken.raw, this.#config.maxPayloadBytes);
    if (!parsed.ok) {
      return { parsed, outcome: { kind: 'error', error: { name: parsed.exception, message: parsed.reason, stack: [] } }, pid: undefined, durationMs: 0 };
    }
    const job = parsed.value;
    if (job.enqueuedAt) this.#metrics.queueWait.observe({ queue: taken.queue }, Math.max(0, Date.now() - job.enqueuedAt.getTime()) / 1000);
    if (this.#stoppingNow) return { parsed, outcome: { kind: 'interrupted' }, pid: undefined, durationMs: 0 };
    return { parsed, ...(await exec.run({ className: job.className, args: job.args })) };
  }

  /** Logs, counts and turns how a job ended into what the finish script records (nothing when interrupted). */
  #settle(slot: string, taken: Taken, ran: Ran): Finish | undefined {
    const { parsed, outcome, pid, durationMs } = ran;
    if (outcome.kind === 'interrupted') return undefined;
    const className = parsed.ok ? parsed.value.className : '(unreadable)';
    const labels = { queue: taken.queue, class: className };
    const fields = { queue: taken.queue, class: className, slot, childPid: pid, jobId: parsed.ok ? parsed.value.jobId : undefined, ms: Math.round(durationMs) };
    this.#metrics.processed.inc(labels);
    this.#metrics.duration.observe(labels, durationMs / 1000);
    if (outcome.kind === 'ok') {
      this.#log.info(fields, 'job done');
      return { kind: 'ok' };
    }
    const failure = describeFailure(outcome);
    const attempt = parsed.ok ? parsed.value.attempt : 0;
    if (parsed.ok && isRetryable(outcome) && attempt < this.#config.retryAttempts) {
      const delay = this.#config.retryBackoffSeconds * 2 ** attempt;
      this.#log.warn({ ...fields, exception: failure.exception, error: failure.error, attempt: attempt + 1, inSeconds: delay }, 'job failed; retrying later');
      this.#metrics.retried.inc(labels);
      const record = withMembers(taken.raw, { queue: taken.queue, forkpool_attempt: attempt + 1 }); // the payload's bytes, kept
      return { kind: 'retry', record, at: Math.floor(Date.now() / 1000) + delay };
    }
    this.#log.warn({ ...fields, exception: failure.exception, error: failure.error }, 'job failed');
    this.#metrics.failed.inc({ ...labels, exception: failure.exception });
    return { kind: 'failed', record: encodeFailure({ at: new Date(), raw: taken.raw, json: parsed.ok || parsed.json, ...failure, worker: this.id, queue: taken.queue }) };
  }

  /**
   * An idle slot's take: waiting in Redis for the queue when it can (see blocking-take.ts), else at once.
   * `waited`: it waited for a job already, so the slot need not wait for a change notification.
   */
  async #reserveIdle(field: string, blocking: BlockingTake | undefined): Promise<{ taken: Taken | undefined; waited: boolean }> {
    if (blocking?.usable) {
      try {
        const res = await blocking.take(scripts.reserve.call([this.#keys.namespace, this.id, field, '', 0, ...this.#config.queues]));
        return { taken: asTaken(res, field), waited: true };
      } catch (err) {
        if (blocking.unsupported) this.#log.info('this Redis has no BLMOVE (6.2+): idle slots wait for change notifications instead');
        else this.#log.debug({ err: (err as Error).message }, 'a waiting take failed; taking at once');
      }
    }
    return { taken: await this.#retrying('take a job', () => this.#reserve(field, false)), waited: false };
  }

  /** Takes a job; `ahead`: one to start when the running one ends, only taken under a backlog. */
  async #reserve(field: string, ahead: boolean): Promise<Taken | undefined> {
    const queues = await this.#queueNames(!ahead);
    if (queues.length === 0) return undefined;
    const res = await scripts.reserve.run(this.#redis, [
      this.#keys.namespace, this.id, field, formatRunAt(new Date()), ahead ? TAKE_AHEAD_MIN_BACKLOG : 0, ...queues,
    ]);
    return asTaken(res, field);
  }

  /**
   * Records how a job ended and how long it ran (the operator's service-time estimate) and, when `nextField`
   * is given, takes the next job under it (ahead: see reserve).
   */
  async #finish(taken: Taken, finish: Finish, durationMs: number, nextField: string | undefined, ahead: boolean): Promise<Taken | undefined> {
    const queues = nextField ? await this.#queueNames(false) : [];
    const record = finish.kind === 'ok' ? '' : finish.record;
    const at = finish.kind === 'retry' ? String(finish.at) : '';
    const res = (await scripts.finish.run(this.#redis, [
      this.#keys.namespace, this.id, taken.field, finish.kind, record, at, formatRunAt(new Date()), nextField ?? '',
      ahead ? TAKE_AHEAD_MIN_BACKLOG : 0, Math.round(durationMs), ...queues,
    ])) as [number, string?, string?];
    if (res[0] === 0) {
      this.#log.warn({ queue: taken.queue, field: taken.field }, 'the job was handed back while it ran (heartbeat lost); it will run again');
    }
    return res.length === 3 && nextField ? asTaken(res.slice(1), nextField) : undefined;
  }

  /** The queues to take from, in priority order; `*` is every known queue, alphabetically, refreshed when idle. */
  async #queueNames(idle: boolean): Promise<string[]> {
    if (this.#config.queues[0] !== '*') return [...this.#config.queues];
    if (idle || Date.now() - this.#knownQueuesAt > 5000) {
      this.#knownQueues = (await this.#redis.smembers(this.#keys.queues)).sort();
      this.#knownQueuesAt = Date.now();
    }
    return this.#knownQueues;
  }

  /**
   * Says the worker is alive. It names every field its slots may hold a job under: what its in-flight hash
   * holds under any other field, no slot runs or will run (a finish acknowledged before a Redis failover and
   * lost in it, say), and the script hands it back. A take sent before the heartbeat is either already in
   * Redis (the same connection keeps the order) or under a field named here (a waiting take's field is
   * named before it is sent).
   *
   * The reply says what the worker no longer holds. A worker whose heartbeat had expired (a partition, a
   * long pause, a frozen VM) was written off by another, which handed its jobs back to their queues: jobs it
   * took and has not started are no longer its own, and it drops them rather than run them twice. Only jobs
   * whose take had landed before the heartbeat was sent are judged: a take still under way may bring a job
   * after it. Running jobs finish; their finish is not counted (see #finish), and they run again elsewhere.
   */
  async #heartbeat(): Promise<void> {
    const fields = this.#slots.flatMap((s) => s.fields);
    const unstarted = new Map(this.#slots.map((s) => [s, s.unstartedFields()]));
    const [alive = 1, handedBack = 0, poisoned = 0, ...empty] = (await scripts.heartbeat.run(this.#redis, [
      this.#keys.namespace, this.id, this.#config.maxRecoveries, ...fields,
    ])) as [number?, number?, number?, ...string[]];
    const first = this.#beats++ === 0;
    if (handedBack + poisoned > 0) {
      this.#log.warn({ handedBack, poisoned }, 'jobs held under this worker\'s id that it does not run are back at the head of their queues');
    }
    const gone = new Set(empty);
    const dropped = [...unstarted].flatMap(([slot, before]) => slot.dropUnstarted(new Set(before.filter((f) => gone.has(f)))));
    const running = this.#slots.flatMap((s) => s.runningFields()).filter((f) => gone.has(f)).length;
    if (!first && alive === 0) {
      this.#metrics.writtenOff.inc();
      this.#log.error(
        { dropped: dropped.length, running },
        'this worker was written off as dead: its heartbeat had expired, and another worker handed its jobs back to their queues '
        + '(or Redis lost its data). It does not start the jobs it had taken; running ones finish uncounted and run again elsewhere. '
        + 'It is registered again.',
      );
    } else if (dropped.length > 0) {
      this.#log.warn({ dropped: dropped.length }, 'jobs taken are no longer in this worker\'s in-flight hash (lost in a Redis failover?): not starting them');
    }
    this.#writable = true;
    this.#reconnectsToReplica = 0;
  }

  /**
   * A server answered that it cannot take writes (READONLY: it is a replica now, the primary having failed
   * over behind the same address; MASTERDOWN; LOADING). The connection that got the answer reconnects (see
   * redis-options.ts); so do the others, which reach the same server and may never send a write there (the
   * subscriber, a wait in BLMOVE): they all open again through the address, to the new primary. The failed
   * command is retried by its caller; the worker is not ready until a heartbeat is written again (one is
   * sent as soon as the command connection is back).
   */
  #onFailover(err: Error): void {
    this.#writable = false;
    if (Date.now() - this.#lastFailoverLog > 5000) {
      this.#lastFailoverLog = Date.now();
      this.#log.warn({ err: err.message }, 'Redis answered as a replica or not ready: reconnecting');
    }
    for (const conn of [this.#redis, this.#sub]) {
      if (conn.status === 'ready') conn.disconnect(true);
    }
    for (const b of this.#blocking) b.reconnect();
  }

  /**
   * Checks the server (see redis-checks.ts): returns why its version cannot be used; logs a memory policy
   * that may evict keys as a warning and exports it; says at debug level what could not be read (CONFIG
   * is often renamed or denied on managed Redis).
   */
  async #checkServer(): Promise<string | undefined> {
    const facts = await readServerFacts(this.#redis);
    if (facts.unread.length > 0) this.#log.debug({ unread: facts.unread }, 'could not read all of the Redis server\'s settings; those are not checked');
    const eviction = evictionProblem(facts.evictionPolicy);
    if (eviction) this.#log.warn({ policy: facts.evictionPolicy }, eviction);
    this.#metrics.evictionPolicyOk.reset();
    if (facts.evictionPolicy !== undefined) this.#metrics.evictionPolicyOk.set({ policy: facts.evictionPolicy }, eviction ? 0 : 1);
    return versionProblem(facts.version);
  }

  async #requeueDead(): Promise<void> {
    const config = this.#config;
    const res = (await scripts.requeueDead.run(this.#redis, [this.#keys.namespace, config.heartbeatTimeoutMs, config.maxRecoveries])) as Requeued[];
    for (const { worker, handedBack, poisoned } of res) {
      this.#log.warn({ deadWorker: worker, jobs: handedBack }, 'worker heartbeat expired: its in-flight jobs are back at the head of their queues');
      if (poisoned > 0) {
        this.#log.error(
          { deadWorker: worker, jobs: poisoned, maxRecoveries: config.maxRecoveries },
          'a job whose worker died while running it more than MAX_RECOVERIES times is recorded as failed (Forkpool::PoisonJob), not run again',
        );
      }
    }
  }

  async #moveDue(): Promise<void> {
    const limit = 1000;
    let moved = 0;
    for (;;) {
      const n = Number(await scripts.moveDue.run(this.#redis, [this.#keys.namespace, limit, formatFailedAt(new Date()), this.id]));
      moved += n;
      if (n < limit) break;
    }
    if (moved > 0) this.#log.debug({ moved }, 'due delayed jobs moved to their queues');
  }

  async #unregister(): Promise<void> {
    const k = this.#keys;
    await this.#redis.multi()
      .srem(k.workers, this.id)
      .zrem(k.alive, this.id)
      .hdel(k.heartbeats, this.id)
      .del(k.worker(this.id), k.workerStarted(this.id), k.workerStat('processed', this.id), k.workerStat('failed', this.id), k.inflight(this.id))
      .exec();
  }

  /** Runs a periodic duty; an error is logged and the next tick tries again. */
  #every(ms: number, duty: () => Promise<void>): void {
    let running: Promise<void> | undefined;
    this.#timers.push(setInterval(() => {
      if (running) return;
      const done = duty().catch((err: Error) => this.#log.error({ err: err.message }, 'periodic duty failed')).finally(() => {
        running = undefined;
        this.#duties.delete(done);
      });
      running = done;
      this.#duties.add(done);
    }, ms));
  }

  /** Redis calls on the job path are retried with backoff until they succeed: a job's result is never dropped. */
  async #retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        this.#log.error({ err: (err as Error).message, attempt }, `cannot ${what}; retrying`);
        await sleep(Math.min(100 * 2 ** attempt, REDIS_RETRY_MAX_MS));
      }
    }
  }
}
