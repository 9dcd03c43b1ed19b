// What the worker and the operator check of the Redis they are given, at start and after each reconnect:
// a version new enough for the scripts, and a memory policy that never evicts keys (an evicted queue or
// in-flight hash loses its jobs without a trace).
import type { Redis } from 'ioredis';

/**
 * The oldest Redis forkpool runs on. Its scripts read Redis's clock (TIME) and then write, which Redis
 * allows only under effects replication: the default from 5.0 (3.2 to 4.0 need a call the scripts do not
 * make). BLMOVE (6.2) and CLIENT TRACKING (6.0) are used where the server has them.
 */
export const MIN_REDIS_VERSION = '5.0';

/** The only `maxmemory-policy` under which Redis never drops a key to make room. */
export const SAFE_EVICTION_POLICY = 'noeviction';

/** What a server says of itself; a value is undefined when it could not be read. */
export interface RedisServerFacts {
  /** `redis_version` from INFO server (a compatible server's claimed version) */
  readonly version: string | undefined;
  /** `maxmemory-policy` from CONFIG GET, else `maxmemory_policy` from INFO memory */
  readonly evictionPolicy: string | undefined;
  /** why a value could not be read (CONFIG renamed or denied by an ACL, as managed Redis does) */
  readonly unread: readonly string[];
}

/** The `field:value` lines of an INFO reply. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return fields;
}

/** Why a server of this version cannot be used, or undefined when it can (or the version is unreadable). */
export function versionProblem(version: string | undefined): string | undefined {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const [minMajor, minMinor] = MIN_REDIS_VERSION.split('.').map(Number) as [number, number];
  if (major > minMajor || (major === minMajor && minor >= minMinor)) return undefined;
  return `Redis ${version ?? ''} is too old: forkpool needs Redis ${MIN_REDIS_VERSION} or later (its scripts write after reading the server's clock)`;
}

/** Why a memory policy puts jobs at risk, or undefined when it does not (or is unknown). */
export function evictionProblem(policy: string | undefined): string | undefined {
  if (policy === undefined || policy === SAFE_EVICTION_POLICY) return undefined;
  return `Redis's maxmemory-policy is ${policy}: when memory is full Redis evicts keys, and a queue or an in-flight hash evicted loses its jobs; set it to ${SAFE_EVICTION_POLICY}`;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Reads the server's version and memory policy; what cannot be read is left undefined, never thrown. */
export async function readServerFacts(redis: Redis): Promise<RedisServerFacts> {
  const unread: string[] = [];
  let version: string | undefined;
  try {
    version = parseInfo(await redis.info('server')).get('redis_version');
  } catch (err) {
    unread.push(`INFO server: ${message(err)}`);
  }
  let evictionPolicy: string | undefined;
  try {
    const reply: unknown = await redis.config('GET', 'maxmemory-policy');
    if (Array.isArray(reply) && typeof reply[1] === 'string') evictionPolicy = reply[1];
    else unread.push('CONFIG GET maxmemory-policy: no value');
  } catch (err) {
    unread.push(`CONFIG GET maxmemory-policy: ${message(err)}`);
  }
  if (evictionPolicy === undefined) {
    try {
      evictionPolicy = parseInfo(await redis.info('memory')).get('maxmemory_policy');
      if (evictionPolicy === undefined) unread.push('INFO memory: no maxmemory_policy');
    } catch (err) {
      unread.push(`INFO memory: ${message(err)}`);
    }
  }
  return { version, evictionPolicy, unread };
}
