// Option values shared by every command: commander parses the syntax (cli/src/program.ts), zod checks the values.
import { z } from 'zod';
import { DEFAULT_NAMESPACE } from '../../queue/src/keys.ts';
import { DEFAULT_REDIS_URL, redisTargetFromEnv, withClusterNamespace, type RedisTarget } from '../../queue/src/redis-connection.ts';
import { usageError } from './errors.ts';

export const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/\S*$/, 'must be a redis:// or rediss:// URL');

export const commonSchema = z.object({
  redis: redisUrl.optional(),
  namespace: z.string().regex(/^\S+$/, 'must be a non-empty key prefix without spaces').optional(),
  json: z.boolean().default(false),
  positionals: z.array(z.string()),
});

/** A whole number flag or argument, e.g. `--count 20` or an index. */
export const intString = (what: string, min = 0): z.ZodType<number, string> =>
  z.string().transform((v, ctx) => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || n < min) {
      ctx.addIssue({ code: 'custom', message: `${what} must be a whole number >= ${min}, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    if (!Number.isSafeInteger(n)) {
      ctx.addIssue({ code: 'custom', message: `${what} ${v.trim()} is too large: at most ${Number.MAX_SAFE_INTEGER}` });
      return z.NEVER;
    }
    return n;
  });

/**
 * A command's options and operands checked against its schema: values that do not fit are a usage
 * error naming the flag (`--count must be a whole number >= 1, got "x"`).
 */
export function parseInput<S extends z.ZodType>(schema: S, values: Record<string, unknown>): z.output<S> {
  const result = schema.safeParse(values);
  if (!result.success) {
    throw usageError(result.error.issues.map((i) => {
      const flag = i.path[0];
      return typeof flag === 'string' && flag !== 'positionals' && !i.message.startsWith('--') ? `--${flag} ${i.message}` : i.message;
    }).join('; '));
  }
  return result.data;
}

/**
 * Where the command's Redis is: the flag, else the JobPool file's URL, else REDIS_URL, else the local default;
 * and how to get in, from the worker's variables (REDIS_TLS_*, REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL*).
 */
export function resolveTarget(
  flags: { redis?: string | undefined; namespace?: string | undefined },
  env: NodeJS.ProcessEnv,
  pool?: { url: string | undefined; namespace: string },
): { redis: RedisTarget; namespace: string } {
  const fromEnv = env.REDIS_URL?.trim() ? env.REDIS_URL.trim() : undefined;
  if (fromEnv !== undefined && flags.redis === undefined && pool?.url === undefined && !redisUrl.safeParse(fromEnv).success) {
    throw usageError(`REDIS_URL must be a redis:// or rediss:// URL, got ${JSON.stringify(fromEnv)}`);
  }
  const url = flags.redis ?? pool?.url ?? fromEnv ?? DEFAULT_REDIS_URL;
  const namespace = flags.namespace ?? pool?.namespace ?? (env.RESQUE_NAMESPACE?.trim() || DEFAULT_NAMESPACE);
  const read = redisTargetFromEnv({ ...env, REDIS_URL: url });
  if (read.problems) throw usageError(read.problems.join('; '));
  try {
    return { redis: withClusterNamespace(read.target, namespace), namespace };
  } catch (err) {
    throw usageError((err as Error).message);
  }
}
