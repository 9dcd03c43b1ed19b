// forkpool failed list | retry <index> | retry --all | remove <index>: Resque's failed list, by index as resque-web shows it.
import { z } from 'zod';
import { ForkpoolError } from '../../../queue/src/errors.ts';
import type { FailedItem } from '../../../queue/src/client.ts';
import { asRedisError, connect, type Connection } from '../connect.ts';
import { CliError, usageError } from '../errors.ts';
import { brief, clean } from '../format.ts';
import type { Io } from '../io.ts';
import { commonSchema, intString, resolveTarget } from '../options.ts';
import { progress } from '../progress.ts';

/** What `forkpool help failed` says after the commands. */
export const FAILED_HELP = `
The failed list (Resque's <ns>:failed), by index as resque-web numbers it, 0 first. retry puts a
failure's job back on its queue and marks the failure retried_at, as Resque::Failure.requeue does;
retry --all does so for every failure and shows progress on stderr. remove deletes one failure.`;

export const failedListSchema = commonSchema.extend({
  start: intString('--start').default(0),
  count: intString('--count', 1).default(50),
  backtrace: z.boolean().default(false),
});

export const failedRetrySchema = commonSchema.extend({ all: z.boolean().default(false) });

export const failedRemoveSchema = commonSchema;

/** A failure as the CLI shows it; only `index`, `problem` and `raw` when it is unreadable. */
interface FailureView {
  index: number;
  class?: string | undefined;
  args?: unknown[] | undefined;
  [field: string]: unknown;
}

function view(item: FailedItem): FailureView {
  const r = item.record;
  if (!r) return { index: item.index, problem: item.problem, raw: item.raw };
  const p = r.payload as { class?: unknown; args?: unknown } | null;
  return {
    index: item.index,
    failed_at: r.failed_at,
    queue: r.queue,
    class: p && typeof p.class === 'string' ? p.class : undefined,
    args: p && Array.isArray(p.args) ? p.args : undefined,
    exception: r.exception,
    error: r.error,
    backtrace: r.backtrace,
    worker: r.worker,
    retried_at: r.retried_at,
  };
}

const rethrow = (err: unknown): never => {
  if (err instanceof ForkpoolError) {
    throw new CliError(err.kind === 'not-found' ? 'notFound' : err.kind === 'invalid-argument' ? 'usage' : 'runtime', err.message);
  }
  throw asRedisError(err);
};

/** forkpool failed list: one page of the failed list. */
export async function failedListCommand(opts: z.output<typeof failedListSchema>, io: Io): Promise<number> {
  return withConnection(opts, io, (conn) => list(conn, io, opts));
}

async function list(conn: Connection, io: Io, opts: z.output<typeof failedListSchema>): Promise<number> {
  const start = opts.start;
  const [total, items] = await Promise.all([conn.client.failed.count(), conn.client.failed.list(start, opts.count)]);
  if (opts.json) {
    io.out(JSON.stringify({ total, start, items: items.map(view) }));
    return 0;
  }
  io.out(`${total} failed${items.length < total ? `, showing ${items.length === 0 ? 'none' : `${start}-${start + items.length - 1}`}` : ''}`);
  for (const item of items) {
    const v = view(item);
    if (!item.record) {
      io.out(`#${item.index}  unreadable: ${clean(item.problem ?? '')}  ${brief(item.raw)}`);
      continue;
    }
    const retried = item.record.retried_at ? `  (retried ${clean(item.record.retried_at)})` : '';
    io.out(`#${item.index}  ${clean(item.record.failed_at)}  ${clean(item.record.queue ?? '-')}  ${clean(v.class ?? '?')} ${brief(v.args ?? [], 60)}${retried}`);
    io.out(`    ${clean(item.record.exception)}: ${clean(item.record.error, false)}`);
    if (opts.backtrace) for (const line of item.record.backtrace) io.out(`      ${clean(line)}`);
  }
  return 0;
}

async function retryAll(conn: Connection, io: Io, json: boolean): Promise<number> {
  // The count is taken once: failures recorded meanwhile are appended after it and left alone.
  const total = await conn.client.failed.count();
  const bar = progress(io, 'retrying failures', total);
  const errors: { index: number; error: string }[] = [];
  let retried = 0;
  for (let index = 0; index < total; index++) {
    try {
      await conn.client.failed.retry(index);
      retried++;
    } catch (err) {
      if (!(err instanceof ForkpoolError)) throw asRedisError(err);
      errors.push({ index, error: err.message });
    }
    bar.tick(index + 1);
  }
  bar.finish(total);
  if (json) io.out(JSON.stringify({ total, retried, errors }));
  else {
    io.out(`retried ${retried} of ${total} failures`);
    for (const e of errors) io.out(`  #${e.index}: ${clean(e.error)}`);
  }
  return errors.length > 0 ? 1 : 0;
}

async function withConnection(opts: z.output<typeof commonSchema>, io: Io, work: (conn: Connection) => Promise<number>): Promise<number> {
  const target = resolveTarget(opts, io.env);
  const conn = await connect(target.redis, target.namespace);
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}

/** The index operand of retry and remove. */
function indexOf(text: string): number {
  const parsed = intString('index').safeParse(text);
  if (!parsed.success) throw usageError(parsed.error.issues[0]?.message ?? 'bad index');
  return parsed.data;
}

/** The failure at an index, or a `notFound` error. */
async function failureAt(conn: Connection, index: number): Promise<FailedItem> {
  const item = (await conn.client.failed.list(index, 1))[0];
  if (!item) throw new CliError('notFound', `no failure at index ${index} (there are ${await conn.client.failed.count()})`);
  return item;
}

/** forkpool failed retry <index> | --all: puts failed jobs back on their queues. */
export async function failedRetryCommand(opts: z.output<typeof failedRetrySchema>, io: Io): Promise<number> {
  const [indexArg] = opts.positionals;
  if (opts.all && indexArg !== undefined) throw usageError('give an index or --all, not both');
  if (!opts.all && indexArg === undefined) throw usageError('failed retry needs the index of a failure (see forkpool failed list) or --all');
  const index = indexArg === undefined ? undefined : indexOf(indexArg);
  return withConnection(opts, io, async (conn) => {
    if (index === undefined) return retryAll(conn, io, opts.json);
    const before = await failureAt(conn, index);
    const cls = view(before).class ?? '?';
    await conn.client.failed.retry(index).catch(rethrow);
    if (opts.json) io.out(JSON.stringify({ retried: index, class: cls, queue: before.record?.queue }));
    else io.out(`retried failure #${index}: ${clean(cls)} back on ${clean(before.record?.queue ?? '?')}`);
    return 0;
  });
}

/** forkpool failed remove <index>: deletes one failure. */
export async function failedRemoveCommand(opts: z.output<typeof failedRemoveSchema>, io: Io): Promise<number> {
  const index = indexOf(opts.positionals[0] ?? '');
  return withConnection(opts, io, async (conn) => {
    const before = await failureAt(conn, index);
    const cls = view(before).class ?? '?';
    await conn.client.failed.remove(index).catch(rethrow);
    if (opts.json) io.out(JSON.stringify({ removed: index, class: cls }));
    else io.out(`removed failure #${index} (${clean(cls)})`);
    return 0;
  });
}
