// An idle slot's take that waits inside Redis. On a connection of its own the slot sends
// `BLMOVE <queue> <queue> LEFT LEFT <timeout>` (it returns once the queue holds a job, and leaves the queue
// as it was) with the take script pipelined behind it. Redis runs the script the moment the BLMOVE is
// served, so a job that arrives is already in the in-flight hash when the slot hears of it: one hop from
// Redis, where the waker's way (an invalidation, then a take) needs a notification and a round trip.
// BLMOVE waits on one list: this serves workers of a single named queue; the others use the waker.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis, RedisOptions } from 'ioredis';
import { createRedis, type RedisTarget } from '../../queue/src/redis-connection.ts';
import type { ScriptCall } from '../../queue/src/scripts.ts';

/** How long one wait lasts in Redis before the slot sends a new one. */
export const WAIT_SECONDS = 5;
/** A wait not answered this long after its timeout means a dead connection: it is dropped and reopened. */
const DEAD_AFTER_MS = WAIT_SECONDS * 1000 + 3000;

export class BlockingTake {
  readonly #conn: Redis;
  readonly #queueKey: string;
  #clientId: number | undefined;
  #pending: Promise<unknown> | undefined;
  #noBlmove = false;

  /** `queueKey`: the full key of the one queue the worker takes from. */
  constructor(target: RedisTarget, options: RedisOptions, queueKey: string) {
    // Fail fast rather than queue or re-send: an unanswered take is taken again under the same field
    // (which then returns the job if this one got it), and meanwhile the slot waits the waker's way.
    this.#conn = createRedis(target, {
      ...options, lazyConnect: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0,
    });
    this.#queueKey = queueKey;
    this.#conn.on('ready', () => {
      this.#clientId = undefined;
      this.#conn.client('ID').then((id) => { this.#clientId = id; }, () => undefined);
    });
  }

  /** Registers an error listener and connects (retrying with the options' strategy, as the others do). */
  async connect(onError: (err: Error) => void): Promise<void> {
    this.#conn.on('error', onError);
    await this.#conn.connect();
  }

  /** Whether a take can wait here now: connected, and the server knows BLMOVE (Redis 6.2+). */
  get usable(): boolean {
    return !this.#noBlmove && this.#conn.status === 'ready' && this.#clientId !== undefined;
  }

  /** Whether the server refused BLMOVE (older than Redis 6.2): the slot never waits here again. */
  get unsupported(): boolean {
    return this.#noBlmove;
  }

  /**
   * Waits up to WAIT_SECONDS for the queue to hold a job, then runs the take script (`take`: the reserve
   * script's call) and returns its reply. Throws when the take may not have run (connection lost, or the
   * server refused a command): the caller takes again under the same field.
   */
  async take(take: ScriptCall): Promise<unknown> {
    const exec = this.#conn.pipeline()
      .blmove(this.#queueKey, this.#queueKey, 'LEFT', 'LEFT', WAIT_SECONDS)
      .evalsha(take.script.sha, take.keys.length, ...take.keys, ...take.argv)
      .exec();
    const dead = setTimeout(() => this.#conn.disconnect(true), DEAD_AFTER_MS);
    this.#pending = exec;
    try {
      const replies = await exec;
      const [wait, script] = replies ?? [];
      if (wait?.[0]) {
        if (/unknown command/i.test(wait[0].message)) this.#noBlmove = true;
        throw wait[0];
      }
      if (!script || script[0]) throw script?.[0] ?? new Error('no reply to the take script');
      return script[1];
    } finally {
      clearTimeout(dead);
      this.#pending = undefined;
    }
  }

  /**
   * Ends a wait in progress (for pause and stop), through `main`, another connection: the take script
   * behind it still runs, so the caller still gets its reply. Retried until the wait has ended, since the
   * wait may not have reached Redis yet when this is called.
   */
  async interrupt(main: Redis): Promise<void> {
    while (this.#pending) {
      const pending = this.#pending.catch(() => undefined);
      if (this.#clientId !== undefined) await main.call('CLIENT', 'UNBLOCK', this.#clientId).catch(() => 0);
      await Promise.race([pending, sleep(10)]);
    }
  }

  /** Drops the connection (a wait in progress fails) to open it again: after a failover, to the new primary. */
  reconnect(): void {
    if (this.#conn.status === 'ready') this.#conn.disconnect(true);
  }

  async close(): Promise<void> {
    await this.#conn.quit().catch(() => this.#conn.disconnect());
  }
}
