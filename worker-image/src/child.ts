// A job child: loads the job modules before any job arrives, then runs the jobs the master sends, one at a
// time in the order sent (the master may send the next ones while one runs), and exits after
// JOBS_PER_CHILD of them. It dies with its master (IPC disconnect).
import { classNameFor, findJobModule, listJobModules, loadJob, stackLines, type Loaded } from './jobs.ts';
import type { ChildMessage, RunMessage } from './protocol.ts';

const jobsDir = process.env.FORKPOOL_JOBS_DIR ?? './jobs';
const jobsPerChild = Number(process.env.FORKPOOL_JOBS_PER_CHILD ?? '1');
const loaded = new Map<string, Loaded>();
const queue: RunMessage[] = [];
let jobsRun = 0;
let ready = false;
let running = false;

const send = (msg: ChildMessage): Promise<void> =>
  new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, undefined, () => resolve());
  });

/** Runs one job; resolves once its result is sent (only the last job's send is waited for: the exit follows). */
async function run(msg: RunMessage): Promise<void> {
  jobsRun++;
  const last = jobsRun >= jobsPerChild;
  let job = loaded.get(msg.className);
  if (!job) {
    const path = findJobModule(jobsDir, msg.className);
    job = path
      ? await loadJob(jobsDir, path)
      : { error: { name: 'Forkpool::UnknownJobClass', message: `no job module for class ${msg.className} in ${jobsDir} (looked for ${msg.className.split('::').join('/')}.js, .mjs or .cjs)`, stack: [] } };
    loaded.set(msg.className, job);
  }
  let sent: Promise<void>;
  if ('error' in job) {
    sent = send({ t: 'done', ok: false, error: job.error });
  } else {
    try {
      await job.perform(...msg.args);
      sent = send({ t: 'done', ok: true });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
      sent = send({ t: 'done', ok: false, error: { name: e.name !== 'Error' ? e.name : (e.constructor?.name ?? 'Error'), message: e.message, stack: stackLines(e) } });
    }
  }
  if (last) {
    await sent;
    process.exit(0);
  }
}

async function drain(): Promise<void> {
  if (running || !ready) return;
  running = true;
  for (let msg = queue.shift(); msg; msg = queue.shift()) await run(msg);
  running = false;
}

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: RunMessage | { t: 'warm' }) => {
  if (msg.t !== 'run') return;
  queue.push(msg);
  void drain();
});

const started = performance.now();
for (const path of listJobModules(jobsDir)) {
  loaded.set(classNameFor(path.slice(jobsDir.length + 1)), await loadJob(jobsDir, path));
}
ready = true;
await send({ t: 'ready', loadMs: performance.now() - started });
void drain();
