// forkpool stats: queues with their depth, workers with what they run, processed and failed counters.
import type { z } from 'zod';
import { connect } from '../connect.ts';
import { brief, clean, table } from '../format.ts';
import type { Io } from '../io.ts';
import { commonSchema, resolveTarget } from '../options.ts';

/** A worker's current job as `Class args (queue, since run_at)`. */
function describeJob(job: { queue: string; run_at: string; payload: unknown } | undefined): string {
  if (!job) return 'idle';
  const p = job.payload as { class?: unknown; args?: unknown } | null;
  const cls = p && typeof p.class === 'string' ? p.class : '?';
  return `${clean(cls)} ${brief(p?.args ?? [], 60)} (${clean(job.queue)}, since ${clean(job.run_at)})`;
}

export const statsSchema = commonSchema;

/** forkpool stats: queues with their depth, workers with the job each runs, the counters. */
export async function statsCommand(opts: z.output<typeof statsSchema>, io: Io): Promise<number> {
  const target = resolveTarget(opts, io.env);
  const conn = await connect(target.redis, target.namespace);
  try {
    const [stats, sizes, workers, running] = await Promise.all([
      conn.client.stats(),
      conn.client.queueSizes(),
      conn.client.workers(),
      conn.redis.hgetall(conn.client.keys.running),
    ]);
    if (opts.json) {
      const queues = Object.entries(sizes).map(([name, waiting]) => ({ name, waiting, inFlight: Number(running[name] ?? 0) }));
      io.out(JSON.stringify({ namespace: target.namespace, ...stats, queueDepths: queues, workerList: workers }));
      return 0;
    }
    io.out(`processed ${stats.processed}  failed ${stats.failed}  pending ${stats.pending}  in flight ${stats.inFlight}  delayed ${stats.delayed}`);
    io.out('');
    const names = Object.keys(sizes);
    io.out(`queues (${names.length})`);
    if (names.length === 0) io.out('  none');
    else io.out(table([['QUEUE', 'WAITING', 'IN FLIGHT'], ...names.map((q) => [clean(q), String(sizes[q]), String(Number(running[q] ?? 0))])]).join('\n'));
    io.out('');
    io.out(`workers (${stats.workers}, ${stats.working} working)`);
    if (workers.length === 0) io.out('  none');
    else io.out(table([['WORKER', 'QUEUES', 'JOB'], ...workers.map((w) => [clean(w.id), clean(w.queues.join(',')), describeJob(w.job)])]).join('\n'));
  } finally {
    await conn.close();
  }
  return 0;
}
