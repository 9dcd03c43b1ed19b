// Starts a real redis-server on a free port for a test file, and stops it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import { freePort, redisAnswers } from '../../cli/src/session-redis.ts';
import type { TestCerts } from './tls.ts';

export { freePort };

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, or `rediss://` for a TLS-only server */
  readonly url: string;
  readonly port: number;
  /** the server's pid (0 while it is down) */
  readonly pid: number;
  /** how to reach it (host, port, and for a TLS server the CA and the client certificate) */
  readonly clientOptions: RedisOptions;
  /** a new connection to it (as the default user; over TLS with the client certificate for a TLS server) */
  connect(): Redis;
  /** SIGKILLs the server (and keeps its data dir, so `start` brings the AOF back) */
  kill(): Promise<void>;
  /** (re)starts the server on the same port */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A TLS-only server: its certificates, and whether clients must present one of the CA's (mutual TLS). */
export interface RedisTlsOptions {
  readonly certs: TestCerts;
  readonly authClients: boolean;
}

/**
 * Starts `redis-server` on a free port; `appendonly` keeps data across `kill()`/`start()`; `args` are more
 * of its command-line options (`--maxmemory-policy allkeys-lru`). It listens on 127.0.0.1 and on the
 * addresses of `bind` (e.g. a real node's bridge address, for its pods); `tls` makes it listen with TLS only.
 */
export async function startRedis(opts: { appendonly?: boolean; args?: readonly string[]; bind?: string[]; tls?: RedisTlsOptions } = {}): Promise<RedisServer> {
  const port = await freePort();
  const tls = opts.tls;
  const listen = tls
    ? [
      '--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certs.serverCertFile, '--tls-key-file', tls.certs.serverKeyFile,
      '--tls-ca-cert-file', tls.certs.caFile, '--tls-auth-clients', tls.authClients ? 'yes' : 'no',
    ]
    : ['--port', String(port)];
  const clientOptions: RedisOptions = {
    port, host: '127.0.0.1',
    ...(tls ? { tls: { ca: readFileSync(tls.certs.caFile), cert: readFileSync(tls.certs.clientCertFile), key: readFileSync(tls.certs.clientKeyFile) } } : {}),
  };
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-redis-'));
  let proc: ChildProcess | undefined;
  const conns: Redis[] = [];
  const start = async (): Promise<void> => {
    proc = spawn(process.env.REDIS_SERVER_BIN ?? 'redis-server', [
      ...listen, '--bind', ['127.0.0.1', ...(opts.bind ?? [])].join(' '),
      // Without a password Redis answers only loopback clients unless protected mode is off.
      '--protected-mode', opts.bind === undefined ? 'yes' : 'no', '--dir', dir, '--save', '',
      '--appendonly', opts.appendonly ? 'yes' : 'no', '--appendfsync', 'always', ...(opts.args ?? []),
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    const p = proc;
    process.once('exit', () => p.kill('SIGKILL'));
    proc.once('error', (err) => { throw new Error(`cannot start redis-server (is it installed? apt-get install redis-server): ${err.message}`); });
    if (!(await redisAnswers(port, 10_000, undefined, clientOptions.tls))) throw new Error(`redis-server did not start on port ${port}`);
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => { p.once('exit', () => resolve()); p.kill('SIGKILL'); });
  };
  await start();
  return {
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    clientOptions,
    port,
    get pid() { return proc?.exitCode === null && proc.signalCode === null ? (proc.pid ?? 0) : 0; },
    connect() {
      const c = new Redis(clientOptions);
      c.on('error', () => undefined); // tests kill the server on purpose; commands still reject
      conns.push(c);
      return c;
    },
    kill,
    start,
    async stop() {
      for (const c of conns) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisSuite {
  readonly server: RedisServer;
  /** a plain connection, for reading and arranging keys */
  readonly redis: Redis;
  /** forkpool's client on the server */
  readonly client: ForkpoolClient;
}

/**
 * For a describe block: a Redis of its own for the block, forkpool's client on it, and an empty database
 * before each test. Its getters throw when used before the block's before() hook ran.
 */
export function redisSuite(): RedisSuite {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  let client: ForkpoolClient | undefined;
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('redisSuite is used before its before() hook ran');
    return v;
  };
  before(async () => {
    server = await startRedis();
    redis = server.connect();
    client = createClient({ url: server.url });
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });
  beforeEach(async () => { await redis?.flushdb(); });
  return {
    get server() { return ready(server); },
    get redis() { return ready(redis); },
    get client() { return ready(client); },
  };
}
