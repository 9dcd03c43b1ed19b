// Shared set-up of the fork-mode tests: a zygote on the fixture jobs folder, temp files, /proc.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProcessAddon } from '../../worker-image/src/process-addon.ts';
import { startZygote, type StartZygoteOptions, type Zygote } from '../../worker-image/src/fork/zygote.ts';

export const JOBS_DIR = fileURLToPath(new URL('./jobs', import.meta.url));

/** Fails (never skips) when the addon is missing: fork mode would silently go untested. */
export function requireProcessAddon(): void {
  const load = loadProcessAddon();
  if (!load.ok) {
    throw new Error(`fork mode is unavailable, so its tests cannot run: ${load.reason}`);
  }
}

export async function startTestZygote(options: Partial<StartZygoteOptions> = {}): Promise<Zygote> {
  requireProcessAddon();
  return startZygote({ jobsDir: JOBS_DIR, ...options });
}

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(): { dir: string; file: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-fork-test-'));
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** The processes whose parent is `pid`, with their state letter (Z: zombie). */
export function childrenOf(pid: number): { pid: number; state: string }[] {
  const out: { pid: number; state: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === pid) out.push({ pid: Number(entry), state: state ?? '?' });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** fd -> what it points to ("socket:[123]", "pipe:[456]", ...), for a process of ours. */
export function fdLinks(pid: number): Map<number, string> {
  const links = new Map<number, string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      links.set(Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed while we looked
    }
  }
  return links;
}

export function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
