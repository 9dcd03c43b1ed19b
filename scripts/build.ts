// Compiles the product code to dist/ and copies the files tsc does not (Lua scripts, the dashboard page's HTML and
// CSS), with its browser script bundled beside them (see cli/src/dashboard/ui-files.ts). The spawn-mode child is
// also written as one CommonJS file, spawn-child.cjs, bundled by esbuild from spawn-child.ts and jobs.ts. With
// JOBS_PER_CHILD=1 every job pays its child's start-up, and both halves count (measured, paired runs of a
// fresh child): a process whose own code is CommonJS never starts Node's ES-module loader for it (~1.2 ms of
// CPU), and one file instead of two saves resolving, reading and compiling a module (0.5–1.3 ms).
// spawn-executor.ts starts spawn-child.cjs when it is there.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { bundleApp } from '../cli/src/dashboard/ui-files.ts';

rmSync('dist', { recursive: true, force: true });
execFileSync('tsc', ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });
cpSync('queue/lua', 'dist/queue/lua', { recursive: true });
for (const file of ['index.html', 'style.css']) cpSync(`cli/src/dashboard/ui/${file}`, `dist/cli/src/dashboard/ui/${file}`);
writeFileSync('dist/cli/src/dashboard/ui/app.js', await bundleApp());

const childCjs = 'dist/worker-image/src/spawn-child.cjs';
await build({
  entryPoints: ['worker-image/src/spawn-child.ts'],
  outfile: childCjs,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  packages: 'external', // left as require() calls, which the check below refuses
  logLevel: 'warning',
});
// The child uses Node's modules and ours only (bundled above): a package would be loaded by every child.
const required = [...readFileSync(childCjs, 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]).filter((m) => !m?.startsWith('node:'));
if (required.length > 0) throw new Error(`${childCjs} requires ${required.join(', ')}: the child must not import packages`);
