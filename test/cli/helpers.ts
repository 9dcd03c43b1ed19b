// Runs the forkpool CLI as a user would, and loads Redis data written by Ruby Resque.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

export const CLI = fileURLToPath(new URL('../../cli/src/bin.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `forkpool <args>` to completion. REDIS_URL is cleared unless given, so tests never hit a stray Redis. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, REDIS_URL: '', RESQUE_NAMESPACE: '', ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// A test process that dies must not leave a `forkpool up` or a dashboard behind.
const started = new Set<ChildProcess>();
process.once('exit', () => killStarted());

/** SIGKILLs every `forkpool` this test file started that still runs (for an `after` hook: a failed test leaves them). */
export function killStarted(): void {
  for (const p of started) p.kill('SIGKILL');
}

/** Starts a long-running `forkpool <args>` (up, dashboard) with stdout/stderr collected. */
export function startCli(args: string[], env: Record<string, string> = {}, cwd?: string): { proc: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, REDIS_URL: '', RESQUE_NAMESPACE: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd });
  started.add(proc);
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    started.delete(proc);
    resolve(code);
  }));
  return { proc, stdout: () => out, stderr: () => err, exited };
}

const shellQuote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * Starts `forkpool <args>` as from a shell in a terminal: in a pseudo-terminal of its own (util-linux
 * `script`), where `ctrlC()` types ^C and the terminal's line discipline sends SIGINT to the foreground
 * process group, as it does for a user. `output` is what the terminal showed (stdout and stderr, CRLF).
 */
export function startCliInTerminal(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; output: () => string; ctrlC: () => void; exited: Promise<number | null> } {
  const command = `exec ${[process.execPath, CLI, ...args].map(shellQuote).join(' ')}`;
  const proc = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, REDIS_URL: '', RESQUE_NAMESPACE: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(proc);
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    started.delete(proc);
    resolve(code);
  }));
  return { proc, output: () => out, ctrlC: () => proc.stdin.write('\x03'), exited };
}

interface FixtureKey {
  type: 'set' | 'list' | 'string' | 'hash' | 'zset';
  members?: string[] | Record<string, number>;
  items?: string[];
  value?: string;
  fields?: Record<string, string>;
}

/** Writes sections of test/fixtures/resque-3.0.0-redis.json (captured from Ruby Resque) into Redis as they were. */
export async function loadResqueFixture(redis: Redis, sections: string[]): Promise<void> {
  const all = JSON.parse(readFileSync(new URL('../fixtures/resque-3.0.0-redis.json', import.meta.url), 'utf8')) as Record<string, Record<string, FixtureKey>>;
  for (const section of sections) {
    for (const [key, v] of Object.entries(all[section] ?? {})) {
      if (key === 'note') continue;
      if (v.type === 'set') await redis.sadd(key, ...(v.members as string[]));
      else if (v.type === 'list') await redis.rpush(key, ...(v.items ?? []));
      else if (v.type === 'string') await redis.set(key, v.value ?? '');
      else if (v.type === 'hash') await redis.hset(key, v.fields ?? {});
      else for (const [m, s] of Object.entries(v.members as Record<string, number>)) await redis.zadd(key, s, m);
    }
  }
}
