// The zygote's spare child dying at the worst moment: after the zygote last looked at it and before it writes
// the spare its job. The zygote, talked to here over its channel as the master would, lives on and runs the
// job in a fresh fork.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { MASTER_PID_ENV } from '../../worker-image/src/fork/zygote-protocol.ts';
import { LineSplitter } from '../../worker-image/src/line-splitter.ts';
import { childrenOf, isAlive, JOBS_DIR, requireProcessAddon } from './helpers.ts';
import { until } from '../helpers/wait.ts';

const ZYGOTE_MAIN = fileURLToPath(new URL('../../worker-image/src/fork/zygote-main.ts', import.meta.url));

/** Bytes the process has read so far (its reads of the channel, when it does nothing else). */
const bytesRead = (pid: number): number => Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);

describe('fork mode: the spare child', () => {
  requireProcessAddon();
  const zygote = spawn(process.execPath, ['--single-threaded', ZYGOTE_MAIN, JOBS_DIR], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    detached: true,
    env: { ...process.env, [MASTER_PID_ENV]: String(process.pid) },
  });
  const channel = zygote.stdio[3] as Readable & Writable;
  const events: Record<string, unknown>[] = [];
  const warnings: string[] = [];
  const lines = new LineSplitter();
  channel.on('data', (chunk: Buffer) => {
    for (const line of lines.push(chunk)) {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event.type !== 'log') events.push(event);
      else if (event.level === 'warn') warnings.push(String(event.msg));
    }
  });
  let exit: string | undefined;
  zygote.once('exit', (code, signal) => { exit = `code ${code}, signal ${signal}`; });
  after(() => { zygote.kill('SIGKILL'); });

  it('a spare that dies while the zygote is busy: the zygote lives, and the job runs in a fresh fork', async () => {
    await until('the zygote to be ready', () => events.some((e) => e.type === 'ready'), 30_000);
    const zygotePid = zygote.pid ?? 0;
    const [spare] = await until('its spare', () => { const c = childrenOf(zygotePid); return c.length === 1 ? c : undefined; });
    assert.ok(spare);
    // Lines the zygote rejects one by one keep it busy for a while after it has read them in one turn of its
    // loop, in which it looked at the spare before reading; the job comes last.
    const run = '{"type":"run","id":"1","className":"Sleep","args":[50]}\n';
    const busy = 'x\n'.repeat(Math.floor((65_536 - run.length) / 2));
    const before = bytesRead(zygotePid);
    channel.write(busy + run);
    while (bytesRead(zygotePid) < before + busy.length + run.length) {
      // read: the zygote now works through the lines, and writes the job to the spare after them
    }
    process.kill(spare.pid, 'SIGKILL');
    const ended = await until('the job to end', () => events.find((e) => e.type === 'exit' && e.id === '1') ?? (exit !== undefined ? { exit } : undefined), 10_000);
    assert.equal(exit, undefined, 'the zygote lives');
    const forked = events.find((e) => e.type === 'forked' && e.id === '1');
    assert.notEqual(forked?.pid, spare.pid, 'the job was not handed to the dead spare');
    assert.deepEqual(warnings, [`zygote: the spare child ${spare.pid} died before it was handed a job; forking another`]);
    assert.deepEqual([ended.code, ended.signal], [0, null]);
    assert.deepEqual(events.find((e) => e.type === 'result' && e.id === '1')?.result, { ok: true });
    await until('the dead spare to be reaped, and a new spare forked', () => {
      const children = childrenOf(zygotePid);
      return children.length === 1 && children[0]?.pid !== spare.pid && isAlive(children[0]?.pid ?? 0);
    }, 5000);
  });
});
