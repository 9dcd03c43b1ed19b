// Starts a real Redis Cluster on loopback for a test file: three primaries and three replicas
// (`redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create --cluster-replicas 1`), and
// moves a slot or fails a primary over the way an operator would.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './redis.ts';
import { until } from './wait.ts';

const run = promisify(execFile);
const SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

export interface RedisCluster {
  readonly ports: readonly number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,...` (REDIS_CLUSTER_NODES) */
  readonly addresses: string;
  readonly nodes: { host: string; port: number }[];
  /** a plain connection to one node */
  connect(port: number): Redis;
  slotOf(key: string): Promise<number>;
  /** the port of the primary that serves `slot` */
  ownerOf(slot: number): Promise<number>;
  /** a replica of the primary on `port` */
  replicaOf(port: number): Promise<number>;
  /** moves `slot` with its keys to the primary on `to` (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) */
  moveSlot(slot: number, to: number): Promise<void>;
  /** CLUSTER FAILOVER on the replica on `replica`, waiting until it is a primary the cluster knows */
  failover(replica: number): Promise<void>;
  /** SIGKILLs the node on `port` (a primary dies outright), waiting until the process is gone */
  kill(port: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push(await freePort());
  const procs: ChildProcess[] = [];
  const conns: Redis[] = [];
  const connect = (port: number): Redis => {
    const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 2 });
    c.on('error', () => undefined);
    conns.push(c);
    return c;
  };
  for (const port of ports) {
    const proc = spawn(SERVER, [
      '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2000), '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--save', '', '--appendonly', 'no',
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    process.once('exit', () => proc.kill('SIGKILL'));
    procs.push(proc);
  }
  const admin = new Map<number, Redis>(ports.map((p) => [p, connect(p)]));
  const a = (port: number): Redis => admin.get(port) ?? connect(port);
  await until('the cluster nodes answer', async () => (await Promise.all(ports.map((p) => a(p).ping().catch(() => '')))).every((r) => r === 'PONG'), 10_000);
  await run(CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes']);
  await until('the cluster is ok on every node', async () => {
    const infos = await Promise.all(ports.map((p) => a(p).cluster('INFO').catch(() => '')));
    return infos.every((i) => String(i).includes('cluster_state:ok'));
  }, 30_000, 200);

  const dead = new Set<number>();
  const ownerOf = async (slot: number): Promise<number> => {
    const ranges = await a(ports.find((p) => !dead.has(p)) ?? 0).cluster('SLOTS');
    const primary = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2];
    if (!primary) throw new Error(`no node serves slot ${slot}`);
    return Number(primary[1]);
  };
  const nodeId = async (port: number): Promise<string> => String(await a(port).cluster('MYID'));

  return {
    ports,
    addresses: ports.map((p) => `127.0.0.1:${p}`).join(','),
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    connect,
    slotOf: async (key) => Number(await a(ports.find((p) => !dead.has(p)) ?? 0).cluster('KEYSLOT', key)),
    ownerOf,
    async replicaOf(port) {
      const id = await nodeId(port);
      const lines = String(await a(port).cluster('NODES')).split('\n');
      const line = lines.find((l) => l.split(' ')[3] === id && l.includes('slave') && !l.includes('fail'));
      if (!line) throw new Error(`no replica of 127.0.0.1:${port}`);
      return Number(/:(\d+)@/.exec(line)?.[1]);
    },
    async moveSlot(slot, to) {
      const from = await ownerOf(slot);
      if (from === to) return;
      const [fromId, toId] = [await nodeId(from), await nodeId(to)];
      await a(to).cluster('SETSLOT', slot, 'IMPORTING', fromId);
      await a(from).cluster('SETSLOT', slot, 'MIGRATING', toId);
      for (;;) {
        const keys = await a(from).cluster('GETKEYSINSLOT', slot, 100);
        if (keys.length === 0) break;
        await a(from).call('MIGRATE', '127.0.0.1', to, '', 0, 5000, 'KEYS', ...keys);
      }
      await a(to).cluster('SETSLOT', slot, 'NODE', toId);
      await a(from).cluster('SETSLOT', slot, 'NODE', toId);
      const primaries = [];
      for (const p of ports) if (String(await a(p).role().then((r) => r[0])) === 'master') primaries.push(p);
      for (const p of primaries) await a(p).cluster('SETSLOT', slot, 'NODE', toId).catch(() => undefined);
      await until(`slot ${slot} is served by 127.0.0.1:${to} on every node`, async () => {
        for (const p of ports) {
          const ranges = await a(p).cluster('SLOTS');
          if (Number(ranges.find(([f, t]) => f <= slot && slot <= t)?.[2]?.[1]) !== to) return false;
        }
        return true;
      }, 30_000, 200);
    },
    async failover(replica) {
      await a(replica).cluster('FAILOVER');
      await until(`127.0.0.1:${replica} is a primary`, async () => String((await a(replica).role())[0]) === 'master', 30_000, 200);
      await until('the cluster is ok on every node', async () => {
        const infos = await Promise.all(ports.map((p) => a(p).cluster('INFO').catch(() => '')));
        return infos.every((i) => String(i).includes('cluster_state:ok'));
      }, 30_000, 200);
    },
    async kill(port) {
      const proc = procs[ports.indexOf(port)];
      if (!proc) throw new Error(`no node on port ${port}`);
      dead.add(port);
      admin.get(port)?.disconnect();
      await new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) resolve();
        else { proc.once('exit', () => resolve()); proc.kill('SIGKILL'); }
      });
    },
    async stop() {
      for (const c of conns) c.disconnect();
      await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) resolve();
        else { p.once('exit', () => resolve()); p.kill('SIGKILL'); }
      })));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
