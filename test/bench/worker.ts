// npm run bench:worker — throughput, pickup latency and memory of one forkpool-worker on no-op jobs, beside
// the machine's limit for starting a fresh `node` per job. Prints figures; asserts nothing.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs } from '../helpers/proc.ts';
import { startRedis } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { tempRecordFile } from '../helpers/worker.ts';
import { launcher } from '../../worker-image/src/launch.ts';
import { parseWorkerId } from '../../queue/src/worker-id.ts';

// The no-op job alone: a slot's first child loads every module in JOBS_DIR (later ones, those of the classes
// the slot ran), and Stamp's ES import of node:fs costs one ~3.5 ms (Node builds the ES facade of fs, loading
// fs/promises), which is not the worker's cost.
const JOBS_DIR = fileURLToPath(new URL('./jobs/', import.meta.url));
const STAMP_JOBS_DIR = fileURLToPath(new URL('./stamp-jobs/', import.meta.url));
const SLOW_JOBS_DIR = fileURLToPath(new URL('./slow-jobs/', import.meta.url));
const BIN = fileURLToPath(new URL('../../dist/worker-image/src/bin.js', import.meta.url));
if (!existsSync(BIN)) throw new Error('run `npm run build` first (npm run bench:worker does)');
const cores = availableParallelism();
const quick = process.env.BENCH_QUICK === '1';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
/**
 * The live children of a process, from /proc: those of every thread, as a thread that forks or spawns is the
 * parent (the worker starts its zygote from a thread other than the main one).
 */
const childrenOf = (pid: number): number[] => {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
};
/** The zygote's process name (process.title 'forkpool-zygote', which Linux keeps as the 15-character comm). */
const ZYGOTE_COMM = 'forkpool-zygote';
const commOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};
/** CPU ms a process tree used so far: each live process's own and that of the children it reaped. */
const treeCpuMs = (pid: number): number => {
  const c = cpuMs(pid);
  return c.self + c.children + childrenOf(pid).reduce((sum, kid) => sum + treeCpuMs(kid), 0);
};
/**
 * The CPU ms of a worker's process tree so far, split: the worker process itself, forkpool's zygote (by its
 * process name), and the job processes (every other process, live or reaped). Resque has no zygote.
 */
interface TreeCpu { worker: number; zygote: number; jobs: number }
const splitTreeCpuMs = (pid: number): TreeCpu => {
  const root = cpuMs(pid);
  const split: TreeCpu = { worker: root.self, zygote: 0, jobs: root.children };
  for (const kid of childrenOf(pid)) {
    if (commOf(kid) === ZYGOTE_COMM) {
      const z = cpuMs(kid);
      split.zygote += z.self;
      split.jobs += z.children + childrenOf(kid).reduce((sum, job) => sum + treeCpuMs(job), 0);
    } else {
      split.jobs += treeCpuMs(kid);
    }
  }
  return split;
};
const hwmKb = (pid: number): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

// The ceiling's processes are started the way the worker starts its children (posix_spawn when process.node
// is built): the ratio is then the worker's own overhead. Node's spawn fork()s this process first, which
// costs more (and more the bigger the parent): that figure is printed beside it.
const launch = launcher();
const startNode = (via: 'launcher' | 'child_process'): Promise<void> => {
  if (via === 'launcher') {
    const child = launch.launch(process.execPath, ['-e', '0'], process.env);
    child.jobs.destroy();
    child.results.resume();
    return child.ended.then(() => undefined);
  }
  return new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    p.on('exit', () => resolve());
    p.on('error', reject);
  });
};

/**
 * Fresh `node -e 0` processes per second with `parallel` at once: the ceiling for a process per job. Also the
 * CPU each used (this process's reaped children: only these are reaped meanwhile), in ms.
 */
async function spawnLimit(total: number, parallel: number, via: 'launcher' | 'child_process' = 'launcher'): Promise<{ perSec: number; cpuMs: number }> {
  let started = 0;
  const cpu0 = cpuMs(process.pid).children;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (started < total) {
      started++;
      await startNode(via);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return { perSec: total / ((performance.now() - t0) / 1000), cpuMs: (cpuMs(process.pid).children - cpu0) / total };
}

const server = await startRedis();
const redis = server.connect();
const ns = 'bench';

interface Worker { pid: number; stop(): Promise<void> }

/** Starts the built worker with its production log level, its output discarded, and waits until it registers. */
async function runWorker(env: Record<string, string>): Promise<Worker> {
  const proc = spawn(process.execPath, [BIN], {
    env: { ...process.env, REDIS_URL: server.url, RESQUE_NAMESPACE: ns, QUEUES: 'bench', JOBS_DIR, PORT: '0', ...env },
    stdio: 'ignore',
  });
  const killOnExit = (): void => { proc.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => {
    process.off('exit', killOnExit);
    resolve();
  }));
  const pid = proc.pid ?? 0;
  await until('the worker registered', async () => (await redis.smembers(`${ns}:workers`)).some((id) => parseWorkerId(id).pid === pid), 30_000, 10);
  return { pid, stop: async () => { proc.kill('SIGTERM'); await exited; } };
}

/**
 * Enqueues `n` jobs of a class at once and waits until the worker has processed `upTo` jobs in all; returns
 * how long that took, in ms.
 */
async function burst(n: number, className: string, upTo: number): Promise<number> {
  const payload = JSON.stringify({ class: className, args: [] });
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    await redis.pipeline().sadd(`${ns}:queues`, 'bench').rpush(`${ns}:queue:bench`, ...Array.from({ length: Math.min(1000, n - i) }, () => payload)).exec();
  }
  // Polled every 10 ms: the harness should not take CPU from the worker it measures on a small machine.
  await until(`${upTo} jobs processed`, async () => Number(await redis.get(`${ns}:stat:processed`)) >= upTo, 600_000, 10);
  return performance.now() - t0;
}

/**
 * From now on, the CPU a worker's master, Redis and the worker's exited children use, per job once `n` ran
 * (`totalMs`: the three together, in ms).
 */
function cpuMeter(workerPid: number): (n: number) => { perJob: (ms: number) => string; master: string; redis: string; exited: string; totalMs: number } {
  const cpu0 = { master: cpuMs(workerPid).self, redis: cpuMs(server.pid).self, reaped: cpuMs(workerPid).children };
  return (n) => {
    const perJob = (ms: number): string => `${((ms * 1000) / n).toFixed(0)} us`;
    const used = { master: cpuMs(workerPid).self - cpu0.master, redis: cpuMs(server.pid).self - cpu0.redis, exited: cpuMs(workerPid).children - cpu0.reaped };
    return {
      perJob,
      master: perJob(used.master),
      redis: perJob(used.redis),
      exited: perJob(used.exited),
      totalMs: (used.master + used.redis + used.exited) / n,
    };
  };
}

/** Jobs per second for `n` no-op jobs enqueued at once onto an idle, warm worker. */
async function throughput(env: Record<string, string>, n: number, className = 'Noop'): Promise<{ jobsPerSec: number; masterPeakMb: number; cpu: string }> {
  await redis.flushdb();
  const w = await runWorker(env);
  await sleep(env.JOBS_DIR !== undefined && env.JOBS_DIR !== JOBS_DIR ? 1500 : 300); // a slow module's first load
  const meter = cpuMeter(w.pid);
  const ms = await burst(n, className, n);
  const masterPeakMb = hwmKb(w.pid) / 1024;
  const used = meter(n);
  // Children that ran a job and exited are not counted: this breakdown is for long-lived children (reuse, zygote).
  const kids = childrenOf(w.pid).reduce((sum, pid) => sum + cpuMs(pid).self + childrenOf(pid).reduce((s, p) => s + cpuMs(p).self, 0), 0);
  const cpu = `CPU per job: master ${used.master}, redis ${used.redis}, live children ${used.perJob(kids)} (since start), exited children ${used.exited}`;
  await w.stop();
  return { jobsPerSec: (n * 1000) / ms, masterPeakMb, cpu };
}

/**
 * A JOBS_PER_CHILD=1 row against the ceiling. This machine's speed drifts by 10-15% within a minute, so the two
 * are interleaved: the worker stays up (idle, its spare children started and waiting) while the ceiling is
 * measured, then runs a burst, `rounds` times; each burst is set against the ceilings just before and after
 * it, and the median of those ratios is the row's figure.
 */
async function againstCeiling(env: Record<string, string>, parallel: number, rounds: number, jobsPerRound: number, spawnsPerRound: number): Promise<{ jobsPerSec: number; limit: number; ratios: number[]; masterPeakMb: number; cpu: string }> {
  await redis.flushdb();
  const w = await runWorker(env);
  const settle = (): Promise<void> => sleep(300); // the spares the last burst started finish starting
  await settle();
  const ceilings = [await spawnLimit(spawnsPerRound, parallel)];
  const rates: number[] = [];
  const meter = cpuMeter(w.pid);
  let busyMs = 0;
  for (let r = 1; r <= rounds; r++) {
    const ms = await burst(jobsPerRound, 'Noop', r * jobsPerRound);
    busyMs += ms;
    rates.push((jobsPerRound * 1000) / ms);
    await settle();
    ceilings.push(await spawnLimit(spawnsPerRound, parallel));
  }
  const n = rounds * jobsPerRound;
  const used = meter(n);
  // CPU is the other way to compare, steadier than rates when the machine's speed drifts: what a job costs
  // the worker in all against what one `node -e 0` costs.
  const ceilingCpu = ceilings.reduce((a, c) => a + c.cpuMs, 0) / ceilings.length;
  const cpu = `CPU per job: master ${used.master}, redis ${used.redis}, exited children ${used.exited}; `
    + `in all ${used.totalMs.toFixed(1)} ms against ${ceilingCpu.toFixed(1)} ms per \`node -e 0\` of the ceiling (${((ceilingCpu / used.totalMs) * 100).toFixed(0)}%)`;
  const masterPeakMb = hwmKb(w.pid) / 1024;
  await w.stop();
  const ratios = rates.map((rate, i) => rate / (((ceilings[i]?.perSec ?? NaN) + (ceilings[i + 1]?.perSec ?? NaN)) / 2));
  return { jobsPerSec: (n * 1000) / busyMs, limit: ceilings.reduce((a, c) => a + c.perSec, 0) / ceilings.length, ratios, masterPeakMb, cpu };
}

/** Enqueue → job start on an idle worker, one job at a time. */
async function pickup(env: Record<string, string>, samples: number): Promise<{ p50: number; p99: number; childPeakMb: number }> {
  await redis.flushdb();
  const file = tempRecordFile();
  const w = await runWorker({ ...env, JOBS_DIR: STAMP_JOBS_DIR, STAMP_FILE: file });
  await sleep(500);
  const lat: number[] = [];
  let childPeakKb = 0;
  for (let i = 0; i < samples; i++) {
    const t0 = process.hrtime.bigint(); // the clock the Stamp job reads
    await redis.rpush(`${ns}:queue:bench`, JSON.stringify({ class: 'Stamp', args: [i] }));
    for (;;) {
      const line = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').find((l) => l.startsWith(`${i} `)) : undefined;
      if (line) {
        const [, at, hwm] = line.split(' ');
        lat.push(Number(BigInt(at ?? '0') - t0) / 1e6);
        childPeakKb = Math.max(childPeakKb, Number(hwm));
        break;
      }
      await sleep(1);
    }
    // Idle means idle: the spare child for the next job has had time to start.
    await sleep(150);
  }
  await w.stop();
  rmSync(file, { force: true });
  return { p50: pct(lat, 50), p99: pct(lat, 99), childPeakMb: childPeakKb / 1024 };
}

const RESQUE_LIB = process.env.RESQUE_LIB;
const RESQUE_DIR = fileURLToPath(new URL('./resque/', import.meta.url));

/** Starts `count` Ruby Resque workers (forking per job) on the bench queue and waits until all registered. */
async function runResque(count: number, lib: string): Promise<Worker[]> {
  const procs = Array.from({ length: count }, () => spawn('ruby', ['-I', lib, '-r', join(RESQUE_DIR, 'noop.rb'), join(RESQUE_DIR, 'worker.rb')], {
    env: { ...process.env, REDIS_URL: server.url, RESQUE_NAMESPACE: ns, QUEUE: 'bench' },
    stdio: 'ignore',
  }));
  const killOnExit = (): void => { for (const p of procs) p.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  const pids = procs.map((p) => p.pid ?? 0);
  await until('the Resque workers registered', async () => {
    const ids = await redis.smembers(`${ns}:workers`);
    return pids.every((pid) => ids.some((id) => id.split(':')[1] === String(pid)));
  }, 30_000, 10);
  return procs.map((p, i) => ({
    pid: pids[i] ?? 0,
    stop: async () => {
      const exited = new Promise<void>((resolve) => { if (p.exitCode !== null || p.signalCode !== null) resolve(); else p.once('exit', () => resolve()); });
      p.kill('SIGQUIT'); // Resque's graceful stop: finish the job, then exit
      await exited;
      process.off('exit', killOnExit);
    },
  }));
}

interface SideRun { jobsPerSec: number; tree: TreeCpu; redisMs: number }

/**
 * `n` no-op jobs through already started workers (`pids`, their process trees measured): jobs/s, and per job
 * the CPU ms of the workers' process trees (split as splitTreeCpuMs does) and of Redis.
 */
async function sideRun(pids: number[], n: number): Promise<SideRun> {
  const tree = (): TreeCpu => pids.map(splitTreeCpuMs).reduce((a, b) => ({ worker: a.worker + b.worker, zygote: a.zygote + b.zygote, jobs: a.jobs + b.jobs }));
  const t0 = tree();
  const r0 = cpuMs(server.pid).self;
  const ms = await burst(n, 'Noop', n);
  const t1 = tree();
  const perJob = (k: keyof TreeCpu): number => (t1[k] - t0[k]) / n;
  return { jobsPerSec: (n * 1000) / ms, tree: { worker: perJob('worker'), zygote: perJob('zygote'), jobs: perJob('jobs') }, redisMs: (cpuMs(server.pid).self - r0) / n };
}

/** Waits for the fork-mode worker's zygote: a worker that fell back to spawn mode would measure something else. */
async function zygoteOf(workerPid: number): Promise<number> {
  const [zygote] = await until('the fork-mode zygote (a worker without one fell back to spawn mode: is worker-image/native built?)', () => {
    const found = childrenOf(workerPid).filter((kid) => commOf(kid) === ZYGOTE_COMM);
    return found.length > 0 ? found : undefined;
  }, 30_000, 20);
  return zygote ?? 0;
}

/**
 * Ruby Resque 3 forking per job, 2 workers, against forkpool ISOLATION=fork CONCURRENCY=2 on the same Redis
 * and no-op jobs, in interleaved rounds (Resque, forkpool, Resque, forkpool, ...: the machine's speed drifts).
 */
async function againstResque(lib: string, rounds: number, n: number): Promise<string[]> {
  const sides = { resque: [] as SideRun[], forkpool: [] as SideRun[] };
  for (let r = 0; r < rounds; r++) {
    await redis.flushdb();
    const rs = await runResque(2, lib);
    await sleep(300);
    sides.resque.push(await sideRun(rs.map((w) => w.pid), n));
    for (const w of rs) await w.stop();
    await redis.flushdb();
    const fp = await runWorker({ ISOLATION: 'fork', CONCURRENCY: '2' });
    await zygoteOf(fp.pid);
    await sleep(300);
    sides.forkpool.push(await sideRun([fp.pid], n));
    await fp.stop();
  }
  const avg = (xs: SideRun[], f: (x: SideRun) => number): number => xs.reduce((a, x) => a + f(x), 0) / xs.length;
  const treeMs = (x: SideRun): number => x.tree.worker + x.tree.zygote + x.tree.jobs;
  const line = (name: string, xs: SideRun[], zygote: boolean): string => `${name}: ${avg(xs, (x) => x.jobsPerSec).toFixed(0)} jobs/s (rounds ${xs.map((x) => x.jobsPerSec.toFixed(0)).join(', ')}), `
    + `CPU per job: process tree ${avg(xs, treeMs).toFixed(2)} ms (workers ${avg(xs, (x) => x.tree.worker).toFixed(2)}`
    + `${zygote ? `, zygote ${avg(xs, (x) => x.tree.zygote).toFixed(2)}` : ''}, job processes ${avg(xs, (x) => x.tree.jobs).toFixed(2)}), `
    + `redis ${avg(xs, (x) => x.redisMs).toFixed(2)} ms`;
  const ratios = sides.forkpool.map((f, i) => f.jobsPerSec / (sides.resque[i]?.jobsPerSec ?? NaN));
  const perCpu = (avg(sides.resque, treeMs) + avg(sides.resque, (x) => x.redisMs)) / (avg(sides.forkpool, treeMs) + avg(sides.forkpool, (x) => x.redisMs));
  return [
    line('Resque 3 fork per job, 2 workers', sides.resque, false),
    line('forkpool ISOLATION=fork CONCURRENCY=2', sides.forkpool, true),
    `forkpool / Resque: throughput ${ratios.map((x) => `${x.toFixed(2)}x`).join(', ')} by round; `
      + `jobs per CPU second (workers + redis) ${perCpu.toFixed(2)}x`,
  ];
}

console.log(`node ${process.version}, ${cores} cores (${cpus()[0]?.model ?? '?'})`);
// BENCH_ONLY=strict,reuse,fork,slow,pickup,resque runs some of the groups (all by default).
const only = new Set((process.env.BENCH_ONLY ?? 'strict,reuse,fork,slow,pickup,resque').split(',').map((g) => g.trim()));
const rows: [string, string, string][] = [];
const cpuRows: string[] = [];
const peaks: number[] = [];
let strict1: { jobsPerSec: number } | undefined;
let strictN: { jobsPerSec: number } | undefined;
if (only.has('strict') || only.has('fork')) {
  const [rounds, jobsPerRound, spawnsPerRound] = quick ? [3, 40, 30] : [6, 150, 100];
  const viaNode = async (parallel: number): Promise<string> => (await spawnLimit(spawnsPerRound, parallel, 'child_process')).perSec.toFixed(0);
  const row = async (parallel: number, label: string): Promise<{ jobsPerSec: number }> => {
    const nodeBefore = await viaNode(parallel);
    const r = await againstCeiling({ JOBS_PER_CHILD: '1', CONCURRENCY: String(parallel) }, parallel, rounds, jobsPerRound, spawnsPerRound);
    const nodeAfter = await viaNode(parallel);
    const pcts = r.ratios.map((x) => (x * 100).toFixed(0));
    const median = (pct(r.ratios, 50) * 100).toFixed(0);
    console.log(`fresh node per job, ${parallel} at once (the ceiling, ${launch.how}): ${r.limit.toFixed(0)}/s on average over the rounds; `
      + `through Node's spawn from this ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB process: ${nodeBefore}/s before, ${nodeAfter}/s after`);
    rows.push([`JOBS_PER_CHILD=1 CONCURRENCY=${parallel}`, `${r.jobsPerSec.toFixed(0)} jobs/s`,
      `${median}% of the ${label} spawn limit, median of ${rounds} rounds (${pcts.join(', ')})${parallel === cores ? '; target >= 90%' : ''}`]);
    peaks.push(r.masterPeakMb);
    cpuRows.push(`JOBS_PER_CHILD=1 CONCURRENCY=${parallel}: ${r.cpu}`);
    return r;
  };
  strict1 = await row(1, 'one-at-a-time');
  strictN = await row(cores, `${cores}-at-once`);
}
if (only.has('reuse')) {
  const reuse = await throughput({ JOBS_PER_CHILD: '1000', CONCURRENCY: '1' }, quick ? 2000 : 20000);
  rows.push(['JOBS_PER_CHILD=1000 CONCURRENCY=1', `${reuse.jobsPerSec.toFixed(0)} jobs/s`, 'target >= 4,000 (BullMQ sandboxed ~4,000, Resque without fork ~2,470)']);
  cpuRows.push(`JOBS_PER_CHILD=1000: ${reuse.cpu}`);
  peaks.push(reuse.masterPeakMb);
}
if (only.has('fork') && strict1 && strictN) {
  // More jobs than the spawn rows: a fork-mode run of 600 is over in 2 s, too short for a steady figure.
  const forkN = quick ? 300 : 3000;
  const fork1 = await throughput({ ISOLATION: 'fork', CONCURRENCY: '1' }, forkN);
  rows.push(['ISOLATION=fork CONCURRENCY=1', `${fork1.jobsPerSec.toFixed(0)} jobs/s`, `${(fork1.jobsPerSec / strict1.jobsPerSec).toFixed(1)}x spawn mode (Ruby Resque forking: 362/s)`]);
  const forkC = await throughput({ ISOLATION: 'fork', CONCURRENCY: String(cores) }, forkN);
  rows.push([`ISOLATION=fork CONCURRENCY=${cores}`, `${forkC.jobsPerSec.toFixed(0)} jobs/s`, `${(forkC.jobsPerSec / strictN.jobsPerSec).toFixed(1)}x spawn mode; target >= 3.5x`]);
  cpuRows.push(`ISOLATION=fork CONCURRENCY=1: ${fork1.cpu}`, `ISOLATION=fork CONCURRENCY=${cores}: ${forkC.cpu}`);
}
if (only.has('slow')) {
  const slowN = quick ? 6 : 30;
  const slowSpawn = await throughput({ JOBS_DIR: SLOW_JOBS_DIR, CONCURRENCY: String(cores) }, slowN, 'SlowLoad');
  const slowFork = await throughput({ JOBS_DIR: SLOW_JOBS_DIR, ISOLATION: 'fork', CONCURRENCY: String(cores) }, slowN * 10, 'SlowLoad');
  rows.push(['200 ms-to-load module, spawn', `${slowSpawn.jobsPerSec.toFixed(1)} jobs/s`, 'every fresh child loads it again']);
  rows.push(['200 ms-to-load module, fork', `${slowFork.jobsPerSec.toFixed(1)} jobs/s`, `${(slowFork.jobsPerSec / slowSpawn.jobsPerSec).toFixed(0)}x: loaded once in the zygote`]);
  // No-op jobs from a folder that also holds the slow module: after the first, children load only the
  // modules of the classes their slot ran (spawn-executor.ts, PRELOAD_CLASSES).
  const mixedDir = mkdtempSync(join(tmpdir(), 'forkpool-bench-mixed-'));
  copyFileSync(join(JOBS_DIR, 'Noop.js'), join(mixedDir, 'Noop.js'));
  copyFileSync(join(SLOW_JOBS_DIR, 'SlowLoad.js'), join(mixedDir, 'SlowLoad.js'));
  writeFileSync(join(mixedDir, 'package.json'), '{"type":"module"}\n');
  const mixed = await throughput({ JOBS_DIR: mixedDir, CONCURRENCY: String(cores) }, quick ? 40 : 300);
  rows.push(['no-op jobs beside that module, spawn', `${mixed.jobsPerSec.toFixed(1)} jobs/s`, 'a child loads the modules its slot used last, not the folder']);
  rmSync(mixedDir, { recursive: true, force: true });
}
if (only.has('pickup')) {
  const pickFork = await pickup({ ISOLATION: 'fork' }, quick ? 20 : 100);
  rows.push(['idle pickup, ISOLATION=fork', `p50 ${pickFork.p50.toFixed(2)} ms, p99 ${pickFork.p99.toFixed(2)} ms`, '']);
  const pick = await pickup({ JOBS_PER_CHILD: '1', CONCURRENCY: '1' }, quick ? 20 : 100);
  rows.push(['idle pickup, JOBS_PER_CHILD=1', `p50 ${pick.p50.toFixed(2)} ms, p99 ${pick.p99.toFixed(2)} ms`, 'enqueue -> job starts; target p50 < 2 ms (Resque polls every 5 s)']);
  // A worker of several queues cannot wait inside Redis (BLMOVE waits on one list): it waits for change
  // notifications, then takes, one round trip more.
  const pickTwo = await pickup({ JOBS_PER_CHILD: '1', CONCURRENCY: '1', QUEUES: 'bench,other' }, quick ? 20 : 100);
  rows.push(['idle pickup, JOBS_PER_CHILD=1, 2 queues', `p50 ${pickTwo.p50.toFixed(2)} ms, p99 ${pickTwo.p99.toFixed(2)} ms`, 'waits for change notifications, then takes']);
  const pickReuse = await pickup({ JOBS_PER_CHILD: '1000', CONCURRENCY: '1' }, quick ? 20 : 100);
  rows.push(['idle pickup, JOBS_PER_CHILD=1000', `p50 ${pickReuse.p50.toFixed(2)} ms, p99 ${pickReuse.p99.toFixed(2)} ms`, '']);
  rows.push(['peak RSS', `${peaks.length > 0 ? `master ${Math.max(...peaks).toFixed(0)} MiB, ` : ''}child ${pick.childPeakMb.toFixed(0)} MiB`, '']);
}
if (only.has('resque')) {
  if (RESQUE_LIB === undefined) cpuRows.push('Resque side by side: skipped; set RESQUE_LIB=<resque checkout>/lib (docs/benchmarks.md)');
  else cpuRows.push(...await againstResque(RESQUE_LIB, 2, quick ? 300 : 1000));
}
const w = Math.max(...rows.map((r) => r[0].length));
const w2 = Math.max(...rows.map((r) => r[1].length));
for (const [a, b, c] of rows) console.log(`${a.padEnd(w)}  ${b.padEnd(w2)}  ${c}`);
for (const line of cpuRows) console.log(line);
redis.disconnect();
await server.stop();
