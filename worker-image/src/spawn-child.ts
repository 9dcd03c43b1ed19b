// A job child: loads the job modules before any job arrives, then runs the jobs the master sends, one at a
// time in the order sent (the master may send the next ones while one runs), and exits after
// JOBS_PER_CHILD of them. The modules it loads first are those the master names in FORKPOOL_PRELOAD (the
// classes its slot ran last), or every module in JOBS_DIR; a job of another class loads its module when it comes.
//
// The channel is two plain pipes, one JSON line per message: jobs come in on fd 3, results go out on fd 4
// (written synchronously). Node's IPC channel would cost every fresh child a few ms of start-up for
// modules it does not otherwise need. A child for one job reads its job synchronously; a reused child
// reads on the event loop, so that its jobs' timers and sockets keep running between jobs. Either way it
// exits when the master closes fd 3. When the master dies, a child it started through its addon is killed by
// the kernel (PR_SET_PDEATHSIG, see launch.ts); one started with Node's spawn finds out within a second on its
// own, unless its job keeps the event loop busy.
//
// After its last job, once what its jobs wrote to stdout and stderr is out (stdio.ts), a child ends at once,
// as Resque's children do with `exit!`: Node's own teardown (its thread pool and V8's stopped and joined, the
// heap freed page by page) costs a fresh child ~1.5 ms of CPU (measured, paired runs), and all of it is then
// thrown away by the kernel. When a job has registered `process.on('exit')` listeners the child exits the
// usual way, so that they run.
import { classNameFor, findJobModule, listJobModules, loadJob, NO_JOB_HOOKS, type Loaded } from './jobs.ts';
import { loadGlobalHooks, NO_GLOBAL_HOOKS, type LoadedGlobalHooks } from './global-hooks.ts';
import { childLog, runJob } from './run-job.ts';
import type { ChildMessage, RunMessage } from './child-protocol.ts';
import { LineSplitter } from './line-splitter.ts';
import { watchStdio } from './stdio.ts';

// Node's modules through process.getBuiltinModule, not `import`: see jobs.ts.
const { readSync, writeSync } = process.getBuiltinModule('node:fs');

const JOBS_FD = 3;
const RESULTS_FD = 4;
const jobsDir = process.env.FORKPOOL_JOBS_DIR ?? './jobs';
const jobsPerChild = Number(process.env.FORKPOOL_JOBS_PER_CHILD ?? '1');
/** The classes to load before the first job (comma-separated; see spawn-executor.ts); unset: every module. */
const preload = process.env.FORKPOOL_PRELOAD;
const masterPid = process.ppid;
const loaded = new Map<string, Loaded>();
/** The hooks module's hooks, loaded with the job modules before the first job. */
let globalHooks: LoadedGlobalHooks = NO_GLOBAL_HOOKS;
const queue: RunMessage[] = [];
const lines = new LineSplitter();
let jobsRun = 0;
let running = false;
/** Before "ready", the path a job takes is run once on a job that does nothing and is not reported. */
let warmingUp = true;
const NOOP: Loaded = { perform: () => undefined, hooks: NO_JOB_HOOKS };
const stdioWritten = watchStdio();

/**
 * Ends the child after its last job, once what its jobs wrote to stdout and stderr is out (see stdio.ts;
 * results went to fd 4 synchronously). SIGKILL to itself is Node's only way to skip its teardown; the
 * master, having read the child's last result, knows that this is how it ends.
 */
async function finished(): Promise<never> {
  await stdioWritten();
  if (process.listenerCount('exit') > 0) process.exit(0);
  process.kill(process.pid, 'SIGKILL');
  return process.exit(0); // not reached
}

function send(msg: ChildMessage): void {
  const data = Buffer.from(JSON.stringify(msg) + '\n');
  try {
    for (let written = 0; written < data.length;) written += writeSync(RESULTS_FD, data, written);
  } catch {
    process.exit(1); // the master is gone
  }
}

/** Queues the jobs in a chunk read from the master. What the master writes is well-formed; anything else is skipped. */
function received(chunk: Buffer): void {
  for (const line of lines.push(chunk)) {
    try {
      const msg = JSON.parse(line) as RunMessage;
      if (msg.t === 'run') queue.push(msg);
    } catch {
      // not a job
    }
  }
}

async function run(msg: RunMessage): Promise<void> {
  if (warmingUp) {
    await runJob(NOOP, NO_GLOBAL_HOOKS, { className: msg.className, args: msg.args });
    return;
  }
  jobsRun++;
  let job = loaded.get(msg.className);
  if (!job) {
    const path = findJobModule(jobsDir, msg.className);
    job = path
      ? await loadJob(jobsDir, path)
      : { error: { name: 'Forkpool::UnknownJobClass', message: `no job module for class ${msg.className} in ${jobsDir} (looked for ${msg.className.split('::').join('/')}.js, .mjs or .cjs)`, stack: [] } };
    loaded.set(msg.className, job);
  }
  const result = await runJob(job, globalHooks, { className: msg.className, args: msg.args });
  send({ t: 'done', ...result });
  if (jobsRun >= jobsPerChild) await finished();
}

async function drain(): Promise<void> {
  if (running) return;
  running = true;
  for (let msg = queue.shift(); msg; msg = queue.shift()) await run(msg);
  running = false;
}

/** Blocks until the master sends a job (a child for one job has nothing else to do meanwhile). */
function readJobSync(): void {
  const buf = Buffer.alloc(64 * 1024);
  while (queue.length === 0) {
    let n: number;
    try {
      n = readSync(JOBS_FD, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN' || (err as NodeJS.ErrnoException).code === 'EINTR') continue;
      throw err;
    }
    if (n === 0) process.exit(0); // the master closed the channel
    received(buf.subarray(0, n));
  }
}

// The guard of a child started with Node's spawn, which cannot ask the kernel to kill it with its master.
setInterval(() => {
  if (process.ppid !== masterPid) process.exit(1);
}, 1000).unref();

/** Loads the jobs, warms up, says "ready", then takes jobs. A function, not top-level `await`: the build also
 * ships this file as CommonJS (spawn-child.cjs: see scripts/build.ts), which cannot await at the top. */
async function main(): Promise<void> {
  // Date.now, not performance.now: the latter costs a fresh process a few ms of module loading.
  const started = Date.now();
  const modules: [string, string][] = preload === undefined
    ? listJobModules(jobsDir).map((path) => [classNameFor(path.slice(jobsDir.length + 1)), path])
    : preload.split(',').flatMap((className) => {
      const path = findJobModule(jobsDir, className);
      return path ? [[className, path] as [string, string]] : [];
    });
  globalHooks = await loadGlobalHooks(jobsDir);
  if ('error' in globalHooks) childLog('error', `hooks module: ${globalHooks.error.message}; every job fails with ${globalHooks.error.name} until it is fixed`, {});
  for (const [className, path] of modules) loaded.set(className, await loadJob(jobsDir, path));
  // The first job would otherwise wait ~0.3 ms for this path to be compiled (measured: ~0.1 ms per function).
  const warmUpLine = Buffer.from('{"t":"run","className":"Warm::Up","args":[]}\n');
  received(warmUpLine);
  await drain();
  warmingUp = false;
  send({ t: 'ready', loadMs: Date.now() - started });
  if (jobsPerChild === 1) {
    readJobSync();
    await drain();
  } else {
    const { Socket } = process.getBuiltinModule('node:net');
    const jobs = new Socket({ fd: JOBS_FD, readable: true, writable: false });
    jobs.on('data', (chunk: Buffer) => {
      received(chunk);
      void drain();
    });
    jobs.on('end', () => void finished());
    jobs.on('error', () => process.exit(1));
  }
}

void main();
