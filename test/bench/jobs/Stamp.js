// Records when it started (epoch ms with sub-ms precision, comparable across processes) and its peak RSS.
import { appendFileSync, readFileSync } from 'node:fs';

export function perform(id) {
  const at = performance.timeOrigin + performance.now();
  const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  appendFileSync(process.env.STAMP_FILE, `${id} ${at} ${hwm}\n`);
}
