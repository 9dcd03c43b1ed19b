// The one description of "which Redis, and how to get in" that the worker, the operator, the CLI and the
// dashboard share: a URL as before, plus what teams add to it on managed or self-hosted Redis: a CA bundle
// and a client certificate for TLS, an ACL user kept apart from the URL, and Sentinel. Each part builds its
// connections from a RedisTarget with createRedis, so that every connection is made the same way.
// Verification of the server's certificate is never turned off: a rediss:// connection verifies against the
// system's CAs, or against the CA given here, whatever NODE_TLS_REJECT_UNAUTHORIZED says.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { StandaloneConnector } from 'ioredis/built/connectors/index.js';
import { z } from 'zod';
import { redactUrl } from './redis-url.ts';

/** PEM text: a file read at each connect (a rotated certificate is picked up at the next reconnect), or text. */
export const Pem = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  /** `from` says where the text came from, for messages (`Secret jobs/redis-ca key ca.crt`) */
  z.object({ pem: z.string().min(1), from: z.string().min(1) }).strict(),
]);
export type Pem = z.infer<typeof Pem>;

/** TLS beyond the URL's rediss://: whom to trust, who the client is (mutual TLS), the name to check. */
export const RedisTls = z.object({
  /** the CA bundle the server's certificate must chain to, instead of the system's CAs */
  ca: Pem.optional(),
  /** the client's certificate and key, for a server that asks for one (`tls-auth-clients yes`) */
  cert: Pem.optional(),
  key: Pem.optional(),
  /** the name the server's certificate must carry (and SNI), when it is not the host of the URL */
  servername: z.string().min(1).optional(),
}).strict().refine((t) => (t.cert === undefined) === (t.key === undefined), {
  message: 'a client certificate and its key go together: give both or neither',
});
export type RedisTls = z.infer<typeof RedisTls>;

/** A sentinel's address. */
export const HostPort = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).strict();
export type HostPort = z.infer<typeof HostPort>;

/** Sentinel: the primary of `masterName`, as the sentinels say; the URL then gives the database and credentials. */
export const RedisSentinel = z.object({
  masterName: z.string().min(1),
  sentinels: z.array(HostPort).min(1),
  /** the sentinels' own password (`requirepass` of the sentinels), when they have one */
  password: z.string().optional(),
}).strict();
export type RedisSentinel = z.infer<typeof RedisSentinel>;

/**
 * Redis Cluster: the seed nodes, and the namespace whose slot the connections go to. The namespace carries a
 * hash tag (`{resque}`), so all of its keys hash to one slot; each connection is an ordinary one to that
 * slot's primary, found with CLUSTER SLOTS at each connect (see SlotOwnerConnector).
 */
export const RedisCluster = z.object({
  nodes: z.array(HostPort).min(1),
  /** set by the worker, the CLI and the operator from their namespace (see withClusterNamespace) */
  namespace: z.string().min(1).optional(),
}).strict();
export type RedisCluster = z.infer<typeof RedisCluster>;

/** The hash tag of a key as Redis Cluster reads it: the text between the first `{` and the next `}`, if not empty. */
export function hashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/**
 * A cluster target bound to `namespace`, or a message when the namespace has no hash tag: without one the
 * namespace's keys spread over slots and the scripts (which touch several of them) are refused.
 */
export function withClusterNamespace(target: RedisTarget, namespace: string): RedisTarget {
  if (!target.cluster) return target;
  if (hashTag(namespace) === undefined) {
    throw new Error(`Redis Cluster needs a hash-tagged namespace so that all its keys share one slot: ` +
      `RESQUE_NAMESPACE ${JSON.stringify(namespace)} has none; use e.g. ${JSON.stringify(`{${namespace}}`)}`);
  }
  return { ...target, cluster: { ...target.cluster, namespace } };
}

const REDIS_URL = /^rediss?:\/\//;

/** Which Redis and how to get in. */
export const RedisTarget = z.object({
  /** `redis://` or `rediss://` (TLS), with host, port and database; credentials may be in it or given apart */
  url: z.string().regex(REDIS_URL, 'a Redis URL starts with redis:// or rediss://'),
  /** an ACL user (Redis 6+); the URL must not name one too */
  username: z.string().min(1).optional(),
  /** the user's password (or `requirepass`); the URL must not hold one too */
  password: z.string().min(1).optional(),
  tls: RedisTls.optional(),
  sentinel: RedisSentinel.optional(),
  /** Redis Cluster; the URL then gives only the scheme and credentials (its host is not used) */
  cluster: RedisCluster.optional(),
}).strict().superRefine((t, ctx) => {
  const u = parseUrl(t.url);
  if (u === undefined) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'the Redis URL does not parse' });
    return;
  }
  if (t.username !== undefined && u.username !== '') ctx.addIssue({ code: 'custom', path: ['username'], message: 'a user name is given both in the URL and apart: give one' });
  if (t.password !== undefined && u.password !== '') ctx.addIssue({ code: 'custom', path: ['password'], message: 'a password is given both in the URL and apart: give one' });
  if (t.cluster !== undefined && t.sentinel !== undefined) ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'Redis Cluster and Sentinel exclude each other: give one' });
  if (t.cluster !== undefined && !['', '/', '/0'].includes(u.pathname)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'Redis Cluster has only database 0' });
  if (t.tls !== undefined && u.protocol !== 'rediss:') ctx.addIssue({ code: 'custom', path: ['tls'], message: 'TLS settings need a rediss:// URL (redis:// is plain TCP)' });
});
export type RedisTarget = z.infer<typeof RedisTarget>;

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** The environment variables a target is read from (the CLI's flags are named after them). */
export const REDIS_ENV = [
  'REDIS_URL', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE',
  'REDIS_TLS_SERVERNAME', 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER_NODES',
] as const;
export type RedisEnv = Partial<Record<(typeof REDIS_ENV)[number], string | undefined>>;

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Which variable each field of a target comes from, to name it in messages. */
const ENV_OF: Record<string, string> = {
  url: 'REDIS_URL', username: 'REDIS_USERNAME', password: 'REDIS_PASSWORD', tls: 'REDIS_TLS_*', 'tls.ca': 'REDIS_TLS_CA_FILE',
  'tls.cert': 'REDIS_TLS_CERT_FILE', 'tls.key': 'REDIS_TLS_KEY_FILE', 'tls.servername': 'REDIS_TLS_SERVERNAME',
  sentinel: 'REDIS_SENTINELS', 'sentinel.masterName': 'REDIS_SENTINEL_MASTER', 'sentinel.sentinels': 'REDIS_SENTINELS',
  'sentinel.password': 'REDIS_SENTINEL_PASSWORD', cluster: 'REDIS_CLUSTER_NODES',
};

/** `host:port,host:port` as a list of addresses, or a message saying what is wrong. */
export function parseHostPorts(text: string): HostPort[] | string {
  const out: HostPort[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(item);
    const port = Number(m?.[2]);
    if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) return `expected host:port, got ${JSON.stringify(item)}`;
    out.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
  }
  return out.length > 0 ? out : 'expected a comma list of host:port';
}

/**
 * Reads a target from REDIS_* variables (see REDIS_ENV; empty values count as unset). Returns the target, or
 * the problems, each naming its variable.
 */
export function redisTargetFromEnv(env: RedisEnv): { target: RedisTarget; problems?: undefined } | { target?: undefined; problems: string[] } {
  const v = (name: (typeof REDIS_ENV)[number]): string | undefined => (env[name]?.trim() ? env[name].trim() : undefined);
  const problems: string[] = [];
  const file = (name: (typeof REDIS_ENV)[number]): Pem | undefined => {
    const path = v(name);
    return path === undefined ? undefined : { file: path };
  };
  const tls = { ca: file('REDIS_TLS_CA_FILE'), cert: file('REDIS_TLS_CERT_FILE'), key: file('REDIS_TLS_KEY_FILE'), servername: v('REDIS_TLS_SERVERNAME') };
  let sentinel: unknown;
  const sentinels = v('REDIS_SENTINELS');
  const master = v('REDIS_SENTINEL_MASTER');
  if (sentinels !== undefined || master !== undefined) {
    const list = sentinels === undefined ? 'REDIS_SENTINELS is needed with REDIS_SENTINEL_MASTER' : parseHostPorts(sentinels);
    if (typeof list === 'string') problems.push(sentinels === undefined ? list : `REDIS_SENTINELS: ${list}`);
    else if (master === undefined) problems.push('REDIS_SENTINEL_MASTER (the master name the sentinels know) is needed with REDIS_SENTINELS');
    else sentinel = { masterName: master, sentinels: list, password: v('REDIS_SENTINEL_PASSWORD') };
  }
  let cluster: unknown;
  const nodes = v('REDIS_CLUSTER_NODES');
  if (nodes !== undefined) {
    const list = parseHostPorts(nodes);
    if (typeof list === 'string') problems.push(`REDIS_CLUSTER_NODES: ${list}`);
    else cluster = { nodes: list };
  }
  if (problems.length > 0) return { problems };
  const parsed = RedisTarget.safeParse(dropUndefined({
    url: v('REDIS_URL') ?? DEFAULT_REDIS_URL,
    username: v('REDIS_USERNAME'),
    password: v('REDIS_PASSWORD'),
    tls: Object.values(tls).some((x) => x !== undefined) ? dropUndefined(tls) : undefined,
    sentinel: sentinel === undefined ? undefined : dropUndefined(sentinel as Record<string, unknown>),
    cluster,
  }));
  if (parsed.success) return { target: parsed.data };
  return {
    problems: parsed.error.issues.map((i) => {
      const path = i.path.slice(0, 2).map(String).join('.');
      const name = ENV_OF[path] ?? ENV_OF[String(i.path[0])] ?? path;
      return `${name}: ${i.message}`;
    }),
  };
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
}

/** Where a PEM comes from, for messages. */
export function pemSource(pem: Pem): string {
  return 'file' in pem ? pem.file : pem.from;
}

/** A PEM's text now: a file is read again, and if it cannot be read now, its last good text is used. */
function pemReader(pem: Pem, what: string): () => string {
  if ('pem' in pem) return () => pem.pem;
  let last: string;
  try {
    last = readFileSync(pem.file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the Redis TLS ${what} ${pem.file}: ${(err as Error).message}`, { cause: err });
  }
  return () => {
    try {
      last = readFileSync(pem.file, 'utf8');
    } catch {
      // A rotation in progress (the file replaced under its name): the last text read still serves.
    }
    return last;
  };
}

/**
 * The TLS options of a target's connections. The PEM files are read now (an unreadable file throws, naming
 * it) and again at each connect, through getters that ioredis's connector reads when it opens a socket.
 */
function tlsOptions(tls: RedisTls | undefined): ConnectionOptions {
  const out: ConnectionOptions = { rejectUnauthorized: true };
  if (tls?.servername !== undefined) out.servername = tls.servername;
  const readers: [keyof ConnectionOptions, () => string][] = [];
  if (tls?.ca) readers.push(['ca', pemReader(tls.ca, 'CA file')]);
  if (tls?.cert) readers.push(['cert', pemReader(tls.cert, 'client certificate')]);
  if (tls?.key) readers.push(['key', pemReader(tls.key, 'client key')]);
  for (const [name, read] of readers) Object.defineProperty(out, name, { get: read, enumerable: true });
  return out;
}

/**
 * ioredis options for a target, to merge over a caller's own (`redisOptions()` and the like): credentials,
 * TLS (always verified), Sentinel. The URL itself is passed to ioredis by createRedis.
 */
export function targetOptions(target: RedisTarget): RedisOptions {
  const out: RedisOptions = {};
  if (target.username !== undefined) out.username = target.username;
  if (target.password !== undefined) out.password = target.password;
  const tls = parseUrl(target.url)?.protocol === 'rediss:' ? tlsOptions(target.tls) : undefined;
  if (tls) out.tls = tls;
  if (target.sentinel) {
    out.sentinels = target.sentinel.sentinels.map((s) => ({ ...s }));
    out.name = target.sentinel.masterName;
    out.role = 'master';
    if (target.sentinel.password !== undefined) out.sentinelPassword = target.sentinel.password;
    if (tls) {
      // The same TLS to the sentinels and to the primary they name, as managed Sentinel deployments run it.
      out.enableTLSForSentinelMode = true;
      out.sentinelTLS = tls;
    }
  }
  return out;
}

/**
 * Connects to the primary that owns a cluster namespace's slot: at each connect (the first and every
 * reconnect) it asks the seed nodes, then the last owner, for CLUSTER KEYSLOT and CLUSTER SLOTS, and opens
 * an ordinary connection to that slot's primary. A resharding or a failover shows as MOVED, CLUSTERDOWN,
 * READONLY or a lost connection; each drops the connection (see redisOptions), and the reconnect finds the
 * new owner. BLMOVE waits, CLIENT TRACKING, CLIENT UNBLOCK and EVALSHA work as on a single server.
 */
class SlotOwnerConnector extends StandaloneConnector {
  readonly #cluster: RedisCluster & { namespace: string };
  readonly #probe: RedisOptions;
  #last: HostPort | undefined;

  constructor(options: ConstructorParameters<typeof StandaloneConnector>[0] & { forkpoolCluster: RedisCluster & { namespace: string }; forkpoolProbe: RedisOptions }) {
    super(options);
    this.#cluster = options.forkpoolCluster;
    this.#probe = options.forkpoolProbe;
  }

  override async connect(cb: Parameters<StandaloneConnector['connect']>[0]): ReturnType<StandaloneConnector['connect']> {
    const owner = await this.#owner();
    const opts = this.options as { host?: string; port?: number };
    opts.host = owner.host;
    opts.port = owner.port;
    this.#last = owner;
    return super.connect(cb);
  }

  async #owner(): Promise<HostPort> {
    const errors: string[] = [];
    const seeds = this.#last ? [...this.#cluster.nodes, this.#last] : this.#cluster.nodes;
    for (const seed of seeds) {
      const probe = new Redis({ ...this.#probe, host: seed.host, port: seed.port, lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: true });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const slot = await probe.cluster('KEYSLOT', this.#cluster.namespace);
        const ranges = await probe.cluster('SLOTS');
        const primary = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2];
        if (primary) return { host: primary[0] || seed.host, port: Number(primary[1]) };
        errors.push(`${seed.host}:${seed.port}: no node serves slot ${slot}`);
      } catch (err) {
        errors.push(`${seed.host}:${seed.port}: ${(err as Error).message}`);
      } finally {
        probe.disconnect();
      }
    }
    throw new Error(`Redis Cluster: cannot find the primary of the slot of ${this.#cluster.namespace} (${errors.join('; ')})`);
  }
}

/** A connection to a target with the caller's options (failover rule, retries, name, ...). */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): Redis {
  const merged: RedisOptions = { ...options, ...targetOptions(target) };
  if (target.cluster) {
    const namespace = target.cluster.namespace;
    if (namespace === undefined) throw new Error('a Redis Cluster target needs its namespace (withClusterNamespace)');
    const u = new URL(target.url);
    const probe: RedisOptions = {
      ...(merged.tls ? { tls: merged.tls } : {}),
      username: merged.username ?? (u.username ? decodeURIComponent(u.username) : undefined),
      password: merged.password ?? (u.password ? decodeURIComponent(u.password) : undefined),
    };
    // The connector's options are the connection's: host and port are set by it at each connect.
    const connectorOptions = { forkpoolCluster: { ...target.cluster, namespace }, forkpoolProbe: probe };
    return new Redis(target.url, { ...merged, ...connectorOptions, Connector: SlotOwnerConnector as unknown as RedisOptions['Connector'] });
  }
  return new Redis(target.url, merged);
}

/** A target for logs and messages: its URL without credentials, and its sentinels and TLS names. */
export function describeTarget(target: RedisTarget): string {
  let out = redactUrl(target.url);
  if (target.username !== undefined) out += ` as ${target.username}`;
  if (target.cluster) out = `${out.replace(/\/\/([^@/]*@)?[^/]*/, '//$1')}cluster ${target.cluster.nodes.map((s) => `${s.host}:${s.port}`).join(',')}`;
  if (target.sentinel) out += ` (master ${target.sentinel.masterName} of sentinels ${target.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',')})`;
  return out;
}

/** A key that is the same for two targets exactly when they connect the same way (to share a connection). */
export function targetKey(target: RedisTarget): string {
  return JSON.stringify(target, Object.keys(flatKeys(target)).sort());
}

function flatKeys(o: unknown, acc: Record<string, true> = {}): Record<string, true> {
  if (o !== null && typeof o === 'object') {
    for (const [k, x] of Object.entries(o)) {
      acc[k] = true;
      flatKeys(x, acc);
    }
  }
  return acc;
}

/** Node's codes for a server certificate that does not chain to a trusted CA. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_SIGNATURE_FAILURE',
]);

/**
 * A connection error as a user can act on it: a server certificate that the CA does not sign names the CA
 * (file or Secret) and the server; a certificate for another name names both names; a refused client
 * certificate or user says so. Other errors keep their message.
 */
export function explainRedisError(err: Error, target: RedisTarget): string {
  const code = (err as { code?: unknown }).code;
  const server = describeTarget(target);
  if (typeof code === 'string' && UNTRUSTED.has(code)) {
    const ca = target.tls?.ca ? `the CA in ${pemSource(target.tls.ca)}` : 'the system\'s CAs (give the CA: REDIS_TLS_CA_FILE, spec.redis.tls.caSecretRef)';
    return `TLS: the certificate of Redis at ${server} is not signed by ${ca}: ${err.message} (${code})`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `TLS: the certificate of Redis at ${server} is not valid now: ${err.message}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const name = target.tls?.servername ?? parseUrl(target.url)?.hostname ?? '?';
    return `TLS: the certificate of Redis at ${server} is not for the name ${name} (set the server name: REDIS_TLS_SERVERNAME, spec.redis.tls.serverName): ${err.message}`;
  }
  if (/certificate required|alert (?:number )?116|CERTIFICATE_REQUIRED|bad certificate|unknown ca/i.test(`${String(code)} ${err.message}`)) {
    const why = /alert ([a-z0-9 ]+?):/.exec(err.message)?.[1] ?? err.message;
    if (!target.tls?.cert) return `TLS: Redis at ${server} asks for a client certificate and none is given (REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE, spec.redis.tls.certSecretRef): ${why}`;
    return `TLS: Redis at ${server} refused the client certificate in ${pemSource(target.tls.cert)}: ${why}`;
  }
  if (code === 'ECONNRESET' && parseUrl(target.url)?.protocol === 'rediss:' && !target.tls?.cert) {
    // Under TLS 1.3 the server's alert may arrive after the client wrote: then only the reset is seen.
    return `TLS: Redis at ${server} closed the connection (${err.message}); a server that asks for a client certificate does so when none is given, as here (REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE, spec.redis.tls.certSecretRef)`;
  }
  if (/^(?:WRONGPASS|NOAUTH)/.test(err.message)) return `Redis at ${server} refused the credentials${target.username === undefined ? '' : ` of user ${target.username}`}: ${err.message}`;
  return err.message;
}
