// A container restarted in place: the pod keeps its name and, in a fresh PID namespace, the worker gets the
// same PID again. The job the killed process held must run again and the in-flight count return to 0.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { until } from '../helpers/wait.ts';
import { records, tempRecordFile, workerSuite, type WorkerProcess } from '../helpers/worker.ts';

const ns = process.getuid?.() === 0
  ? ['unshare', '--pid', '--fork', '--kill-child=SIGTERM', '--mount-proc']
  : ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--kill-child=SIGTERM', '--mount-proc'];

/** The namespace's PID 1 (the master), the only child of unshare. */
function init(w: WorkerProcess): number {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(w.pid)], { encoding: 'utf8' }).trim();
  return Number(out.split('\n')[0]);
}

for (const isolation of ['spawn', 'fork'] as const) {
  describe(`worker: container restarted in place (ISOLATION=${isolation})`, () => {
    const t = workerSuite(isolation, { QUEUES: 'q', HOSTNAME: 'pool-7d9f-abcde' });

    it('the job the killed process held runs again and nothing stays in flight', async () => {
      const file = tempRecordFile();
      const a = await t.start({ RECORD_FILE: file }, { command: ns });
      // A first job, so that the held one sits under a later field than a fresh start's first take.
      await t.client.enqueue('q', 'Record', 'warm-up');
      await until('warm-up ran', () => records(file).length === 1);
      await t.client.enqueue('q', 'Sleep', 2, 'held');
      await until('held job started', () => records(file).some((r) => r.event === 'start'));
      const [before] = await t.client.workers();
      assert.equal(before?.pid, 1);
      process.kill(init(a), 'SIGKILL'); // the kernel kills every process of the namespace
      await a.exited;

      await t.start({ RECORD_FILE: file }, { command: ns });
      await until('the held job ran to the end', () => records(file).some((r) => r.event === 'end'), 15_000);
      await until('nothing counted in flight', async () => Object.keys(await t.redis.hgetall('resque:forkpool:running')).length === 0, 10_000);
      const workers = await t.client.workers();
      assert.equal(workers.length, 1, `one worker registered: ${JSON.stringify(workers.map((w) => w.id))}`);
      assert.equal(workers[0]?.inFlight, 0);
      assert.equal(workers[0]?.host, 'pool-7d9f-abcde');
      assert.equal(workers[0]?.pid, 1);
      assert.notEqual(workers[0]?.id, before?.id, 'a new start has an identity of its own');
    });
  });
}
