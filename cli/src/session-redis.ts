// A redis-server for one `forkpool up` session, when the pool's Redis cannot be reached.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

const LOCAL_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** True when a Redis URL names this machine (where a session redis-server may stand in for it). */
export function isLocalRedis(url: string): boolean {
  try {
    return LOCAL_HOSTS.includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** The path of `redis-server` on the PATH, or undefined. */
export function findRedisServer(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export interface SessionRedis {
  /** the URL to use instead of the unreachable one (same database number) */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` without persistence. It listens on the unreachable URL's port when that URL
 * is local and the port is free (so other tools configured with it reach this one), else on a free port.
 */
export async function startSessionRedis(binary: string, unreachableUrl: string): Promise<SessionRedis> {
  const wanted = new URL(unreachableUrl);
  const local = LOCAL_HOSTS.includes(wanted.hostname);
  const wantedPort = Number(wanted.port || 6379);
  const port = local && (await portIsFree(wantedPort)) ? wantedPort : await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-session-redis-'));
  // A session of its own, as the workers: a terminal's ^C must not stop it while they finish their jobs.
  const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}${wanted.pathname && wanted.pathname !== '/' ? wanted.pathname : ''}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  if (await redisAnswers(port, 10_000, () => proc.exitCode === null)) return { url, stop };
  await stop();
  throw new Error(`${binary} did not start on port ${port}`);
}

/**
 * Waits until a local redis-server on `port` answers PING: true when it does, false once `timeoutMs`
 * passed or `starting()` says the server is gone. `tls`: the server listens with TLS only (tests).
 */
export async function redisAnswers(port: number, timeoutMs: number, starting: () => boolean = () => true, tls?: RedisOptions['tls']): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(tls ? { tls } : {}) });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return true;
    } catch {
      if (!starting() || Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
}
