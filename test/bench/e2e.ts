// npm run bench:e2e: a burst of no-op jobs (10,000; BENCH_JOBS to change) on the test cluster, the whole
// loop as test/e2e/loop.test.ts runs it (helm install of the chart, the operator as its ServiceAccount,
// worker pods as local processes, examples/jobpool.yaml pointed at a local Redis). Measured: reaction time
// (first enqueue -> spec.replicas > 0), time to drain, peak replicas, jobs/s at peak (best 2 s window),
// time back to zero; then the same burst with KEDA's default timings emulated on the same operator
// (pollingInterval 30 s, cooldownPeriod 300 s = pollIntervalSeconds 30, scaleDownDelaySeconds 300). Prints a
// table and per scenario enqueued / completed / duplicated / lost, and writes the forkpool burst's timeline
// as an SVG chart.
//
// BENCH_JOBS (10000), BENCH_MAX_REPLICAS (4), BENCH_SCALE_DOWN_DELAY_S (60, the example's),
// BENCH_KEDA_WAIT_ZERO_S (360): the longest this waits for the KEDA line to come back to zero after
// draining; when its cooldown would take longer, the line reports drain + cooldown + one poll instead.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../queue/src/index.ts';
import { timelineSvg, type TimelineSample } from '../../scripts/timeline-svg.ts';
import { examplePoolFile, readRecords, runE2eBench, sleep, tally, until, type E2eEnv } from '../e2e/env.ts';

const JOBS = Number(process.env['BENCH_JOBS'] ?? 10_000);
const MAX_REPLICAS = Number(process.env['BENCH_MAX_REPLICAS'] ?? 4);
const SCALE_DOWN_DELAY_S = Number(process.env['BENCH_SCALE_DOWN_DELAY_S'] ?? 60);
const KEDA_WAIT_ZERO_S = Number(process.env['BENCH_KEDA_WAIT_ZERO_S'] ?? 360);
const JOBS_PER_CHILD = 100;
const outDir = mkdtempSync(join(tmpdir(), 'forkpool-bench-e2e-'));
const say = (m: string): void => console.log(`[bench:e2e ${new Date().toISOString().slice(11, 19)}] ${m}`);

interface Scenario {
  label: string;
  poll: number;
  delay: number;
  enqueueMs: number;
  reactionMs: number;
  drainMs: number;
  peakReplicas: number;
  peakRate: number;
  /** Seconds from drained to spec.replicas 0 and no worker process, or undefined if not waited for. */
  zeroAfterDrainS: number | undefined;
  zeroNote: string;
  enqueued: number;
  completed: number;
  duplicated: number;
  lost: number;
  failed: number;
  samples: TimelineSample[];
}

async function burst(env: E2eEnv, label: string, name: string, ns: string, poll: number, delay: number, waitZeroS: number): Promise<Scenario> {
  const { path, pool } = examplePoolFile(env, (p) => {
    p.metadata.name = name;
    p.spec.redis.url = `${env.redis.url}/0`;
    p.spec.redis.namespace = ns;
    p.spec.scaling['minReplicas'] = 0;
    p.spec.scaling['maxReplicas'] = MAX_REPLICAS;
    p.spec.scaling['pollIntervalSeconds'] = poll;
    p.spec.scaling['scaleDownDelaySeconds'] = delay;
    p.spec.worker['jobsPerChild'] = JOBS_PER_CHILD;
    delete p.spec['schedules'];
  });
  const applied = await env.cluster.kubectl(['apply', '-f', path]);
  if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
  const readDep = async (): Promise<{ desired: number; ready: number } | undefined> => {
    try {
      const d = await env.apps.readNamespacedDeployment({ name, namespace: 'default' });
      return { desired: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 };
    } catch {
      return undefined;
    }
  };
  await until(`${name}'s Deployment at 0 replicas`, async () => (await readDep())?.desired === 0, 60_000);
  // The operator has read the empty queues at least once; a poll only after that sees the burst.
  await sleep(1000);

  const client = createClient({ url: `${env.redis.url}/0`, namespace: ns });
  const recordFile = join(outDir, `${name}-records.jsonl`);
  const ids = Array.from({ length: JOBS }, (_, i) => `${name}-${i}`);
  const samples: TimelineSample[] = [];
  const window: { t: number; processed: number }[] = [];
  let peakReplicas = 0;
  let peakRate = 0;
  let reactionAt: number | undefined;
  let last = { depth: 0, inFlight: 0, desired: 0, ready: 0, processed: 0, failed: 0 };
  const t0 = Date.now();
  const sample = async (): Promise<void> => {
    const [stats, dep] = await Promise.all([client.stats(), readDep()]);
    const now = Date.now();
    last = { depth: stats.pending, inFlight: stats.inFlight, desired: dep?.desired ?? 0, ready: dep?.ready ?? 0, processed: stats.processed, failed: stats.failed };
    if (reactionAt === undefined && last.desired > 0) reactionAt = now;
    peakReplicas = Math.max(peakReplicas, last.desired);
    window.push({ t: now, processed: stats.processed });
    while (window.length > 1 && (window[1]?.t ?? now) <= now - 2000) window.shift();
    const first = window[0];
    if (first !== undefined && now - first.t >= 1900) peakRate = Math.max(peakRate, ((stats.processed - first.processed) * 1000) / (now - first.t));
    samples.push({ t: (now - t0) / 1000, depth: last.depth, desired: last.desired, ready: last.ready });
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sample();
      await sleep(250);
    }
  })();
  for (let i = 0; i < ids.length; i += 200) {
    await Promise.all(ids.slice(i, i + 200).map((id, j) => client.enqueue(pool.spec.queues[(i + j) % pool.spec.queues.length] ?? 'mailers', 'E2eRecord', recordFile, id, 0)));
  }
  const enqueueMs = Date.now() - t0;
  let lastProgress = 0;
  await until(`${label}: the burst drained`, () => {
    if (Date.now() - lastProgress >= 5000) {
      lastProgress = Date.now();
      say(`${label}: depth ${last.depth}, in flight ${last.inFlight}, desired ${last.desired}, ready ${last.ready}, done ${last.processed}/${JOBS}`);
    }
    return last.depth === 0 && last.inFlight === 0 && last.processed + last.failed >= JOBS && samples.length > 0;
  }, 900_000, 250);
  const drainedAt = Date.now();
  say(`${label}: drained in ${((drainedAt - t0) / 1000).toFixed(1)} s; waiting for zero replicas (scaleDownDelaySeconds ${delay}, poll ${poll} s)`);
  let zeroAfterDrainS: number | undefined;
  let zeroNote = 'measured';
  if (delay + poll <= waitZeroS) {
    await until(`${label}: back to zero`, () => last.desired === 0 && env.runner.running().length === 0, (waitZeroS + 60) * 1000, 250);
    zeroAfterDrainS = (Date.now() - drainedAt) / 1000;
  } else {
    zeroNote = `not waited for (BENCH_KEDA_WAIT_ZERO_S=${waitZeroS}): the ${delay} s cooldown + up to ${poll} s poll, arithmetic`;
  }
  sampling = false;
  await sampler;
  await client.close();
  const t = tally(ids, readRecords(recordFile));
  const deleted = await env.cluster.kubectl(['delete', 'jobpool', name, '--wait=true']);
  if (deleted.code !== 0) say(`deleting ${name}: ${deleted.stderr}`);
  await until(`${name}'s worker processes gone`, () => env.runner.running().length === 0, 120_000, 250);
  return {
    label, poll, delay, enqueueMs, reactionMs: (reactionAt ?? drainedAt) - t0, drainMs: drainedAt - t0, peakReplicas, peakRate, zeroAfterDrainS, zeroNote,
    enqueued: JOBS, completed: t.completed, duplicated: t.duplicated, lost: t.lost, failed: last.failed, samples,
  };
}

await runE2eBench(say, async (env) => {
  say(`${JOBS} no-op jobs per burst (E2eRecord, 0 ms), maxReplicas ${MAX_REPLICAS}, jobsPerReplica 10, CONCURRENCY 1, jobsPerChild ${JOBS_PER_CHILD} ` +
    `(so that the 2 cores are not all spent starting a node process per job)`);
  const fp = await burst(env, 'forkpool', 'bench-forkpool', 'bench-fp', 2, SCALE_DOWN_DELAY_S, 1_000_000);
  const svgPath = join(outDir, 'bench-e2e-forkpool-timeline.svg');
  writeFileSync(svgPath, timelineSvg(fp.samples, `bench:e2e: ${JOBS} no-op jobs, forkpool (poll 2 s, scale-down delay ${SCALE_DOWN_DELAY_S} s)`));
  const keda = await burst(env, 'KEDA defaults (emulated)', 'bench-keda', 'bench-keda', 30, 300, KEDA_WAIT_ZERO_S);
  const kedaSvg = join(outDir, 'bench-e2e-keda-timeline.svg');
  writeFileSync(kedaSvg, timelineSvg(keda.samples, `bench:e2e: ${JOBS} no-op jobs, KEDA default timings emulated (poll 30 s, cooldown 300 s)`));

  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const zero = (r: Scenario): string =>
    r.zeroAfterDrainS !== undefined ? `${s(r.drainMs + r.zeroAfterDrainS * 1000)} (${r.zeroAfterDrainS.toFixed(1)} s after drain)` : `~${s(r.drainMs + (r.delay + r.poll / 2) * 1000)} (≈${r.delay}-${r.delay + r.poll} s after drain)*`;
  const rows = [
    ['', 'poll / scale-down delay', 'reaction', 'drained', 'peak replicas', 'jobs/s at peak', 'back to zero', 'enqueued', 'completed', 'duplicated', 'lost'],
    ...[fp, keda].map((r) => [r.label, `${r.poll} s / ${r.delay} s`, s(r.reactionMs), s(r.drainMs), String(r.peakReplicas), r.peakRate.toFixed(0), zero(r), String(r.enqueued), String(r.completed), String(r.duplicated), String(r.lost)]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  console.log('');
  console.log(`bench:e2e — a burst of ${JOBS} no-op jobs on the test cluster (times from the first enqueue; the burst took ${s(fp.enqueueMs)} / ${s(keda.enqueueMs)} to enqueue)`);
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
  console.log('');
  if (keda.zeroAfterDrainS === undefined) console.log(`* ${keda.label}: ${keda.zeroNote}.`);
  console.log(`KEDA emulated on forkpool's operator with KEDA's defaults (pollingInterval 30 s, cooldownPeriod 300 s); real KEDA adds the HPA's own 15 s sync and its stabilisation on top.`);
  console.log(`jobsPerChild ${JOBS_PER_CHILD}: a child process runs 100 jobs, so the 2 cores are not all spent starting node processes; maxReplicas ${MAX_REPLICAS} on this 2-core machine beside the control plane.`);
  console.log(`failed jobs: forkpool ${fp.failed}, KEDA line ${keda.failed}`);
  console.log(`timeline (forkpool burst): ${svgPath}`);
  console.log(`timeline (KEDA line): ${kedaSvg}`);
  return fp.lost === 0 && keda.lost === 0;
});
