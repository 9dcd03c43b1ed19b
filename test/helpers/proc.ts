// What /proc says about a process's CPU, for the benchmarks.
import { readFileSync } from 'node:fs';

/**
 * CPU ms (user + system) a process has used so far (`self`), and that its exited, reaped children used
 * (`children`), from /proc/<pid>/stat; both 0 once the process is gone.
 */
export function cpuMs(pid: number): { self: number; children: number } {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return { self: 0, children: 0 };
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const tick = 10; // USER_HZ is 100 on Linux
  return { self: ((f[11] ?? 0) + (f[12] ?? 0)) * tick, children: ((f[13] ?? 0) + (f[14] ?? 0)) * tick };
}
