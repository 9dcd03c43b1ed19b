// Which modules of JOBS_DIR are jobs: the listing and the look-up by class name follow the same rules, so a
// class name reaches exactly the module the listing finds for it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { classNameFor, findJobModule, listJobModules } from '../../worker-image/src/jobs.ts';

/** Makes the files (content '') and symlinks (`-> target`) given by path relative to a new folder. */
function tree(spec: Record<string, string>): string {
  const top = mkdtempSync(join(tmpdir(), 'forkpool-jobs-dir-'));
  for (const [path, what] of Object.entries(spec)) {
    const full = join(top, path);
    mkdirSync(join(full, '..'), { recursive: true });
    if (what.startsWith('-> ')) symlinkSync(what.slice(3), full);
    else if (what === 'dir') mkdirSync(full, { recursive: true });
    else writeFileSync(full, what);
  }
  return top;
}

describe('job modules of JOBS_DIR', () => {
  const top = tree({
    'jobs/Plain.js': '',
    'jobs/Reports/Daily.mjs': '',
    'jobs/Reports/Old.cjs': '',
    'jobs/_helpers/Util.js': '',
    'jobs/Reports/_shared.js': '',
    'jobs/.hidden.js': '',
    'jobs/node_modules/pkg/Job.js': '',
    'jobs/forkpool.hooks.js': '',
    'jobs/notes.txt': '',
    'jobs/Folder.js/Inner.js': '',
    // A ConfigMap volume: each file a symlink into a hidden folder that a hidden symlink names.
    'jobs/..2026_01_01/Mapped.js': '',
    'jobs/..data': '-> ..2026_01_01',
    'jobs/Mapped.js': '-> ..data/Mapped.js',
    // Symlinks that stay inside: followed, under their own names.
    'jobs/Alias': '-> Reports',
    'jobs/Reports/Back': '-> ..',
    'jobs/Reports/Self': '-> .',
    // Symlinks that lead out, to a file or a folder, directly or through another symlink: never followed.
    'outside/Job.js': '',
    'outside/Sub/Deep.js': '',
    'jobs/Escape.js': '-> ../outside/Job.js',
    'jobs/Out': '-> ../outside',
    'jobs/Chain.js': '-> Escape.js',
    'jobs/Root': '-> .',
    'jobs/Dangling.js': '-> nowhere.js',
    'Top.js': '',
  });
  const jobsDir = join(top, 'jobs');

  it('lists job modules, following symlinks only as far as they stay inside JOBS_DIR', () => {
    assert.deepEqual(listJobModules(jobsDir).map((p) => relative(jobsDir, p)), [
      'Alias/Daily.mjs', 'Alias/Old.cjs', 'Mapped.js', 'Plain.js', 'Reports/Daily.mjs', 'Reports/Old.cjs',
    ]);
    assert.deepEqual(listJobModules(join(top, 'missing')), []);
  });

  it('finds by class name exactly the modules listed', () => {
    for (const path of listJobModules(jobsDir)) {
      assert.equal(findJobModule(jobsDir, classNameFor(relative(jobsDir, path))), path, path);
    }
    const unlisted = [
      '_helpers::Util', 'Reports::_shared', 'node_modules::pkg::Job', 'forkpool.hooks', 'notes', 'Folder', 'Folder.js::Inner',
      'Escape', 'Out::Job', 'Out::Sub::Deep', 'Chain', 'Root::Plain', 'Reports::Back::Plain', 'Reports::Self::Daily', 'Alias::Back::Plain',
      'Dangling', '..::Top', '../Top', 'Reports::..::..::Top', '../../etc/passwd', '/etc/passwd', 'Plain.js', 'Plain::', '', 'Missing',
    ];
    for (const className of unlisted) assert.equal(findJobModule(jobsDir, className), undefined, className);
    assert.equal(findJobModule(join(top, 'missing'), 'Plain'), undefined);
  });
});
