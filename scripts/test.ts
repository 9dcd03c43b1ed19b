// The test command, on the Node that npm put first on the PATH.
//   npm test                          set-up, lint, type-check, build, the test control plane, every test file
//   node scripts/test.ts FILE...      set-up, build, then those files
//   npm run test:unit                 the unit tests (test/unit.ts): no set-up, no build, no process started
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, globSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { imagesDir, imagesUnavailable } from './images.ts';
import { setUp } from './setup.ts';
import { needsCluster, root, unitTestFiles } from '../test/unit.ts';

console.log(`node ${process.version} (${process.execPath})`);
const run = (cmd: string, args: string[]): void => {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit' });
};
const only = process.argv.slice(2);
if (only[0] === '--unit') {
  // One process for all of them: they share no state worth isolating, and a Node start per file would be
  // most of the time they take.
  run(process.execPath, ['--test', '--test-isolation=none', '--test-reporter=spec', ...unitTestFiles]);
  process.exit(0);
}

// One file at a time: several files start clusters and worker fleets, and their timings assume they have the
// machine to themselves, whatever its size. Returns whether every test passed.
const testFiles = (files: readonly string[]): boolean => {
  if (files.length === 0) return true;
  try {
    run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files]);
    return true;
  } catch {
    return false;
  }
};

setUp(only.length === 0 ? 'test' : 'test-files');
if (only.length > 0) {
  run('node', ['scripts/build.ts']);
  process.exit(testFiles(only) ? 0 : 1);
}

run('eslint', ['.']);
run('tsc', ['-p', 'tsconfig.json', '--noEmit']);
run('tsc', ['-p', 'cli/src/dashboard/ui/tsconfig.json', '--noEmit']); // the dashboard's browser script
run('node', ['scripts/build.ts']);

// What the files on the test control plane need is made in the background, at a lower priority, while the
// files that do not need it run: those wait on Redis and on processes far more than they compute, and the
// builds take the CPU they leave. build.sh builds the control plane (about 20 minutes on 2 cores with Go's
// caches empty; a stamp check once built; its steps run under `nice`); `npm run images` builds the images of
// the tests on real pods, where they can be built (a stamp check once built).
const files = globSync('test/**/*.test.ts', { cwd: root }).sort();
const clusterFiles = files.filter((file) => needsCluster(join(root, file)));
const background = [inBackground('control plane', join(root, 'test/cluster/bin/.build-output.log'), 'bash', ['test/cluster/build.sh'])];
if (imagesUnavailable() === undefined) {
  background.push(inBackground('images', join(imagesDir, 'logs/npm-test.log'), 'nice', ['-n', '10', process.execPath, 'scripts/images.ts']));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

let passed = testFiles(files.filter((file) => !clusterFiles.includes(file)));

for (const job of background) {
  console.log(`\nwaiting for the ${job.name} (${job.log})...`);
  const code = await job.done;
  // The end of its output (buildah's is long; build.sh's progress lines, every 30 s, say nothing once it is done).
  const lines = readFileSync(job.log, 'utf8').trimEnd().split('\n');
  console.log(lines.filter((line) => !line.startsWith('  building the test control plane (first build')).slice(-12).join('\n'));
  if (code !== 0) {
    console.error(`the ${job.name} failed to build (exit ${code}): the files that need it did not run`);
    process.exit(1);
  }
}
passed = testFiles(clusterFiles) && passed;
process.exit(passed ? 0 : 1);

interface Background {
  name: string;
  log: string;
  done: Promise<number | null>;
}

/**
 * Starts `cmd` in a process group of its own with its output in a file: the tests block this process's event
 * loop, so nothing here could read a pipe. If this process ends first (an error, Ctrl-C), the group goes with
 * it; in a group of its own, it stops here rather than at a Ctrl-C meant for a test (a signal's handler runs
 * once that test ends).
 */
function inBackground(name: string, log: string, cmd: string, args: string[]): Background {
  mkdirSync(dirname(log), { recursive: true });
  console.log(`\n$ ${cmd} ${args.join(' ')}   (in the background; its output: ${log})`);
  const out = openSync(log, 'w');
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  let running = true;
  const done = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      running = false;
      resolve(code);
    }),
  );
  process.on('exit', () => {
    if (running && child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
  });
  return { name, log, done };
}
