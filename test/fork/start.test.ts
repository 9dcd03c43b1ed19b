// Starting fork mode: what a master hears when it cannot run (so that it falls back to spawn mode), and a
// broken hooks module, which is no reason to: every job fails with it, as in spawn mode.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ZygoteStartError } from '../../worker-image/src/fork/zygote.ts';
import { childrenOf, isAlive, startTestZygote, tempDir } from './helpers.ts';

describe('fork mode: start-up', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  const jobsDirWithHooks = (name: string, hooks: string): string => {
    const dir = join(tmp.dir, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'Noop.js'), 'export function perform() {}\n');
    writeFileSync(join(dir, 'forkpool.hooks.mjs'), hooks);
    return dir;
  };
  const noZygoteLeft = (): boolean => childrenOf(process.pid).every((c) => !isAlive(c.pid));

  it('rejects with the error when beforeFork throws, and leaves no zygote behind', async () => {
    const jobsDir = jobsDirWithHooks('before-fork-throws', "export function beforeFork() { throw new Error('no database'); }\n");
    await assert.rejects(startTestZygote({ jobsDir }), (err: unknown) => {
      assert.ok(err instanceof ZygoteStartError);
      assert.equal(err.kind, 'ZygoteStartError');
      assert.match(err.message, /Error: no database/);
      return true;
    });
    assert.ok(noZygoteLeft());
  });

  it('starts when the hooks module cannot load, and fails every job with the reason', async () => {
    const jobsDir = jobsDirWithHooks('hooks-broken', 'export function beforeFork( {\n');
    const zygote = await startTestZygote({ jobsDir });
    try {
      const outcome = await zygote.run('Noop', []).done;
      assert.equal(outcome.status === 'failed' && outcome.error.name, 'Forkpool::HooksLoadError');
      assert.match(outcome.status === 'failed' ? outcome.error.message : '', /^forkpool\.hooks\.mjs failed to load: SyntaxError/);
    } finally {
      await zygote.close();
    }
  });

  it('says why fork mode is unavailable when the addon cannot be loaded', () => {
    const script = [
      "import { loadProcessAddon } from './worker-image/src/process-addon.ts';",
      "import { ForkExecutors } from './worker-image/src/fork/fork-executor.ts';",
      'console.log(JSON.stringify(loadProcessAddon()));',
      "await ForkExecutors.start({ jobsDir: '.', limits: { timeoutMs: 1, maxMemoryMb: 0 }, log: console }).catch((e) => console.log(e.message));",
    ].join('\n');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, FORKPOOL_PROCESS_ADDON: '/nonexistent/process.node' },
      encoding: 'utf8',
    }).split('\n');
    assert.deepEqual(JSON.parse(out[0] ?? ''), {
      ok: false,
      reason: 'process.node is not built (looked at /nonexistent/process.node); build it with "node worker-image/native/build.ts"',
    });
    assert.match(out[1] ?? '', /^fork mode is unavailable: process\.node is not built/);
  });
});
