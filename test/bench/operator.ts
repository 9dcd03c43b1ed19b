// Operator benchmark (`npm run bench:operator`) on the test control plane and a real Redis:
//  1. reaction time from a burst of jobs to the Deployment's new spec.replicas (p50/p95 over bursts);
//  2. time from an emptied queue to zero replicas, against the configured delay;
//  3. 1,000 JobPools on one Redis: idle, operator CPU and Redis commands per tick; busy (every pool's
//     queue moving), the operator's memory, its API writes per second and reaction time.
// The operator runs as its own process (the bin), so its CPU and memory are its own.
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';
import { freePort } from '../helpers/redis.ts';
import { createNamespace, createPool, poolSpec, replicasOf, sleep, spawnOperator, startEnv, until, type Env } from '../operator/harness.ts';

const BURSTS = Number(process.env['BENCH_BURSTS'] ?? 10);
const POOLS = Number(process.env['BENCH_POOLS'] ?? 1000);
const k = keys('resque');
const CLK_TCK = 100;
/** The node flags of operator/Dockerfile's ENTRYPOINT, between `node` and the script. */
function imageNodeFlags(): string[] {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(new URL('../../operator/Dockerfile', import.meta.url), 'utf8'))?.[1];
  const argv = JSON.parse(entrypoint ?? '[]') as string[];
  return argv.slice(argv.indexOf('node') + 1, -1);
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** The process's resident memory now (VmRSS), or its peak since it started (VmHWM), in MiB. */
function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`)) ?? '';
  return Number(line.replace(/\D+/g, '')) / 1024;
}

async function commandCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') total += Number(m[2]);
  }
  return total;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

async function push(redis: Redis, queue: string, n: number): Promise<void> {
  await redis.rpush(k.queue(queue), ...Array.from({ length: n }, (_, i) => JSON.stringify({ class: 'NoopJob', args: [i] })));
}

/** The sum of a metric's samples in a Prometheus text exposition, over the label sets that contain `labels`. */
function metricSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const m of text.matchAll(/^([a-z_]+)(\{[^}]*\})? (\S+)$/gm)) {
    if (m[1] === name && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}

async function operatorMetrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/**
 * Keeps every pool's queue moving until stopped, except the pools in `skip`: each round pushes a few jobs
 * and takes from the head down to a depth of 1 to 9, so every poll reads a new depth while one replica
 * stays enough (jobsPerReplica 10).
 */
function moveJobs(redis: Redis, pools: number, skip: Set<number>): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    for (let round = 0; running; round++) {
      const pipe = redis.pipeline();
      for (let i = 0; i < pools; i++) {
        if (skip.has(i)) continue;
        const queue = k.queue(`many-${i}`);
        pipe.rpush(queue, ...Array.from({ length: 1 + ((i + round) % 3) }, () => JSON.stringify({ class: 'NoopJob', args: [round] })));
        pipe.ltrim(queue, -(1 + ((i * 7 + round) % 9)), -1);
      }
      await pipe.exec();
      await sleep(1000);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Time from RPUSH of a burst to the Deployment showing `want` replicas, polled every 20 ms. */
async function reaction(env: Env, redis: Redis, ns: string, pool: string, queue: string, jobs: number, want: number): Promise<number> {
  const t0 = performance.now();
  await push(redis, queue, jobs);
  await until(`${want} replicas`, async () => (await replicasOf(env, ns, pool)) === want, 30_000, 20);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log('starting the test control plane and Redis ...');
  const env = await startEnv();
  const redis = env.redis.connect();
  let op: ChildProcess | undefined;
  try {
    const port = await freePort();
    // The compiled bin (npm run bench:operator builds it first), as the image runs it: its memory is what
    // the chart's limit must hold. BENCH_OPERATOR_NODE_OPTIONS, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof,
    // profiles the operator; BENCH_OPERATOR_NODE_FLAGS replaces the image's node flags.
    const flags = process.env['BENCH_OPERATOR_NODE_FLAGS']?.split(' ').filter((f) => f !== '') ?? imageNodeFlags();
    op = spawnOperator(
      env,
      'bench',
      { LEADER_ELECTION: 'false', LOG_LEVEL: 'info', PORT: String(port), NODE_OPTIONS: process.env['BENCH_OPERATOR_NODE_OPTIONS'] ?? '' },
      [...flags, new URL('../../dist/operator/src/bin.js', import.meta.url).pathname],
    );
    const pid = op.pid ?? 0;

    // 1. Reaction time, default poll interval (2 s).
    await createNamespace(env, 'react');
    await createPool(env, 'react', 'pool', poolSpec(env.redis.url, {
      queues: ['react'],
      scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 2, scaleDownDelaySeconds: 0 },
    }));
    await until('the Deployment', async () => (await replicasOf(env, 'react', 'pool')) === 0, 60_000);
    const times: number[] = [];
    for (let i = 0; i < BURSTS; i++) {
      // Bursts land at random points of the poll cycle.
      await sleep(Math.random() * 2000);
      times.push(await reaction(env, redis, 'react', 'pool', 'react', 30, 3));
      await redis.del(k.queue('react'));
      await until('back to zero', async () => (await replicasOf(env, 'react', 'pool')) === 0, 30_000, 50);
    }
    console.log(`\nreaction time, burst -> new spec.replicas (poll 2 s, ${BURSTS} bursts): p50 ${(pct(times, 50) / 1000).toFixed(2)} s, p95 ${(pct(times, 95) / 1000).toFixed(2)} s, max ${(Math.max(...times) / 1000).toFixed(2)} s`);

    // 2. Emptied queue -> zero, against the configured delay.
    const delay = 10;
    await createNamespace(env, 'zero');
    await createPool(env, 'zero', 'pool', poolSpec(env.redis.url, {
      queues: ['zero'],
      scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 2, scaleDownDelaySeconds: delay },
    }));
    await until('the Deployment', async () => (await replicasOf(env, 'zero', 'pool')) === 0, 60_000);
    await reaction(env, redis, 'zero', 'pool', 'zero', 50, 5);
    await sleep(3000);
    const t1 = performance.now();
    await redis.del(k.queue('zero'));
    await until('zero', async () => (await replicasOf(env, 'zero', 'pool')) === 0, 60_000, 20);
    const toZero = (performance.now() - t1) / 1000;
    console.log(`emptied queue -> zero replicas: ${toZero.toFixed(2)} s with scaleDownDelaySeconds ${delay} (overhead ${(toZero - delay).toFixed(2)} s)`);

    // 3. Many pools on one Redis.
    console.log(`\ncreating ${POOLS} JobPools ...`);
    await createNamespace(env, 'many');
    const t2 = Date.now();
    for (let i = 0; i < POOLS; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, POOLS - i) }, (_, j) =>
          createPool(env, 'many', `p${i + j}`, poolSpec(env.redis.url, {
            queues: [`many-${i + j}`, 'many-shared'],
            scaling: { minReplicas: 0, maxReplicas: 10, jobsPerReplica: 10, pollIntervalSeconds: 2, scaleDownDelaySeconds: 60 },
          })),
        ),
      );
    }
    await until(`${POOLS} Deployments`, async () => {
      const list = await env.apps.listNamespacedDeployment({ namespace: 'many' });
      return list.items.length === POOLS;
    }, 600_000, 1000);
    console.log(`${POOLS} pools created and their Deployments applied in ${((Date.now() - t2) / 1000).toFixed(1)} s (operator RSS ${rssMiB(pid).toFixed(0)} MiB, peak ${rssMiB(pid, 'VmHWM').toFixed(0)} MiB); settling ...`);
    await sleep(15_000);
    const window = 30;
    const cpu0 = cpuSeconds(pid);
    const cmd0 = await commandCalls(redis);
    await sleep(window * 1000);
    const cpu1 = cpuSeconds(pid);
    const cmd1 = await commandCalls(redis);
    const ticks = window / 2;
    console.log(`${POOLS} pools, poll 2 s, idle, steady state over ${window} s:`);
    console.log(`  operator CPU: ${(((cpu1 - cpu0) / ticks) * 1000).toFixed(0)} ms per tick (${(((cpu1 - cpu0) / window) * 100).toFixed(1)} % of a core)`);
    console.log(`  Redis commands per tick: ${((cmd1 - cmd0) / ticks).toFixed(0)} (${((cmd1 - cmd0) / ticks / POOLS).toFixed(2)} per pool; one pipelined round trip)`);

    // Busy: every pool's depth changes between polls, and each pool runs one (simulated) worker pod.
    const reacting = new Set<number>();
    const mover = moveJobs(redis, POOLS, reacting);
    try {
      await until(`${POOLS} pools at one replica`, async () => {
        const list = await env.apps.listNamespacedDeployment({ namespace: 'many' });
        return list.items.filter((d) => d.spec?.replicas === 1).length === POOLS;
      }, 600_000, 2000);
      await sleep(15_000);
      const m0 = await operatorMetrics(port);
      const c0 = cpuSeconds(pid);
      await sleep(window * 1000);
      const m1 = await operatorMetrics(port);
      const c1 = cpuSeconds(pid);
      const mib = (name: string): string => (metricSum(m1, name) / 2 ** 20).toFixed(0);
      const rate = (labels: string): number => (metricSum(m1, 'forkpool_api_writes_total', labels) - metricSum(m0, 'forkpool_api_writes_total', labels)) / window;
      console.log(`${POOLS} pools, poll 2 s, busy (every queue moving, one pod each), over ${window} s:`);
      console.log(`  operator CPU: ${(((c1 - c0) / ticks) * 1000).toFixed(0)} ms per tick (${(((c1 - c0) / window) * 100).toFixed(1)} % of a core)`);
      console.log(`  operator RSS: ${rssMiB(pid).toFixed(0)} MiB (peak since start ${rssMiB(pid, 'VmHWM').toFixed(0)} MiB); V8 heap used ${mib('forkpool_operator_nodejs_heap_size_used_bytes')} MiB of ${mib('forkpool_operator_nodejs_heap_size_total_bytes')} MiB, external ${mib('forkpool_operator_nodejs_external_memory_bytes')} MiB`);
      console.log(`  API writes: ${rate('').toFixed(1)}/s (status ${rate('resource="jobpools/status"').toFixed(1)}/s, Deployments ${rate('resource="deployments"').toFixed(1)}/s)`);
      const many: number[] = [];
      for (let i = 0; i < BURSTS; i++) {
        let n = Math.floor(Math.random() * POOLS);
        while (reacting.has(n)) n = (n + 1) % POOLS;
        reacting.add(n);
        // The jobs moving there would add to the burst's 30 (and to the replicas it asks for).
        await redis.del(k.queue(`many-${n}`));
        await sleep(Math.random() * 2000);
        many.push(await reaction(env, redis, 'many', `p${n}`, `many-${n}`, 30, 3));
        await redis.del(k.queue(`many-${n}`));
      }
      console.log(`  reaction time (${BURSTS} bursts): p50 ${(pct(many, 50) / 1000).toFixed(2)} s, p95 ${(pct(many, 95) / 1000).toFixed(2)} s, max ${(Math.max(...many) / 1000).toFixed(2)} s`);
    } finally {
      await mover.stop();
    }
    console.log(`\nbenchmark done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    op?.kill('SIGTERM');
    await sleep(500);
    await env.stop();
  }
}

await main();
