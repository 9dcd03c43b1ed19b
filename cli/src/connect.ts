// Opens the command's Redis connection and tells "unreachable" apart from everything else.
import type { Redis } from 'ioredis';
import { createClient, type ForkpoolClient } from '../../queue/src/client.ts';
import { createRedis, describeTarget, explainRedisError, type RedisTarget } from '../../queue/src/redis-connection.ts';
import { redactUrl } from '../../queue/src/redis-url.ts';
import { redisOptions } from '../../queue/src/redis-options.ts';
import { CliError } from './errors.ts';

export interface Connection {
  readonly client: ForkpoolClient;
  readonly redis: Redis;
  close(): Promise<void>;
}

/**
 * The database number of a Redis URL (`redis://host:6379/2` is 2; no path is 0), or a usage error that
 * says what is wrong with the path: ioredis would read `/abc` as NaN and fail with a stack trace.
 */
export function redisDatabase(url: string): number {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError('usage', `cannot use Redis URL ${redactUrl(url)}: not a URL`);
  }
  const path = u.pathname;
  if (path === '' || path === '/') return 0;
  const match = /^\/(\d{1,9})$/.exec(path);
  if (!match) throw new CliError('usage', `Redis URL ${redactUrl(url)}: the path must be a database number such as /0, got ${JSON.stringify(path)}`);
  return Number(match[1]);
}

/**
 * Connects and pings within a few seconds, or throws a `redisUnreachable` CliError. A long-lived
 * connection (dashboard, local mode) reconnects forever afterwards; a command's gives up quickly. The
 * URL's database is selected first, and one the server does not have is a usage error: ioredis alone
 * would go on in database 0. A TLS or credentials refusal is said as the worker says it (explainRedisError).
 */
export async function connect(target: RedisTarget, namespace: string, opts: { longLived?: boolean; timeoutMs?: number } = {}): Promise<Connection> {
  const url = target.url;
  const db = redisDatabase(url);
  let redis: Redis;
  try {
    redis = createRedis(target, redisOptions({
      // Selected below, where a refusal can be told apart from an unreachable server.
      db: 0,
      lazyConnect: true,
      connectTimeout: opts.timeoutMs ?? 3000,
      maxRetriesPerRequest: opts.longLived ? 1 : 2,
      retryStrategy: opts.longLived ? (n) => Math.min(n * 200, 2000) : (n) => (n > 2 ? null : 100 * n),
    }));
  } catch (err) {
    throw new CliError('usage', `cannot use Redis URL ${redactUrl(url)}: ${(err as Error).message}`);
  }
  // Commands reject with the error; the event is only kept to say why the connection failed.
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => (lastError = err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const why = lastError ?? (err as Error);
    const explained = explainRedisError(why, target);
    throw new CliError('redisUnreachable', explained === why.message ? `cannot reach Redis at ${describeTarget(target)}: ${why.message}` : explained, { cause: err });
  }
  if (db !== 0) {
    try {
      // ioredis selects options.db again after every reconnect.
      await redis.select(db);
      redis.options.db = db;
    } catch (err) {
      redis.disconnect();
      const count = await databaseCount(target);
      throw new CliError('usage', `Redis URL ${redactUrl(url)}: the server has no database ${db}` +
        `${count !== undefined ? ` (it has ${count}: 0-${count - 1})` : ''}: ${(err as Error).message}`);
    }
  }
  return {
    client: createClient({ redis, namespace }),
    redis,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Turns a connection error in the middle of a command into the `redisUnreachable` kind. */
export function asRedisError(err: unknown): unknown {
  const e = err as { code?: string; message?: string } | undefined;
  if (e && (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || /Connection is closed|MaxRetriesPerRequest|ETIMEDOUT|ENOTFOUND/.test(e.message ?? ''))) {
    return new CliError('redisUnreachable', `lost the Redis connection: ${e.message ?? String(err)}`, { cause: err });
  }
  return err;
}

/** The server's `databases` setting, when CONFIG GET is allowed (managed Redis services often refuse it). */
async function databaseCount(target: RedisTarget): Promise<number | undefined> {
  const probe = createRedis(target, { db: 0, lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    const reply = (await probe.config('GET', 'databases')) as string[];
    const n = Number(reply[1]);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}
