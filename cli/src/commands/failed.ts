// forkpool failed list|retry <index>|retry --all|remove <index>: Resque's failed list, by index as resque-web shows it.
import { z } from 'zod';
import { ForkpoolError } from '../../../queue/src/errors.ts';
import type { FailedItem } from '../../../queue/src/client.ts';
import { asRedisError, connect, type Connection } from '../connect.ts';
import { CliError, usageError } from '../errors.ts';
import { brief, clean } from '../format.ts';
import type { Io } from '../io.ts';
import { COMMON_HELP, commonSchema, intString, parseCommand, resolveTarget } from '../options.ts';
import { progress } from '../progress.ts';

export const FAILED_HELP = `Usage: forkpool failed list [--start N] [--count N] [--backtrace]
       forkpool failed retry <index>
       forkpool failed retry --all
       forkpool failed remove <index>

The failed list (Resque's <ns>:failed), by index as resque-web numbers it, 0 first.
retry puts a failure's job back on its queue and marks the failure retried_at, as
Resque::Failure.requeue does; retry --all does so for every failure and shows progress on stderr.
remove deletes one failure.

Options:
  --start N          first index to list (default 0)
  --count N          how many to list (default 50)
  --backtrace        list the backtraces too
  --all              retry every failure
${COMMON_HELP}`;

const schema = commonSchema.extend({
  start: intString('--start').optional(),
  count: intString('--count', 1).optional(),
  backtrace: z.boolean().default(false),
  all: z.boolean().default(false),
});

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

async function list(conn: Connection, io: Io, opts: z.output<typeof schema>): Promise<number> {
  const start = opts.start ?? 0;
  const [total, items] = await Promise.all([conn.client.failed.count(), conn.client.failed.list(start, opts.count ?? 50)]);
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

export async function failedCommand(argv: readonly string[], io: Io): Promise<number> {
  const opts = parseCommand(argv, {
    start: { type: 'string' }, count: { type: 'string' }, backtrace: { type: 'boolean' }, all: { type: 'boolean' },
  }, schema);
  if (!opts) {
    io.out(FAILED_HELP);
    return 0;
  }
  const [action, indexArg, ...extra] = opts.positionals;
  if (action === undefined) throw usageError('failed needs an action: list, retry or remove (forkpool failed --help)');
  if (!['list', 'retry', 'remove'].includes(action)) throw usageError(`unknown failed action ${JSON.stringify(action)}: use list, retry or remove`);
  if (extra.length > 0) throw usageError(`unexpected arguments: ${extra.join(' ')}`);
  if (action === 'list' && indexArg !== undefined) throw usageError('failed list takes no index; use --start and --count');
  if (action !== 'list' && (opts.start !== undefined || opts.count !== undefined || opts.backtrace)) throw usageError('--start, --count and --backtrace go with failed list');
  if (action !== 'retry' && opts.all) throw usageError('--all goes with failed retry');
  let index: number | undefined;
  if (action !== 'list') {
    if (opts.all && indexArg !== undefined) throw usageError('give an index or --all, not both');
    if (!opts.all) {
      if (indexArg === undefined) throw usageError(`failed ${action} needs the index of a failure (see forkpool failed list)${action === 'retry' ? ' or --all' : ''}`);
      const parsed = intString('index').safeParse(indexArg);
      if (!parsed.success) throw usageError(parsed.error.issues[0]?.message ?? 'bad index');
      index = parsed.data;
    }
  }

  const target = resolveTarget(opts, io.env);
  const conn = await connect(target.url, target.namespace);
  try {
    if (action === 'list') return await list(conn, io, opts);
    if (action === 'retry' && opts.all) return await retryAll(conn, io, opts.json);
    const i = index ?? 0;
    const before = (await conn.client.failed.list(i, 1))[0];
    if (!before) throw new CliError('notFound', `no failure at index ${i} (there are ${await conn.client.failed.count()})`);
    const cls = view(before).class ?? '?';
    if (action === 'retry') {
      await conn.client.failed.retry(i).catch(rethrow);
      if (opts.json) io.out(JSON.stringify({ retried: i, class: cls, queue: before.record?.queue }));
      else io.out(`retried failure #${i}: ${clean(cls)} back on ${clean(before.record?.queue ?? '?')}`);
    } else {
      await conn.client.failed.remove(i).catch(rethrow);
      if (opts.json) io.out(JSON.stringify({ removed: i, class: cls }));
      else io.out(`removed failure #${i} (${clean(cls)})`);
    }
    return 0;
  } finally {
    await conn.close();
  }
}
