// The one test command: lint, type-check, build, then every test file, on the Node that npm put first on the PATH.
import { execFileSync } from 'node:child_process';
import { globSync } from 'node:fs';

console.log(`node ${process.version} (${process.execPath})`);
const run = (cmd: string, args: string[]): void => {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit' });
};
const only = process.argv.slice(2);
if (only.length === 0) {
  run('eslint', ['.']);
  run('tsc', ['-p', 'tsconfig.json', '--noEmit']);
  run('tsc', ['-p', 'cli/src/dashboard/ui/tsconfig.json', '--noEmit']); // the dashboard's browser script
}
run('node', ['scripts/build.ts']);
// The operator, chart and end-to-end tests run on the test control plane: built on first use, then a no-op.
if (only.length === 0) run('bash', ['test/cluster/build.sh']);
const files = only.length > 0 ? only : globSync('test/**/*.test.ts').sort();
// One file at a time, as verified on the 2-core machine: several files start clusters and worker fleets,
// and a bigger CI machine must not run them side by side.
run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files]);
