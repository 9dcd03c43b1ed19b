// For npm run bench:autoscale: records when it starts (Date.now(), one clock for every process on the
// machine) next to the enqueue time the benchmark put in its args, then sleeps `sleepMs` and records its
// end. One JSON line per event, as E2eRecord writes them, so that the same tally counts lost and duplicated jobs.
import { appendFileSync } from 'node:fs';

export async function perform(file, id, enqueuedAtMs, sleepMs) {
  appendFileSync(file, JSON.stringify({ id, event: 'start', pid: process.pid, at: Date.now(), enqueuedAt: enqueuedAtMs }) + '\n');
  await new Promise((resolve) => setTimeout(resolve, sleepMs));
  appendFileSync(file, JSON.stringify({ id, event: 'end', pid: process.pid }) + '\n');
}
