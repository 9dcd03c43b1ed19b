// Option values shared by every command: commander parses the syntax (cli/src/program.ts), zod checks the values.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_NAMESPACE } from '../../queue/src/keys.ts';
import { DEFAULT_REDIS_URL, redisTargetFromEnv, withClusterNamespace, type RedisTarget } from '../../queue/src/redis-connection.ts';
import { usageError } from './errors.ts';

export const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/\S*$/, 'must be a redis:// or rediss:// URL');

export const commonSchema = z.object({
  redis: redisUrl.optional(),
  tlsCaFile: z.string().min(1).optional(),
  tlsCertFile: z.string().min(1).optional(),
  tlsKeyFile: z.string().min(1).optional(),
  tlsServername: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
  sentinels: z.string().min(1).optional(),
  sentinelMaster: z.string().min(1).optional(),
  sentinelPasswordFile: z.string().min(1).optional(),
  clusterNodes: z.string().min(1).optional(),
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

/** The connection flags, each the worker variable it stands for (a flag wins over its variable). */
const FLAG_VARIABLES = {
  tlsCaFile: ['--tls-ca-file', 'REDIS_TLS_CA_FILE'],
  tlsCertFile: ['--tls-cert-file', 'REDIS_TLS_CERT_FILE'],
  tlsKeyFile: ['--tls-key-file', 'REDIS_TLS_KEY_FILE'],
  tlsServername: ['--tls-servername', 'REDIS_TLS_SERVERNAME'],
  username: ['--username', 'REDIS_USERNAME'],
  passwordFile: ['--password-file', 'REDIS_PASSWORD'],
  sentinels: ['--sentinels', 'REDIS_SENTINELS'],
  sentinelMaster: ['--sentinel-master', 'REDIS_SENTINEL_MASTER'],
  sentinelPasswordFile: ['--sentinel-password-file', 'REDIS_SENTINEL_PASSWORD'],
  clusterNodes: ['--cluster-nodes', 'REDIS_CLUSTER_NODES'],
} as const;
export type ConnectionFlags = { redis?: string | undefined; namespace?: string | undefined } & { [K in keyof typeof FLAG_VARIABLES]?: string | undefined };

/** A secret read from a file named by a flag (its one trailing newline dropped), as a usage error when unreadable. */
function secretFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw usageError(`${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

const givenFlags = (flags: ConnectionFlags): (keyof typeof FLAG_VARIABLES)[] =>
  (Object.keys(FLAG_VARIABLES) as (keyof typeof FLAG_VARIABLES)[]).filter((k) => flags[k] !== undefined);

/** The environment with the connection flags given put in their variables (what `forkpool up` hands its workers). */
export function withConnectionFlags(flags: ConnectionFlags, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const given = givenFlags(flags);
  if (given.length === 0) return env;
  const out = { ...env };
  for (const k of given) {
    const [flag, variable] = FLAG_VARIABLES[k];
    const value = flags[k] ?? '';
    out[variable] = k === 'passwordFile' || k === 'sentinelPasswordFile' ? secretFile(flag, value) : value;
  }
  return out;
}

/**
 * Where the command's Redis is: the flag, else the JobPool file's URL, else REDIS_URL, else the local default;
 * and how to get in, from the connection flags or else the worker's variables (REDIS_TLS_*, REDIS_USERNAME,
 * REDIS_PASSWORD, REDIS_SENTINEL*, REDIS_CLUSTER_NODES). Messages name the flag when one was given.
 */
export function resolveTarget(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  pool?: { url: string | undefined; namespace: string },
): { redis: RedisTarget; namespace: string } {
  const given = givenFlags(flags);
  env = withConnectionFlags(flags, env);
  const named = (message: string): string => {
    for (const k of given) {
      const [flag, variable] = FLAG_VARIABLES[k];
      message = message.replaceAll(variable, flag);
    }
    if (given.some((k) => k.startsWith('tls'))) message = message.replaceAll('REDIS_TLS_*', '--tls-*');
    if (flags.namespace !== undefined) message = message.replaceAll('RESQUE_NAMESPACE', '--namespace');
    return message;
  };
  const fromEnv = env.REDIS_URL?.trim() ? env.REDIS_URL.trim() : undefined;
  if (fromEnv !== undefined && flags.redis === undefined && pool?.url === undefined && !redisUrl.safeParse(fromEnv).success) {
    throw usageError(`REDIS_URL must be a redis:// or rediss:// URL, got ${JSON.stringify(fromEnv)}`);
  }
  const url = flags.redis ?? pool?.url ?? fromEnv ?? DEFAULT_REDIS_URL;
  const namespace = flags.namespace ?? pool?.namespace ?? (env.RESQUE_NAMESPACE?.trim() || DEFAULT_NAMESPACE);
  const read = redisTargetFromEnv({ ...env, REDIS_URL: url });
  if (read.problems) throw usageError(named(read.problems.join('; ')));
  try {
    return { redis: withClusterNamespace(read.target, namespace), namespace };
  } catch (err) {
    throw usageError(named((err as Error).message));
  }
}
