// Wakes idle slots the moment a job is pushed to any queue, without polling and without popping: Redis's
// client-side-caching invalidations in broadcast mode (CLIENT TRACKING ... BCAST PREFIX <ns>:queue:) are
// redirected to a subscriber connection. Any client's RPUSH (Ruby's Resque.enqueue too) produces one.
// The take itself stays an atomic Lua script, so a job is never held only in a client's memory.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Without invalidations (a Redis or proxy that refuses CLIENT TRACKING), idle slots re-check this often. */
export const FALLBACK_POLL_MS = 100;
/** Even with invalidations, an idle slot re-checks this often, as a safety net. */
export const RECHECK_MS = 1000;
/** The channel Redis sends redirected invalidations to (RESP2). */
const INVALIDATIONS = '__redis__:invalidate';

export class Waker {
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #name: string;
  readonly #onMode: (notifications: boolean) => void;
  #waiters = new Set<() => void>();
  #generation = 0;
  #tracking = false;
  /** the last of the tracking set-ups, which run one at a time (each turns tracking off, then on) */
  #trackRun: Promise<void> = Promise.resolve();

  /**
   * `cmd` runs the scripts (its own pops do not wake it: NOLOOP); `sub` is a dedicated connection, with a
   * `connectionName` unique on the server (set at every connect: the waker finds it by that name).
   * `onMode` is told after each set-up whether notifications are on (true) or slots poll (false).
   */
  constructor(cmd: Redis, sub: Redis, queuePrefix: string, log: Logger, onMode: (notifications: boolean) => void = () => undefined) {
    const name = sub.options.connectionName;
    if (!name) throw new Error('the waker\'s subscriber connection needs a connectionName');
    this.#cmd = cmd;
    this.#sub = sub;
    this.#name = name;
    this.#prefix = queuePrefix;
    this.#log = log;
    this.#onMode = onMode;
  }

  async start(): Promise<void> {
    this.#sub.on('message', () => this.wake());
    // A reconnected subscriber is subscribed again by ioredis; it is found by type (pubsub) only once the
    // server has done so, which this subscribe, sent after ioredis's, waits for.
    this.#sub.on('ready', () => void this.#sub.subscribe(INVALIDATIONS).then(() => this.#track(), () => undefined));
    this.#cmd.on('ready', () => void this.#track());
    await this.#sub.subscribe(INVALIDATIONS);
    await this.#track();
  }

  /** A counter that changes whenever a queue may have changed; read it before a take, pass it to `wait`. */
  get mark(): number {
    return this.#generation;
  }

  /** Resolves when a queue changes after `mark` was read, or after the re-check interval. */
  wait(mark: number, signal?: AbortSignal): Promise<void> {
    if (mark !== this.#generation || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.#tracking ? RECHECK_MS : FALLBACK_POLL_MS);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes every waiting slot (also used by the master for pause/resume and shutdown). */
  wake(): void {
    this.#generation++;
    for (const w of [...this.#waiters]) w();
  }

  /** Sets up tracking after the set-ups already asked for: both connections' reconnects ask for one. */
  #track(): Promise<void> {
    this.#trackRun = this.#trackRun.then(() => this.#trackNow());
    return this.#trackRun;
  }

  async #trackNow(): Promise<void> {
    // Reconnecting (after a failover, to another server): its own 'ready' sets tracking up again.
    if (this.#sub.status !== 'ready') return;
    try {
      // In subscriber mode the subscriber cannot ask its own id; find it by name from the command connection.
      const list = String(await this.#cmd.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
      const line = list.split('\n').find((l) => l.includes(` name=${this.#name} `));
      const id = /(?:^|\s)id=(\d+)/.exec(line ?? '')?.[1];
      if (!id) throw new Error('subscriber connection not found in CLIENT LIST');
      await this.#cmd.call('CLIENT', 'TRACKING', 'OFF');
      await this.#cmd.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', id, 'BCAST', 'PREFIX', this.#prefix, 'NOLOOP');
      if (!this.#tracking) this.#log.info('queue change notifications on: idle slots wake when a job is pushed');
      this.#tracking = true;
    } catch (err) {
      if (this.#tracking || this.#generation === 0) {
        this.#log.warn({ err: (err as Error).message }, `Redis refused CLIENT TRACKING; idle workers will poll every ${FALLBACK_POLL_MS} ms`);
      }
      this.#tracking = false;
    }
    this.#onMode(this.#tracking);
    this.wake();
  }
}
