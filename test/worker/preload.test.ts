// Which job modules a spawn-mode child loads before its first job: a slot's first child loads every module
// in JOBS_DIR; later ones only those of the classes the slot ran last (PRELOAD_CLASSES), so that with
// JOBS_PER_CHILD=1 a job does not pay for loading modules it does not use. A job of another class loads its
// module when it comes.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

/** Modules that record, in RECORD_FILE, when a process loads them and when they run. */
function jobsFolder(names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-preload-jobs-'));
  for (const name of names) {
    writeFileSync(join(dir, `${name}.js`), [
      "import { appendFileSync } from 'node:fs';",
      `appendFileSync(process.env.RECORD_FILE, JSON.stringify({ loaded: '${name}', pid: process.pid }) + '\\n');`,
      `export function perform(id) { appendFileSync(process.env.RECORD_FILE, JSON.stringify({ ran: '${name}', id, pid: process.pid }) + '\\n'); }`,
    ].join('\n'));
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  return dir;
}

describe('worker: the modules a fresh child loads (ISOLATION=spawn)', () => {
  const t = workerSuite('spawn', { QUEUES: 'q' });

  it('JOBS_PER_CHILD=1: after the first job a child loads the modules of the classes its slot ran, and others when a job needs them', async () => {
    const file = tempRecordFile();
    await t.start({ JOBS_DIR: jobsFolder(['Often', 'Rare', 'Never']), RECORD_FILE: file, JOBS_PER_CHILD: '1' });
    for (let i = 1; i <= 4; i++) await t.client.enqueue('q', 'Often', i);
    await t.client.enqueue('q', 'Missing', 5); // no module: a failure, and nothing for the next child to load
    await t.client.enqueue('q', 'Rare', 6);
    await t.client.enqueue('q', 'Often', 7);
    await until('6 jobs ran', () => records(file).filter((r) => r.ran).length === 6);
    const rec = records(file);
    const loadedBy = (pid: unknown): string[] => rec.filter((r) => r.loaded && r.pid === pid).map((r) => String(r.loaded)).sort();
    const ran = rec.filter((r) => r.ran);
    assert.deepEqual(ran.map((r) => r.id), [1, 2, 3, 4, 6, 7]);
    assert.equal(new Set(ran.map((r) => r.pid)).size, 6, 'a fresh child per job');
    assert.deepEqual(loadedBy(ran[0]?.pid), ['Never', 'Often', 'Rare'], 'the first child loads every module');
    for (const r of ran.slice(1, 4)) assert.deepEqual(loadedBy(r.pid), ['Often'], `the child of job ${String(r.id)}`);
    assert.deepEqual(loadedBy(ran[4]?.pid), ['Often', 'Rare'], 'Rare was loaded when its job came');
    assert.deepEqual(loadedBy(ran[5]?.pid), ['Often', 'Rare'], 'the next child loads both recent classes');
    const [failure] = await t.client.failed.list();
    assert.equal(failure?.record?.exception, 'Forkpool::UnknownJobClass');
    assert.deepEqual([(await t.client.stats()).processed, await t.client.failed.count()], [7, 1]);
  });
});
