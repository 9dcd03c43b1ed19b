// Opens the command's Redis connection and tells "unreachable" apart from everything else.
import { Redis } from 'ioredis';
import { createClient, type ForkpoolClient } from '../../queue/src/client.ts';
import { redactUrl } from '../../queue/src/redis-url.ts';
import { redisOptions } from '../../queue/src/redis-options.ts';
import { CliError } from './errors.ts';

export interface Connection {
  readonly client: ForkpoolClient;
  readonly redis: Redis;
  close(): Promise<void>;
}

/**
 * Connects and pings within a few seconds, or throws a `redisUnreachable` CliError. A long-lived
 * connection (dashboard, local mode) reconnects forever afterwards; a command's gives up quickly.
 */
export async function connect(url: string, namespace: string, opts: { longLived?: boolean; timeoutMs?: number } = {}): Promise<Connection> {
  let redis: Redis;
  try {
    redis = new Redis(url, redisOptions({
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
    const why = lastError?.message ?? (err as Error).message;
    throw new CliError('redisUnreachable', `cannot reach Redis at ${redactUrl(url)}: ${why}`, { cause: err });
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
