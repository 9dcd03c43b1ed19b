// forkpool enqueue <queue> <Class> [json args...]: one job, as Resque.enqueue (or resque-scheduler's enqueue_in/at) would write it.
import { z } from 'zod';
import { connect } from '../connect.ts';
import { usageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { commonSchema, resolveTarget } from '../options.ts';
import { isoTime, jsonArgument } from '../values.ts';

/** What `forkpool help enqueue` says after the options. */
export const ENQUEUE_HELP = `
Each argument is one JSON value: strings need JSON quotes, and integers beyond 2^53 keep every digit.
  forkpool enqueue mailers WelcomeEmail 42 '"hello"' '{"vip":true}'
--in or --at puts the job in resque-scheduler's delayed set instead. --at takes ISO 8601 with a zone,
e.g. 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00; a time in the past is due at once.`;

export const enqueueSchema = commonSchema.extend({
  in: z.string().optional().transform((v, ctx) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || Number.isNaN(new Date(Date.now() + n * 1000).getTime())) {
      ctx.addIssue({ code: 'custom', message: `--in must be a number of seconds >= 0, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  }),
  at: z.string().optional(),
});

/** forkpool enqueue: appends one job, or schedules it with --in or --at. */
export async function enqueueCommand(opts: z.output<typeof enqueueSchema>, io: Io): Promise<number> {
  const [queue, className, ...rest] = opts.positionals;
  if (queue === undefined || className === undefined) throw usageError('enqueue needs a queue and a class: forkpool enqueue <queue> <Class> [json args...]');
  if (!/^\S+$/.test(queue)) throw usageError(`queue must be a name without spaces, got ${JSON.stringify(queue)}`);
  if (!/^\S+$/.test(className)) throw usageError(`class must be a name without spaces, got ${JSON.stringify(className)}`);
  const args = rest.map((a, i) => jsonArgument(a, i + 1));
  const at = opts.at !== undefined ? isoTime(opts.at, '--at') : opts.in !== undefined ? new Date(Date.now() + opts.in * 1000) : undefined;
  if (opts.at !== undefined && at !== undefined && at.getTime() < Date.now()) {
    io.err(`warning: --at ${opts.at} is in the past: the job is due at once, and the scheduler (the operator, or forkpool up) moves it to its queue at its next tick`);
  }

  const target = resolveTarget(opts, io.env);
  const conn = await connect(target.redis, target.namespace);
  try {
    if (at) {
      await conn.client.enqueueAt(at, queue, className, ...args);
      const when = new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString();
      if (opts.json) io.out(JSON.stringify({ queue, class: className, args, at: when }));
      else io.out(`scheduled ${className} on ${queue} for ${when}`);
    } else {
      await conn.client.enqueue(queue, className, ...args);
      const depth = await conn.redis.llen(conn.client.keys.queue(queue));
      if (opts.json) io.out(JSON.stringify({ queue, class: className, args, depth }));
      else io.out(`enqueued ${className} on ${queue} (${depth} waiting)`);
    }
  } finally {
    await conn.close();
  }
  return 0;
}
