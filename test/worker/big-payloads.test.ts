// Big lines between the master and its children: a job's error message or arguments of tens of MB reach the
// other side whole, and the worker carries on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite } from '../helpers/worker.ts';

const BIG = 20 * 1024 * 1024;

for (const isolation of ['spawn', 'fork'] as const) describe(`worker: big lines to and from children (ISOLATION=${isolation})`, () => {
  const t = workerSuite(isolation);

  it('records a job that fails with a 20 MB error message, whole, and runs the next job', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'big', RECORD_FILE: file });
    await t.client.enqueue('big', 'Huge', BIG);
    await t.client.enqueue('big', 'Record', 'after');
    // Generous: this is a correctness test, not a timing one (the readers' linearity is unit-tested).
    await until('the next job ran', () => records(file).length === 1, 120_000, 200);
    const [failure] = await t.client.failed.list();
    assert.equal(failure?.record?.exception, 'RangeError');
    assert.equal(failure?.record?.error.length, BIG);
    assert.ok(/^x+$/.test(failure?.record?.error ?? ''), 'the message arrives unchanged');
    assert.deepEqual(records(file)[0]?.args, ['after']);
  });

  it('runs a job with a 20 MB argument, which it receives whole', async () => {
    const file = tempRecordFile();
    await t.start({ QUEUES: 'big', RECORD_FILE: file });
    const arg = 'é'.repeat(BIG / 2); // two bytes each in UTF-8: characters split across reads arrive whole
    await t.client.enqueue('big', 'Record', arg, 'end');
    await until('the job ran', () => records(file).length === 1, 120_000, 200);
    const [args] = records(file).map((r) => r.args as string[]);
    assert.equal(args?.[0]?.length, arg.length);
    assert.ok(args?.[0] === arg, 'the argument arrives unchanged');
    assert.equal(args?.[1], 'end');
    assert.equal((await t.client.stats()).failed, 0);
  });
});
