// The zygote's heap is gathered (process.c, GATHER_HEAP_ENV): V8's pages lie together instead of at random
// addresses, and the addon preloaded for that reaches neither a job nor the programs it starts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Zygote } from '../../worker-image/src/fork/zygote.ts';
import { readJson, startTestZygote, tempDir } from './helpers.ts';

interface Seen {
  childPreload: string;
  childGather: string;
  programPreload: string;
  programGather: string;
  programMapsAddon: boolean;
}

/** Mappings with memory behind them (not PROT_NONE) in the range V8 picks its random hints from, 4 GiB-64 TiB. */
function mappingsAtHintedAddresses(pid: number): string[] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter((line) => {
    const [range = '', perms = ''] = line.split(' ');
    const start = parseInt(range.split('-')[0] ?? '', 16);
    return start >= 2 ** 32 && start < 2 ** 46 && perms !== '---p';
  });
}

describe('fork mode: the zygote\'s heap', () => {
  const zygotes: Zygote[] = [];
  const tmp = tempDir();
  after(async () => {
    await Promise.all(zygotes.map((z) => z.close()));
    tmp.remove();
  });
  const start = async (env?: NodeJS.ProcessEnv): Promise<Zygote> => {
    const zygote = await startTestZygote(env === undefined ? {} : { env });
    zygotes.push(zygote);
    return zygote;
  };
  const seen = async (zygote: Zygote): Promise<Seen> => {
    const out = tmp.file(`env-${zygote.pid}`);
    const outcome = await zygote.run('Environment', [out]).done;
    assert.equal(outcome.status, 'ok', JSON.stringify(outcome));
    return readJson<Seen>(out);
  };

  it('maps no page at V8\'s random hints: the heap lies together, and a fork copies fewer page tables', async () => {
    const zygote = await start();
    assert.deepEqual(mappingsAtHintedAddresses(zygote.pid), []);
  });

  it('a job and the programs it starts see the LD_PRELOAD the zygote was given, and no process.node', async () => {
    const { LD_PRELOAD: _, ...withoutPreload } = process.env;
    assert.deepEqual(await seen(await start(withoutPreload)), {
      childPreload: 'unset', childGather: 'unset', programPreload: 'unset', programGather: 'unset', programMapsAddon: false,
    });
    const libm = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(' ').at(-1) ?? '').find((p) => /\/libm\.so/.test(p));
    assert.ok(libm, 'this node maps libm');
    assert.deepEqual(await seen(await start({ ...withoutPreload, LD_PRELOAD: libm })), {
      childPreload: libm, childGather: 'unset', programPreload: libm, programGather: 'unset', programMapsAddon: false,
    });
  });
});
