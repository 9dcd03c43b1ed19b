// npm run bench:child — what a fresh spawn-mode child costs in CPU beside `node -e 0` (the ceiling of
// bench:worker), measured with paired runs by child-cost.c: each variant is started in turn, hundreds of
// times, and its user + system CPU taken from wait4. Prints figures; asserts nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('../../dist/worker-image/src/spawn-child.cjs', import.meta.url));
if (!existsSync(CHILD)) throw new Error('run `npm run build` first (npm run bench:child does)');
const JOBS_DIR = fileURLToPath(new URL('./jobs/', import.meta.url));
const rounds = process.env.BENCH_QUICK === '1' ? 40 : 300;

const dir = mkdtempSync(join(tmpdir(), 'forkpool-bench-child-'));
try {
  const tool = join(dir, 'child-cost');
  execFileSync('cc', ['-O2', '-o', tool, fileURLToPath(new URL('./child-cost.c', import.meta.url)), '-lm'], { stdio: 'inherit' });
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const job = file('job.json', '{"t":"run","className":"Noop","args":[]}\n');
  mkdirSync(join(dir, 'cjs-jobs'));
  file('cjs-jobs/Noop.cjs', 'exports.perform = function () {};\n');
  const node = process.execPath;
  const variants: [string, string[]][] = [
    ['node -e 0 (the ceiling)', [node, '-e', '0']],
    ['an empty .cjs file, ending by itself', [node, file('empty.cjs', '')]],
    ['an empty .cjs file calling process.exit()', [node, file('exit.cjs', 'process.exit(0);\n')]],
    ['an empty .cjs file sending itself SIGKILL', [node, file('kill.cjs', "process.kill(process.pid, 'SIGKILL');\n")]],
    ['the child (spawn-child.cjs), a no-op ES-module job', [`FORKPOOL_JOBS_DIR=${JOBS_DIR}`, 'FORKPOOL_JOBS_PER_CHILD=1', node, CHILD]],
    ['the child, a no-op CommonJS job', [`FORKPOOL_JOBS_DIR=${join(dir, 'cjs-jobs')}`, 'FORKPOOL_JOBS_PER_CHILD=1', node, CHILD]],
  ];
  console.log(`node ${process.version}: CPU per process (user + system), ${rounds} paired rounds; ± is two standard errors`);
  const out = execFileSync(tool, [String(rounds), job, ...variants.flatMap(([, argv], i) => (i === 0 ? argv : ['--', ...argv]))], { encoding: 'utf8' });
  const width = Math.max(...variants.map(([label]) => label.length));
  for (const line of out.trim().split('\n')) {
    const [i, mean, diff, twoSe] = line.split('\t');
    const label = variants[Number(i)]?.[0] ?? '?';
    console.log(`${label.padEnd(width)}  ${Number(mean).toFixed(2)} ms  ${Number(i) === 0 ? '' : `${diff} ± ${twoSe} ms against node -e 0`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
