// Runs forkpool-worker as a real process against a test Redis, and reads what its jobs recorded.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, beforeEach } from 'node:test';
import type { Redis } from 'ioredis';
import type { ForkpoolClient } from '../../queue/src/index.ts';
import { redisSuite, type RedisServer } from './redis.ts';

export const JOBS_DIR = fileURLToPath(new URL('../fixtures/jobs/', import.meta.url));
const BIN = fileURLToPath(new URL('../../worker-image/src/bin.ts', import.meta.url));

/** Calls `onLine` with each line a worker writes: its pino JSON, or `{ msg }` for a line that is not JSON. */
export function onLogLines(stream: Readable, onLine: (line: Record<string, unknown>) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
    try {
      onLine(JSON.parse(line) as Record<string, unknown>);
    } catch {
      onLine({ msg: line });
    }
  });
}

export interface WorkerProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** every log line so far */
  readonly logs: Record<string, unknown>[];
  /** resolves with the exit code (or signal) */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

// A test process that dies (or is cut by a timeout) must not leave workers behind.
const started = new Set<ChildProcess>();
process.once('exit', () => { for (const p of started) p.kill('SIGKILL'); });

/** Whether a process (a job's child, say) still exists. */
export function alive(pid: unknown): boolean {
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch {
    return false;
  }
}

export const tempRecordFile = (): string => join(mkdtempSync(join(tmpdir(), 'forkpool-rec-')), 'record.jsonl');

/** Lines a job fixture appended to its record file. */
export function records(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Starts the worker with the given environment and waits for "worker started". */
export async function startWorker(env: Record<string, string>, opts: { command?: string[]; waitStarted?: boolean; bin?: string } = {}): Promise<WorkerProcess> {
  const argv = [...(opts.command ?? []), process.execPath, opts.bin ?? BIN];
  const [cmd, ...args] = argv as [string, ...string[]];
  const proc = spawn(cmd, args, {
    env: { ...process.env, JOBS_DIR, PORT: '0', LOG_LEVEL: 'info', HEARTBEAT_INTERVAL_SECONDS: '1', HEARTBEAT_TIMEOUT_SECONDS: '3', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(proc);
  proc.once('exit', () => started.delete(proc));
  const logs: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  if (proc.stdout) {
    onLogLines(proc.stdout, (line) => {
      logs.push(line);
      for (const l of listeners) l();
    });
  }
  proc.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = logs.find(match);
        if (hit) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`worker log line not seen in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  const worker: WorkerProcess = {
    proc,
    pid: proc.pid ?? 0,
    logs,
    exited,
    waitForLog,
    kill: (signal = 'SIGTERM') => { proc.kill(signal); },
  };
  if (opts.waitStarted !== false) await waitForLog((l) => l.msg === 'worker started');
  return worker;
}

/** Stops a worker (TERM, then KILL after a while) and waits for it to exit. */
export async function stopWorker(w: WorkerProcess): Promise<void> {
  if (w.proc.exitCode !== null || w.proc.signalCode !== null) return;
  w.kill('SIGTERM');
  const timer = setTimeout(() => w.kill('SIGKILL'), 10_000);
  await w.exited;
  clearTimeout(timer);
}

export interface WorkerSuite {
  readonly server: RedisServer;
  readonly redis: Redis;
  readonly client: ForkpoolClient;
  /** Starts a worker in the suite's isolation mode and checks that mode really runs. */
  start(env: Record<string, string>, opts?: { command?: string[]; bin?: string }): Promise<WorkerProcess>;
}

/**
 * For a describe block: a Redis of its own, and before each test an empty database and no workers left
 * from the one before. `defaults` is environment every worker of the block gets.
 */
export function workerSuite(isolation: 'spawn' | 'fork', defaults: Record<string, string> = {}): WorkerSuite {
  const workers: WorkerProcess[] = [];
  // Registered before redisSuite's hooks, which run after these: workers stop before the flush and the server.
  after(async () => { await Promise.all(workers.splice(0).map(stopWorker)); });
  beforeEach(async () => { await Promise.all(workers.splice(0).map(stopWorker)); });
  const r = redisSuite();
  return {
    get server() { return r.server; },
    get redis() { return r.redis; },
    get client() { return r.client; },
    async start(env, opts) {
      const w = await startWorker({ REDIS_URL: r.server.url, ...defaults, ISOLATION: isolation, ...env }, opts);
      workers.push(w);
      await w.waitForLog((l) => l.msg === 'worker started' && l.isolation === isolation, 1000);
      return w;
    },
  };
}
