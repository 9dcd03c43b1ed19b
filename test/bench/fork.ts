// Fork mode's raw speed: fork + job + exit per second, from a zygote, sequentially and two at a
// time, for a no-op job and for a job module that costs 200 ms to load (paid once, in the zygote).
// A fresh `node` per job is measured beside it for comparison. No Redis: this is the executor
// alone; `npm run bench:worker` measures the whole worker.
//
//   npm run bench:fork                 (FORK_BENCH_JOBS=500 by default)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpuMs } from '../helpers/proc.ts';
import type * as AddonModule from '../../worker-image/src/process-addon.ts';
import type * as ZygoteModule from '../../worker-image/src/fork/zygote.ts';

// The built zygote, as the worker runs it: from the sources, Node would strip their types in the zygote,
// and the type stripper (a WebAssembly module) would then be copied by every fork.
const built = (file: string): string => new URL(`../../dist/worker-image/src/${file}`, import.meta.url).href;
if (!existsSync(new URL(built('fork/zygote.js')))) throw new Error('run `npm run build` first (npm run bench:fork does)');
const { loadProcessAddon } = (await import(built('process-addon.js'))) as typeof AddonModule;
const { startZygote } = (await import(built('fork/zygote.js'))) as typeof ZygoteModule;
type Zygote = ZygoteModule.Zygote;

const JOBS = Number(process.env.FORK_BENCH_JOBS ?? 500);

const addon = loadProcessAddon();
if (!addon.ok) {
  console.error(`fork mode is unavailable: ${addon.reason}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'forkpool-fork-bench-'));
writeFileSync(join(dir, 'Noop.js'), 'export function perform() {}\n');
writeFileSync(
  join(dir, 'SlowLoad.js'),
  '// Stands for an application that takes 200 ms to load.\nconst until = Date.now() + 200;\nwhile (Date.now() < until);\nexport function perform() {}\n',
);
// A fresh process per job, started when the job arrives: what a child per job costs without a spare started ahead.
writeFileSync(join(dir, 'run-once.mjs'), 'const m = await import(process.argv[2]);\nawait m.perform();\n');

/** CPU ms used so far by a process and by its reaped children, from /proc. */
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

interface Figures {
  jobsPerSec: number;
  pickupP50: number;
  pickupP99: number;
  latencyP50: number;
  latencyP99: number;
  cpuMsPerJob: number;
}

async function forkRun(zygote: Zygote, className: string, jobs: number, concurrency: number): Promise<Figures> {
  for (let i = 0; i < 20; i++) await zygote.run(className, []).done;
  const pickups: number[] = [];
  const latencies: number[] = [];
  const cpu0 = cpuMs(zygote.pid);
  const master0 = process.cpuUsage();
  const started = performance.now();
  let left = jobs;
  const lane = async (): Promise<void> => {
    while (left-- > 0) {
      const t0 = performance.now();
      const job = zygote.run(className, []);
      await job.started;
      pickups.push(performance.now() - t0);
      const outcome = await job.done;
      if (outcome.status !== 'ok') throw new Error(`job failed: ${JSON.stringify(outcome)}`);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = cpuMs(zygote.pid);
  const master = process.cpuUsage(master0);
  pickups.sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  const cpu = cpu1.self - cpu0.self + cpu1.children - cpu0.children + (master.user + master.system) / 1000;
  return {
    jobsPerSec: jobs / seconds,
    pickupP50: pct(pickups, 50),
    pickupP99: pct(pickups, 99),
    latencyP50: pct(latencies, 50),
    latencyP99: pct(latencies, 99),
    cpuMsPerJob: cpu / jobs,
  };
}

async function spawnRun(module: string, jobs: number): Promise<Figures> {
  const latencies: number[] = [];
  const before = cpuMs(process.pid).children;
  const started = performance.now();
  for (let i = 0; i < jobs; i++) {
    const t0 = performance.now();
    const child = spawn(process.execPath, [join(dir, 'run-once.mjs'), pathToFileURL(join(dir, module)).href], { stdio: 'inherit' });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`fresh node exited ${code}`);
    latencies.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const p50 = pct(latencies, 50);
  return { jobsPerSec: jobs / seconds, pickupP50: p50, pickupP99: pct(latencies, 99), latencyP50: p50, latencyP99: pct(latencies, 99), cpuMsPerJob: (cpuMs(process.pid).children - before) / jobs };
}

const rows: [string, Figures][] = [];
const zygoteStart = performance.now();
const zygote = await startZygote({ jobsDir: dir });
const zygoteStartMs = performance.now() - zygoteStart;
try {
  rows.push([`fork  Noop      concurrency 1`, await forkRun(zygote, 'Noop', JOBS, 1)]);
  rows.push([`fork  Noop      concurrency 2`, await forkRun(zygote, 'Noop', JOBS, 2)]);
  rows.push([`fork  SlowLoad  concurrency 1`, await forkRun(zygote, 'SlowLoad', JOBS, 1)]);
  rows.push([`fork  SlowLoad  concurrency 2`, await forkRun(zygote, 'SlowLoad', JOBS, 2)]);
} finally {
  await zygote.close();
}
rows.push([`fresh node per job: Noop`, await spawnRun('Noop.js', Math.max(10, JOBS / 10))]);
rows.push([`fresh node per job: SlowLoad`, await spawnRun('SlowLoad.js', 10)]);
rmSync(dir, { recursive: true, force: true });

const f = (n: number): string => n.toFixed(1).padStart(8);
console.log(`node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`zygote start (loads both job modules, SlowLoad's 200 ms included): ${zygoteStartMs.toFixed(0)} ms; ${JOBS} jobs per fork row\n`);
console.log(`${'mode'.padEnd(32)}  jobs/s  pickup p50/p99 ms  job p50/p99 ms  CPU ms/job`);
for (const [name, r] of rows) {
  console.log(`${name.padEnd(32)}${f(r.jobsPerSec)} ${f(r.pickupP50)} ${f(r.pickupP99)} ${f(r.latencyP50)} ${f(r.latencyP99)} ${f(r.cpuMsPerJob)}`);
}
console.log('\npickup: run() until the child exists; job: run() until the child has exited and been reaped.');
console.log('CPU: master + zygote + children (fork rows), the fresh processes alone (fresh node rows).');
