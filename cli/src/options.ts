// Flag parsing shared by every command: node:util's parseArgs for the syntax, zod for the values.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { z } from 'zod';
import { DEFAULT_NAMESPACE } from '../../queue/src/keys.ts';
import { usageError } from './errors.ts';

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  redis: { type: 'string' },
  namespace: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

export const COMMON_HELP = `Common options:
  --redis URL        Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379)
  --namespace NS     Resque key prefix (default: $RESQUE_NAMESPACE, else resque)
  --json             machine-readable output on stdout (progress and notes stay on stderr)
  -h, --help         this help`;

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
 * Parses a command's argv; undefined when --help was asked for. Syntax errors and values that do not
 * fit the schema are usage errors naming the flag.
 */
export function parseCommand<S extends z.ZodType>(argv: readonly string[], options: ParseArgsOptionsConfig, schema: S): z.output<S> | undefined {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
  if (parsed.values.help === true) return undefined;
  const result = schema.safeParse({ ...parsed.values, positionals: parsed.positionals });
  if (!result.success) {
    throw usageError(result.error.issues.map((i) => {
      const flag = i.path[0];
      return typeof flag === 'string' && flag !== 'positionals' && !i.message.startsWith('--') ? `--${flag} ${i.message}` : i.message;
    }).join('; '));
  }
  return result.data;
}

/** Where the command's Redis is: the flag, else the JobPool file's URL, else REDIS_URL, else the local default. */
export function resolveTarget(
  flags: { redis?: string | undefined; namespace?: string | undefined },
  env: NodeJS.ProcessEnv,
  pool?: { url: string | undefined; namespace: string },
): { url: string; namespace: string } {
  const fromEnv = env.REDIS_URL?.trim() ? env.REDIS_URL.trim() : undefined;
  if (fromEnv !== undefined && flags.redis === undefined && pool?.url === undefined && !redisUrl.safeParse(fromEnv).success) {
    throw usageError(`REDIS_URL must be a redis:// or rediss:// URL, got ${JSON.stringify(fromEnv)}`);
  }
  const url = flags.redis ?? pool?.url ?? fromEnv ?? 'redis://127.0.0.1:6379';
  const namespace = flags.namespace ?? pool?.namespace ?? (env.RESQUE_NAMESPACE?.trim() || DEFAULT_NAMESPACE);
  return { url, namespace };
}
