// The built worker (dist/, as the image runs it) starts its spawn-mode children from spawn-child.cjs, the
// CommonJS build of spawn-child.ts (scripts/build.ts): ES, CommonJS and top-level-await job modules all run
// there, and a module that fails to load is still a failure record. `npm test` builds dist/ before the tests.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

const BUILT_BIN = fileURLToPath(new URL('../../dist/worker-image/src/bin.js', import.meta.url));

/** A jobs folder whose modules record their class, the child's entry file, and their arguments. */
function jobsFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-built-jobs-'));
  const record = (name: string): string => `(...args) => require('node:fs').appendFileSync(process.env.RECORD_FILE, JSON.stringify({ job: '${name}', entry: process.argv[1], args }) + '\\n')`;
  writeFileSync(join(dir, 'Esm.mjs'), `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nexport const perform = ${record('Esm')};\n`);
  writeFileSync(join(dir, 'Cjs.cjs'), `exports.perform = ${record('Cjs')};\n`);
  writeFileSync(join(dir, 'Tla.mjs'), `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nawait new Promise((r) => setTimeout(r, 1));\nexport const perform = ${record('Tla')};\n`);
  writeFileSync(join(dir, 'Bad.mjs'), 'export const perform = ;\n');
  return dir;
}

describe('worker: the built spawn-mode child (spawn-child.cjs)', () => {
  const t = workerSuite('spawn', { QUEUES: 'q' });

  for (const jobsPerChild of ['1', '5']) it(`runs ES, CommonJS and top-level-await modules, and records one that fails to load (JOBS_PER_CHILD=${jobsPerChild})`, async () => {
    const file = tempRecordFile();
    await t.start({ JOBS_DIR: jobsFolder(), RECORD_FILE: file, JOBS_PER_CHILD: jobsPerChild }, { bin: BUILT_BIN });
    for (const job of ['Esm', 'Cjs', 'Tla', 'Bad']) await t.client.enqueue('q', job, job.toLowerCase());
    await until('three jobs ran', () => records(file).length === 3);
    const ran = records(file).sort((a, b) => String(a.job).localeCompare(String(b.job)));
    assert.deepEqual(ran.map((r) => [r.job, r.args]), [['Cjs', ['cjs']], ['Esm', ['esm']], ['Tla', ['tla']]]);
    for (const r of ran) assert.match(String(r.entry), /dist\/worker-image\/src\/spawn-child\.cjs$/);
    const [failure] = await until('the bad module recorded', async () => {
      const f = await t.client.failed.list();
      return f.length === 1 ? f : undefined;
    });
    assert.equal(failure?.record?.exception, 'Forkpool::JobLoadError');
    assert.match(failure?.record?.error ?? '', /Bad\.mjs failed to load: SyntaxError/);
  });
});
