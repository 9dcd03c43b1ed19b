// forkpool schedule [jobpool.yaml]: the delayed jobs (resque-scheduler's delayed set) and a pool's cron schedules.
import type { z } from 'zod';
import { connect } from '../connect.ts';
import { brief, clean, table, utc } from '../format.ts';
import type { Io } from '../io.ts';
import { readJobPoolFile } from '../jobpool-file.ts';
import { commonSchema, intString, resolveTarget } from '../options.ts';
import { describeSchedules } from '../schedules.ts';

/** What `forkpool help schedule` says after the options. */
export const SCHEDULE_HELP = `
Lists the delayed jobs (enqueued with enqueueAt/enqueueIn or resque-scheduler), soonest first, and,
when a JobPool file is given, its cron schedules with their next and last fire times. With a file,
its spec.redis is used unless --redis is given.`;

export const scheduleSchema = commonSchema.extend({ count: intString('--count', 1).optional() });

/** forkpool schedule: delayed jobs, and a JobPool file's cron schedules. */
export async function scheduleCommand(opts: z.output<typeof scheduleSchema>, io: Io): Promise<number> {
  const [file] = opts.positionals;
  const pool = file !== undefined ? readJobPoolFile(file) : undefined;
  const target = resolveTarget(opts, io.env, pool && { url: pool.spec.redis.url, namespace: pool.spec.redis.namespace });
  const conn = await connect(target.redis, target.namespace);
  try {
    const [total, items] = await Promise.all([conn.client.delayed.count(), conn.client.delayed.list(0, opts.count ?? 50)]);
    const schedules = pool ? await describeSchedules(pool, conn.redis, conn.client.keys) : [];
    const delayed = items.map((d) => ({
      at: new Date(d.timestamp * 1000).toISOString(),
      queue: typeof d.payload?.queue === 'string' ? d.payload.queue : undefined,
      class: d.payload?.class,
      args: d.payload?.args,
      problem: d.problem,
    }));
    if (opts.json) {
      io.out(JSON.stringify({ delayed: { total, items: delayed }, schedules }));
      return 0;
    }
    io.out(`delayed jobs (${total})`);
    if (items.length === 0) io.out('  none');
    else {
      io.out(table([['DUE', 'QUEUE', 'JOB'], ...items.map((d) => [
        utc(d.timestamp),
        clean(typeof d.payload?.queue === 'string' ? d.payload.queue : '?'),
        d.payload ? `${clean(d.payload.class)} ${brief(d.payload.args, 60)}` : `unreadable: ${brief(d.raw)}`,
      ])]).join('\n'));
      if (items.length < total) io.out(`  … ${total - items.length} more (--count)`);
    }
    if (pool) {
      io.out('');
      io.out(`cron schedules of ${pool.metadata.name} (${schedules.length})`);
      if (schedules.length === 0) io.out('  none');
      else {
        io.out(table([['NAME', 'CRON', 'QUEUE', 'JOB', 'NEXT', 'LAST'], ...schedules.map((s) => [
          s.name, `${s.cron} (${s.timeZone})`, s.queue, `${clean(s.class)} ${brief(s.args, 40)}`,
          s.error ? `error: ${clean(s.error)}` : (s.next ?? 'never'), s.lastFired ?? '-',
        ])]).join('\n'));
      }
    }
  } finally {
    await conn.close();
  }
  return 0;
}
