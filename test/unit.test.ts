import assert from 'node:assert/strict';
import { globSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { needsCluster, root, unitTestFiles, whyNotUnit } from './unit.ts';

const all = globSync('test/**/*.test.ts', { cwd: root }).sort();

test('every file in the unit list exists and starts no process', () => {
  for (const file of unitTestFiles) {
    assert.ok(all.includes(file), `${file} is in test/unit.ts but is not a test file`);
    assert.equal(whyNotUnit(join(root, file)), undefined, `${file} is in test/unit.ts`);
  }
});

test('every test file that starts no process is in the unit list', () => {
  const unlisted = all.filter((file) => !unitTestFiles.includes(file) && whyNotUnit(join(root, file)) === undefined);
  assert.deepEqual(unlisted, [], 'these start no process: add them to test/unit.ts');
});

test('a process starter is found through relative imports; type-only imports load nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-unit-'));
  try {
    writeFileSync(join(dir, 'a.test.ts'), "import type { ChildProcess } from 'node:child_process';\nimport { b } from './b.ts';\n");
    writeFileSync(join(dir, 'b.ts'), "export { c } from './c.ts';\n");
    writeFileSync(join(dir, 'c.ts'), "import { spawn } from 'node:child_process';\n");
    writeFileSync(join(dir, 'pure.test.ts'), "import type { ChildProcess } from 'node:child_process';\nimport { d } from './d.ts';\n");
    writeFileSync(join(dir, 'd.ts'), "import './e.ts';\nexport const d = 1;\n");
    writeFileSync(join(dir, 'e.ts'), 'export const e = 1;\n');
    assert.match(whyNotUnit(join(dir, 'a.test.ts')) ?? '', /\/c\.ts imports node:child_process$/);
    assert.equal(whyNotUnit(join(dir, 'pure.test.ts')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file needs the cluster build when it reaches test/cluster/cluster.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-unit-'));
  try {
    const cluster = relative(dir, join(root, 'test/cluster/cluster.ts'));
    writeFileSync(join(dir, 'a.test.ts'), "import { b } from './b.ts';\n");
    writeFileSync(join(dir, 'b.ts'), `import { startCluster } from '${cluster}';\n`);
    writeFileSync(join(dir, 'pure.test.ts'), "import { c } from './c.ts';\n");
    writeFileSync(join(dir, 'c.ts'), "import { spawn } from 'node:child_process';\n");
    assert.equal(needsCluster(join(dir, 'a.test.ts')), true);
    assert.equal(needsCluster(join(dir, 'pure.test.ts')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(needsCluster(join(root, 'test/operator/leader.test.ts')), true);
  assert.equal(needsCluster(join(root, 'test/helm/chart.test.ts')), true);
  assert.equal(needsCluster(join(root, 'test/queue/scripts.test.ts')), false);
});
