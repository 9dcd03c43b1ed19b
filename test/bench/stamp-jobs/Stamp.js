// Records when it started and its peak RSS. The clock is CLOCK_MONOTONIC (process.hrtime), one clock for
// every process on the machine, read without loading anything (performance.now would first load perf_hooks,
// a few ms in a fresh process, and count it as pickup).
import { appendFileSync, readFileSync } from 'node:fs';

export function perform(id) {
  const at = process.hrtime.bigint();
  const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  appendFileSync(process.env.STAMP_FILE, `${id} ${at} ${hwm}\n`);
}
