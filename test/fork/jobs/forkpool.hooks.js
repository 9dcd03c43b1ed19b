// The fork hooks of the fixture jobs folder: records that each ran, and where.
let beforeForkRuns = 0;

export function beforeFork() {
  beforeForkRuns++;
  globalThis.forkHooks = { beforeFork: { runs: beforeForkRuns, pid: process.pid }, afterFork: null };
}

export async function afterFork(job) {
  await Promise.resolve();
  if (job.className === 'AfterForkFails') throw new Error('afterFork refused AfterForkFails');
  globalThis.forkHooks.afterFork = { className: job.className, args: job.args, pid: Number(process.pid) };
}
