// The unit tests: test files that start no process (no Redis, no cluster, no worker, no browser), so that
// `npm run test:unit` runs them all in seconds. `npm test` runs them with every other file.
//
// A list rather than a naming convention: a test file keeps the name of the module it tests and its place
// beside that module's other tests, and whether it is a unit test is decided by what it imports, which
// unit.test.ts checks both ways with whyNotUnit(): a file listed here imports nothing that starts a process,
// and a file not listed does.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..');

/** Paths from the repository's root. */
export const unitTestFiles: readonly string[] = [
  'test/cli/dashboard-host.test.ts',
  'test/fork/zygote-protocol.test.ts',
  'test/helpers/wait.test.ts',
  'test/operator/autoscaler.test.ts',
  'test/operator/cached-fields.test.ts',
  'test/operator/cron-fires.test.ts',
  'test/operator/desired-deployment.test.ts',
  'test/operator/informer.test.ts',
  'test/operator/jobpool.test.ts',
  'test/operator/kube-client.test.ts',
  'test/operator/status.test.ts',
  'test/operator/template-policy.test.ts',
  'test/operator/wait-estimator.test.ts',
  'test/operator/workqueue.test.ts',
  'test/queue/json-text.test.ts',
  'test/queue/redis-connection.test.ts',
  'test/queue/redis-url.test.ts',
  'test/queue/worker-id.test.ts',
  'test/scripts/setup.test.ts',
  'test/scripts/timeline-svg.test.ts',
  'test/unit.test.ts',
  'test/worker/jobs-dir.test.ts',
  'test/worker/run-job.test.ts',
  'test/worker/line-splitter.test.ts',
];

/** Modules through which a test starts processes: Node's child processes, and the browser the dashboard test drives. */
const processStarters = new Set(['node:child_process', 'child_process', 'playwright-core']);

// Imports and re-exports at the start of a line (not type-only ones: they load nothing), and side-effect
// imports. The tests import nothing with import().
const importPattern = /^\s*(?:import|export)(?!\s+type\b)\b[^;]*?\bfrom\s+'([^']+)'|^\s*import\s+'([^']+)'/gm;

/**
 * The chain by which `file` (an absolute path) reaches an import that `hit` names, through relative imports:
 * "a.ts imports node:child_process", or undefined when none of its imports does. `hit` gets each import's
 * specifier and, for a relative one, its absolute path.
 */
function reach(file: string, hit: (spec: string, path: string | undefined) => boolean, seen = new Set<string>()): string | undefined {
  if (seen.has(file)) return undefined;
  seen.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(importPattern)) {
    const spec = m[1] ?? m[2] ?? '';
    const path = spec.startsWith('.') ? resolve(dirname(file), spec) : undefined;
    if (hit(spec, path)) return `${relative(root, file)} imports ${spec}`;
    if (path !== undefined) {
      const why = reach(path, hit, seen);
      if (why !== undefined) return why;
    }
  }
  return undefined;
}

/**
 * Why a test file cannot be a unit test: "a.ts imports node:child_process", through the chain of relative
 * imports from `file` (an absolute path); undefined when nothing it imports starts a process.
 */
export function whyNotUnit(file: string): string | undefined {
  return reach(file, (spec) => processStarters.has(spec));
}

const clusterModule = resolve(root, 'test/cluster/cluster.ts');

/**
 * Whether a test file needs what `test/cluster/build.sh` builds (the control plane, kwok, helm, the
 * kubelet): whether it reaches `test/cluster/cluster.ts`, through which every test finds those binaries.
 */
export function needsCluster(file: string): boolean {
  return file === clusterModule || reach(file, (_, path) => path === clusterModule) !== undefined;
}
