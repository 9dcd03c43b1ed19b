// The test command, on the Node that npm put first on the PATH.
//   npm test                          set-up, lint, type-check, build, the test control plane, every test file
//   node scripts/test.ts FILE...      set-up, build, then those files
//   npm run test:unit                 the unit tests (test/unit.ts): no set-up, no build, no process started
import { execFileSync } from 'node:child_process';
import { globSync } from 'node:fs';
import { setUp } from './setup.ts';
import { unitTestFiles } from '../test/unit.ts';

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
setUp(only.length === 0 ? 'test' : 'test-files');
if (only.length === 0) {
  run('eslint', ['.']);
  run('tsc', ['-p', 'tsconfig.json', '--noEmit']);
  run('tsc', ['-p', 'cli/src/dashboard/ui/tsconfig.json', '--noEmit']); // the dashboard's browser script
}
run('node', ['scripts/build.ts']);
// The operator, chart and end-to-end tests run on the test control plane: built on first use, then a no-op.
if (only.length === 0) run('bash', ['test/cluster/build.sh']);
const files = only.length > 0 ? only : globSync('test/**/*.test.ts').sort();
// One file at a time: several files start clusters and worker fleets, and their timings assume they have the
// machine to themselves, whatever its size.
run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files]);
