// Records its id when it starts and when it ends (one JSON line each, appended to `file`), sleeping
// `sleepMs` in between: a job that was interrupted shows a start without an end.
import { appendFileSync } from 'node:fs';

export async function perform(file, id, sleepMs) {
  appendFileSync(file, JSON.stringify({ id, event: 'start', pid: process.pid }) + '\n');
  await new Promise((resolve) => setTimeout(resolve, sleepMs));
  appendFileSync(file, JSON.stringify({ id, event: 'end', pid: process.pid }) + '\n');
}
