// One slot of the master: what it holds between the master's round trips to Redis, and the order its jobs
// run in. Every job a slot holds is in one place here: taken and waiting for room in the executor, given to
// the executor, or coming in a round trip still in flight. The master's loop (master.ts) does the I/O.
import type { ParseResult, RunnableJob } from '../../queue/src/index.ts';
import type { BlockingTake } from './blocking-take.ts';
import type { Executor, RunResult } from './executor.ts';

/** A job a slot holds: taken atomically into this worker's in-flight hash. */
export interface Taken {
  readonly queue: string;
  readonly raw: string;
  /** its field in the in-flight hash */
  readonly field: string;
}

/** A job's run: its parsed payload and how it ended. */
export interface Ran extends RunResult {
  readonly parsed: ParseResult<RunnableJob>;
}

/**
 * An executor that accepts several jobs at once (a reused child) is given as many as end within about this
 * long, by the slot's recent job durations: short jobs flow without a pause, while a job sent ahead of long
 * ones never waits long behind them when another worker could have run it.
 */
const SEND_AHEAD_MS = 5;

/** A job given to the executor, until it ends. */
interface Running {
  readonly taken: Taken;
  readonly ran: Promise<Ran>;
}

export interface SlotOptions {
  /** the slot's number, as logs show it and as its in-flight fields begin */
  readonly name: string;
  readonly exec: Executor;
  /** set when the worker takes from a single named queue (see blocking-take.ts) */
  readonly blocking: BlockingTake | undefined;
  /** aborted when the worker stops: no job waiting is given to the executor any more */
  readonly stopped: AbortSignal;
  /** runs a job through `exec` */
  readonly run: (taken: Taken) => Promise<Ran>;
}

export class Slot {
  readonly name: string;
  readonly exec: Executor;
  readonly blocking: BlockingTake | undefined;
  readonly #stopped: AbortSignal;
  readonly #run: (taken: Taken) => Promise<Ran>;
  /** given to the executor, in the order they run and end */
  readonly #running: Running[] = [];
  /** taken, waiting for room in the executor */
  readonly #waiting: Taken[] = [];
  /** round trips in flight that may bring a job (a take-ahead, or a finish that also takes) */
  #taking = 0;
  /** every round trip in flight: the slot ends only after them */
  readonly #inFlight = new Set<Promise<void>>();
  #landed: (() => void) | undefined;
  #seq = 0;
  /**
   * Every field this slot may hold a job under in Redis: from the moment it is named, before its take is
   * sent, until the job under it is finished or handed back, or its take brought nothing. The heartbeat
   * hands back whatever the worker's in-flight hash holds under any other field.
   */
  readonly #fields = new Set<string>();
  /**
   * The field idle takes use, kept until a job comes under it: a take that failed or was cut short may
   * have taken a job in Redis, and the next take under the same field returns it.
   */
  #idleField: string | undefined;
  /** recent job durations (moving average, ms); unknown until the first job ends */
  #typicalMs = Infinity;

  constructor(options: SlotOptions) {
    this.name = options.name;
    this.exec = options.exec;
    this.blocking = options.blocking;
    this.#stopped = options.stopped;
    this.#run = options.run;
  }

  /** Whether the executor has been given jobs that have not ended. */
  get busy(): boolean {
    return this.#running.length > 0;
  }

  /** Whether a round trip in flight may bring a job. */
  get taking(): boolean {
    return this.#taking > 0;
  }

  /** Jobs held: running, waiting for room, or perhaps coming in a round trip. */
  get held(): number {
    return this.#running.length + this.#waiting.length + this.#taking;
  }

  /** Whether one more job may be taken now (see SEND_AHEAD_MS). */
  hasRoom(): boolean {
    const limit = Math.max(1, Math.min(this.exec.depth, Math.floor(SEND_AHEAD_MS / this.#typicalMs))) + 1;
    return this.held < limit;
  }

  /** A new field in the in-flight hash, unique to this slot, held until `release`d. */
  nextField(): string {
    const field = `${this.name}.${this.#seq++}`;
    this.#fields.add(field);
    return field;
  }

  /** Nothing is, or will be, held under this field any more: its job ended or went back, or its take brought none. */
  release(field: string): void {
    this.#fields.delete(field);
  }

  /** The fields the slot may hold a job under (see `#fields`). */
  get fields(): readonly string[] {
    return [...this.#fields];
  }

  /** The field for an idle take: the same until a job comes under it (see `#idleField`). */
  idleField(): string {
    this.#idleField ??= this.nextField();
    return this.#idleField;
  }

  /** A job came under the idle field: the next idle take uses a new one. */
  idleFieldUsed(): void {
    this.#idleField = undefined;
  }

  /** Holds a taken job; the executor is given it as soon as it has room. */
  add(taken: Taken): void {
    this.#waiting.push(taken);
    this.#startJobs();
  }

  /** Keeps a round trip in flight; `takes`: it may bring a job, which is added when it lands. */
  track(roundTrip: Promise<Taken | undefined>, takes: boolean): void {
    if (takes) this.#taking++;
    const done = roundTrip.then((taken) => {
      if (takes) this.#taking--;
      if (taken) this.add(taken);
      this.#inFlight.delete(done);
      this.#landed?.();
    });
    this.#inFlight.add(done);
  }

  /** Resolves when the next round trip in flight lands. */
  async nextLanding(): Promise<void> {
    await new Promise<void>((resolve) => { this.#landed = resolve; });
    this.#landed = undefined;
  }

  /** Waits for the first job given to the executor to end (they end in the order given), then gives it the next. */
  async nextEnded(): Promise<{ taken: Taken; ran: Ran }> {
    const head = this.#running[0] as Running;
    const ran = await head.ran;
    this.#running.shift();
    this.#startJobs();
    return { taken: head.taken, ran };
  }

  /** Notes how long a job ran, for `hasRoom`. */
  noteDuration(ms: number): void {
    this.#typicalMs = this.#typicalMs === Infinity ? ms : 0.8 * this.#typicalMs + 0.2 * ms;
  }

  /** Takes out the jobs taken but not given to the executor, to hand them back. */
  unstarted(): Taken[] {
    return this.#waiting.splice(0);
  }

  /** The fields of the jobs taken and not given to the executor yet. */
  unstartedFields(): string[] {
    return this.#waiting.map((t) => t.field);
  }

  /** The fields of the jobs given to the executor that have not ended. */
  runningFields(): string[] {
    return this.#running.map((r) => r.taken.field);
  }

  /** Drops the jobs taken and not started under these fields: the worker does not hold them any more. */
  dropUnstarted(fields: ReadonlySet<string>): Taken[] {
    const dropped = this.#waiting.filter((t) => fields.has(t.field));
    for (const t of dropped) {
      this.#waiting.splice(this.#waiting.indexOf(t), 1);
      this.release(t.field);
    }
    return dropped;
  }

  /** Resolves once no round trip is in flight. */
  async roundTripsLanded(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  #startJobs(): void {
    while (this.#running.length < this.exec.depth && this.#waiting.length > 0 && !this.#stopped.aborted) {
      const taken = this.#waiting.shift() as Taken;
      this.#running.push({ taken, ran: this.#run(taken) });
    }
  }
}
