// Real Redis Sentinels for a test: `redis-server <conf> --sentinel` (Debian's redis-server runs in sentinel mode),
// each watching one primary, with short timeouts so that a primary killed is replaced within seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis.ts';
import { until } from './wait.ts';

export interface Sentinels {
  /** `host:port,...`, as REDIS_SENTINELS takes them */
  readonly addresses: string;
  readonly list: { host: string; port: number }[];
  /** the primary's port the sentinels name now */
  primaryPort(): Promise<number>;
  /** `SENTINEL FAILOVER`: promotes a replica now, as an operator does for maintenance */
  failover(masterName: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `count` sentinels monitoring the primary at 127.0.0.1:`primaryPort` as `masterName` (quorum: a
 * majority), and waits until each knows the primary's replicas (`replicas`) and the other sentinels. A
 * primary that does not answer for `downAfterMs` is objectively down, and a failover starts. `password`: the
 * sentinels' own (`requirepass`, and what they give each other).
 */
export async function startSentinels(
  masterName: string,
  primaryPort: number,
  opts: { count?: number; replicas?: number; downAfterMs?: number; password?: string } = {},
): Promise<Sentinels> {
  const count = opts.count ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-sentinel-'));
  const procs: ChildProcess[] = [];
  const list: { host: string; port: number }[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    // Sentinel rewrites its configuration file with what it learns, so each has a writable one of its own.
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${primaryPort} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${masterName} 10000`,
      `sentinel parallel-syncs ${masterName} 1`,
      ...(opts.password === undefined ? [] : [`requirepass ${opts.password}`, `sentinel sentinel-pass ${opts.password}`]),
      '',
    ].join('\n'));
    const proc = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'ignore', 'inherit'] });
    process.once('exit', () => proc.kill('SIGKILL'));
    procs.push(proc);
    list.push({ host: '127.0.0.1', port });
  }
  const conns = list.map((s) => {
    const c = new Redis({ ...s, password: opts.password, lazyConnect: true, maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    return c;
  });
  await until('the sentinels answer', async () => {
    if (procs.some((p) => p.exitCode !== null)) throw new Error('redis-server --sentinel exited at start');
    await Promise.all(conns.map((c) => c.ping()));
    return true;
  }, 10_000);
  await until('every sentinel knows the replicas and the other sentinels', async () => {
    for (const c of conns) {
      const [master] = (await c.call('SENTINEL', 'MASTERS')) as string[][];
      const field = (name: string): number => Number(master?.[master.indexOf(name) + 1]);
      if (field('num-slaves') < (opts.replicas ?? 1) || field('num-other-sentinels') < count - 1) return false;
    }
    return true;
  }, 30_000, 200);
  return {
    addresses: list.map((s) => `${s.host}:${s.port}`).join(','),
    list,
    async primaryPort() {
      const [, port] = (await conns[0]!.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string];
      return Number(port);
    },
    async failover(name) {
      await conns[0]!.call('SENTINEL', 'FAILOVER', name);
    },
    async stop() {
      for (const c of conns) c.disconnect();
      await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) resolve();
        else {
          p.once('exit', () => resolve());
          p.kill('SIGKILL');
        }
      })));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
