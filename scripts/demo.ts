// npm run demo: the whole product on this machine. Checks the machine has what it needs (setup.ts: redis-server,
// Go, and as root the real node's and the images' Debian packages; missing ones are installed when it may), builds
// (or reuses) the test control plane, starts a cluster, a Redis and the operator installed by `helm install` of
// the chart, applies examples/jobpool.yaml pointed at that Redis, enqueues waves of jobs and shows the pool: queue
// depth, desired and ready replicas, jobs done per second. In a terminal it refreshes a table in place and
// enqueues a wave every WAVE_EVERY_S seconds until Ctrl-C; with CI=true or no terminal it runs one wave,
// prints a progress line every 2 s, waits for the pool to be back at zero and exits 0. Either way it writes
// the run's timeline as an SVG chart, says where, and stops everything it started.
//
// Where the real node can run (root, its packages, the images: test/e2e/real/real-env.ts), the operator and the
// worker pods are real containers built by `npm run images`, in a namespace enforcing the restricted Pod
// Security Standard. Elsewhere, or with DEMO_NODE=kwok, KWOK's nodes only pretend (test/e2e/env.ts): the
// operator runs locally as the chart's ServiceAccount and worker pods run as local processes through the pod
// runner. The demo says which it uses, and why not the real node.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type ForkpoolClient } from '../queue/src/index.ts';
import { AppsV1Api } from '@kubernetes/client-node';
import { examplePoolFile, root, sleep, startE2e, type ExamplePool } from '../test/e2e/env.ts';
import { POOL_NS, RECORD_JOB, realPodsUnavailable, startRealEnv } from '../test/e2e/real/real-env.ts';
import { setUp } from './setup.ts';
import { timelineSvg, type TimelineSample } from './timeline-svg.ts';

const interactive = process.stdout.isTTY === true && process.env['CI'] !== 'true';
const WAVE = Number(process.env['WAVE_JOBS'] ?? 2000);
const WAVE_EVERY_S = Number(process.env['WAVE_EVERY_S'] ?? 30);
const MAX_REPLICAS = Number(process.env['MAX_REPLICAS'] ?? 4);
const SCALE_DOWN_DELAY_S = Number(process.env['SCALE_DOWN_DELAY_S'] ?? 5);
const JOB_SLEEP_MS = 5;
const outDir = mkdtempSync(join(tmpdir(), 'forkpool-demo-'));
const svgPath = join(outDir, 'demo-timeline.svg');
const recordFile = join(outDir, 'records.jsonl');
const say = (m: string): void => console.log(`[demo ${new Date().toISOString().slice(11, 19)}] ${m}`);

/** Where the demo runs: the cluster, its pool and its worker pods, whichever kind of node they are on. */
interface DemoTarget {
  /** How the demo describes it: "the real node" or "KWOK's fake nodes". */
  readonly kind: string;
  readonly kubeconfig: string;
  readonly redisUrl: string;
  readonly apps: AppsV1Api;
  readonly namespace: string;
  /** Applies examples/jobpool.yaml with `change`; returns it and the file applied. */
  applyPool(change: (pool: ExamplePool) => void): Promise<{ pool: ExamplePool; path: string }>;
  /** The recording job's class and its arguments for job `id`. */
  recordJob(id: string): [string, ...unknown[]];
  /** The worker containers running now. */
  workers(): Promise<number>;
  stop(): Promise<void>;
}

let env: DemoTarget | undefined;
let client: ForkpoolClient | undefined;
let stopping = false;
let kubeconfig = '';
const samples: TimelineSample[] = [];
const t0 = Date.now();

const finish = async (code: number): Promise<never> => {
  if (samples.length > 0) {
    writeFileSync(svgPath, timelineSvg(samples, `npm run demo: ${samples.length} samples over ${(samples.at(-1)?.t ?? 0).toFixed(0)} s`));
  }
  await client?.close().catch(() => undefined);
  rmSync(recordFile, { force: true });
  if (interactive) process.stdout.write('\x1b[?25h\n');
  say('stopping the operator, the worker pods, the cluster and Redis...');
  await env?.stop().catch((err: unknown) => say(`stopping: ${err instanceof Error ? err.message : String(err)}`));
  if (samples.length > 0) say(`timeline (depth, desired and ready replicas over time): ${svgPath}`);
  if (kubeconfig !== '') {
    say(`where to look (while a demo runs; this one's cluster is stopped now, KEEP_CLUSTER_DIR=1 keeps its logs):`);
    say(`  export KUBECONFIG=${kubeconfig}; PATH=${join(root, 'test/cluster/bin')}:$PATH; kubectl get jobpools -A`);
  }
  process.exit(code);
};
process.once('SIGINT', () => {
  stopping = true;
  process.once('SIGINT', () => process.exit(130)); // a second Ctrl-C: now (env.ts's exit hooks kill the processes)
});
process.once('SIGTERM', () => {
  stopping = true;
});

/** The real node where it can run (unless DEMO_NODE=kwok), else KWOK; says which, and why. */
async function startTarget(): Promise<DemoTarget> {
  const unavailable = process.env['DEMO_NODE'] === 'kwok' ? 'DEMO_NODE=kwok' : realPodsUnavailable();
  if (unavailable === undefined) {
    say('on the real node: a kubelet on containerd, the images of `npm run images` (about 8 min the first time, then seconds), helm install of the chart, the operator in its pod...');
    const real = await startRealEnv();
    say(`the real node ${real.node.name} is Ready; the pool runs in namespace ${POOL_NS}, which enforces the restricted Pod Security Standard`);
    return {
      kind: `the real node ${real.node.name}`,
      kubeconfig: real.cluster.kubeconfigPath,
      redisUrl: real.redis.url,
      apps: real.cluster.kubeConfig().makeApiClient(AppsV1Api),
      namespace: POOL_NS,
      async applyPool(change) {
        const pool = await real.applyPool('mailers', change);
        return { pool, path: join(real.cluster.dir, 'jobpool-mailers.yaml') };
      },
      recordJob: (id) => [RECORD_JOB, real.recorder.url('demo'), id],
      async workers() {
        const pods = await real.poolPods('mailers').catch(() => []);
        return pods.filter((p) => p.status?.containerStatuses?.some((c) => c.name === 'worker' && c.state?.running !== undefined) === true).length;
      },
      stop: () => real.stop(),
    };
  }
  say(`on KWOK's fake nodes, worker pods as local processes: not the real node, because ${unavailable}`);
  say('starting the cluster and redis-server, helm install of the chart, the operator as its ServiceAccount...');
  const kwok = await startE2e();
  return {
    kind: "KWOK's fake nodes",
    kubeconfig: kwok.cluster.kubeconfigPath,
    redisUrl: kwok.redis.url,
    apps: kwok.apps,
    namespace: 'default',
    async applyPool(change) {
      const { path, pool } = examplePoolFile(kwok, (p) => {
        p.spec.redis.url = `${kwok.redis.url}/0`;
        change(p);
      });
      const applied = await kwok.cluster.kubectl(['apply', '-f', path]);
      if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
      return { path, pool };
    },
    recordJob: (id) => ['E2eRecord', recordFile, id],
    workers: () => Promise.resolve(kwok.runner.running().length),
    stop: () => kwok.stop(),
  };
}

setUp('demo');
try {
  say('the test control plane: bash test/cluster/build.sh (about 20 min the first time, a no-op once built)');
  execFileSync('bash', [join(root, 'test/cluster/build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  env = await startTarget();
  kubeconfig = env.kubeconfig;
  const e = env;
  const { path, pool } = await e.applyPool((p) => {
    p.spec.scaling['minReplicas'] = 0;
    // 4 worker pods are what a 2-core machine runs beside the control plane.
    p.spec.scaling['maxReplicas'] = MAX_REPLICAS;
    p.spec.scaling['scaleDownDelaySeconds'] = SCALE_DOWN_DELAY_S;
    // A fresh `node` per job costs ~100 ms of CPU here; a child runs 100 jobs.
    p.spec.worker['jobsPerChild'] = 100;
  });
  const name = pool.metadata.name;
  say(`applied ${path} (examples/jobpool.yaml on ${e.kind}: redis ${e.redisUrl}/0, maxReplicas ${MAX_REPLICAS}, scaleDownDelaySeconds ${SCALE_DOWN_DELAY_S}, jobsPerChild 100)`);
  say(`look meanwhile: export KUBECONFIG=${kubeconfig}; PATH=${join(root, 'test/cluster/bin')}:$PATH; kubectl get jobpools -A`);
  client = createClient({ url: `${e.redisUrl}/0`, namespace: pool.spec.redis.namespace });
  const c = client;
  const queues = pool.spec.queues;
  let enqueued = 0;
  let waves = 0;
  let waveStart = Date.now();
  const wave = async (): Promise<void> => {
    waves++;
    waveStart = Date.now();
    for (let i = 0; i < WAVE; i += 200) {
      const n = Math.min(200, WAVE - i);
      await Promise.all(Array.from({ length: n }, (_, j) => c.enqueue(queues[(i + j) % queues.length] ?? 'mailers', ...e.recordJob(`w${waves}-${i + j}`), JOB_SLEEP_MS)));
      enqueued += n;
    }
  };

  // One sample every 500 ms: depth, desired and ready replicas, jobs done per second (over the last 2 s).
  const processedAt: { t: number; processed: number }[] = [];
  let last = { depth: 0, inFlight: 0, desired: 0, ready: 0, rate: 0, processed: 0, failed: 0, workers: 0 };
  const sample = async (): Promise<void> => {
    const [stats, dep, workers] = await Promise.all([c.stats(), e.apps.readNamespacedDeployment({ name, namespace: e.namespace }).catch(() => undefined), e.workers()]);
    const now = Date.now();
    processedAt.push({ t: now, processed: stats.processed });
    while (processedAt.length > 1 && (processedAt[0]?.t ?? now) < now - 2000) processedAt.shift();
    const first = processedAt[0] ?? { t: now, processed: stats.processed };
    const rate = now > first.t ? ((stats.processed - first.processed) * 1000) / (now - first.t) : 0;
    last = { depth: stats.pending, inFlight: stats.inFlight, desired: dep?.spec?.replicas ?? 0, ready: dep?.status?.readyReplicas ?? 0, rate, processed: stats.processed, failed: stats.failed, workers };
    samples.push({ t: (now - t0) / 1000, depth: last.depth, desired: last.desired, ready: last.ready });
  };
  const line = (): string =>
    `depth ${last.depth}, in flight ${last.inFlight}, desired ${last.desired}, ready ${last.ready}, ${last.rate.toFixed(0)} jobs/s, ` +
    `done ${last.processed}/${enqueued}, failed ${last.failed}, worker containers ${last.workers}`;

  if (interactive) {
    process.stdout.write('\x1b[?25l');
    let nextWave = Date.now();
    let waving: Promise<void> | undefined;
    const headerRows = 3;
    process.stdout.write('\n'.repeat(headerRows + 8));
    while (!stopping) {
      if (Date.now() >= nextWave && waving === undefined) {
        waving = wave().finally(() => {
          waving = undefined;
        });
        nextWave = Date.now() + WAVE_EVERY_S * 1000;
      }
      await sample();
      const rows = [
        `forkpool demo: JobPool ${name}, a wave of ${WAVE} jobs every ${WAVE_EVERY_S} s (wave ${waves}); Ctrl-C stops everything`,
        `export KUBECONFIG=${kubeconfig}; kubectl get jobpools -A`,
        '',
        `  ${'queue depth'.padEnd(14)}${'in flight'.padEnd(11)}${'desired'.padEnd(9)}${'ready'.padEnd(7)}${'jobs/s'.padEnd(8)}${'done'.padEnd(10)}${'failed'.padEnd(8)}workers`,
        `  ${String(last.depth).padEnd(14)}${String(last.inFlight).padEnd(11)}${String(last.desired).padEnd(9)}${String(last.ready).padEnd(7)}${last.rate.toFixed(0).padEnd(8)}${String(last.processed).padEnd(10)}${String(last.failed).padEnd(8)}${last.workers}`,
        '',
        `  next wave in ${Math.max(0, Math.ceil((nextWave - Date.now()) / 1000))} s; enqueued ${enqueued}; ${((Date.now() - t0) / 1000).toFixed(0)} s since start`,
        `  timeline will be written to ${svgPath}`,
      ];
      process.stdout.write(`\x1b[${rows.length + headerRows}A` + ['', '', '', ...rows].map((r) => `\x1b[2K${r}`).join('\n') + '\n');
      await sleep(500);
    }
    await waving;
    await finish(0);
  } else {
    say(`no terminal (or CI=true): one wave of ${WAVE} jobs, unattended`);
    await sample();
    const waving = wave();
    let lastPrint = 0;
    let drained = false;
    const deadline = Date.now() + 300_000;
    while (!stopping && Date.now() < deadline) {
      await sample();
      if (Date.now() - lastPrint >= 2000) {
        say(line());
        lastPrint = Date.now();
      }
      if (!drained && enqueued === WAVE && last.depth === 0 && last.inFlight === 0 && last.processed + last.failed >= WAVE) {
        drained = true;
        say(`drained: ${WAVE} jobs done ${((Date.now() - waveStart) / 1000).toFixed(1)} s after the wave's first enqueue; waiting for the pool to scale back to zero (scaleDownDelaySeconds ${SCALE_DOWN_DELAY_S})`);
      }
      if (drained && last.desired === 0 && last.workers === 0) {
        say(`back at zero replicas: ${line()}`);
        break;
      }
      await sleep(500);
    }
    await waving;
    const ok = drained && last.failed === 0;
    if (!ok) say(stopping ? 'stopped before the wave was done' : `the wave did not finish within 300 s: ${line()}`);
    await finish(ok || stopping ? 0 : 1);
  }
} catch (err) {
  say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await finish(1);
}
