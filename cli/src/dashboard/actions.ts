// The dashboard's write actions: each a POST path, its JSON body checked by a zod schema, and what it did.
// A job is named by where the page saw it and the SHA-1 of its text, so a list that shifted since the page
// was drawn never makes an action hit another job: a job gone by then is a 409 the page shows.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ForkpoolClient } from '../../../queue/src/client.ts';
import { ForkpoolError } from '../../../queue/src/errors.ts';
import { DEFAULT_MAX_RECOVERIES, scripts, type Requeued } from '../../../queue/src/scripts.ts';
import type { JobPool } from '../../../operator/src/jobpool.ts';
import { HttpError } from './http-error.ts';

/** What an action works with. */
export interface ActionContext {
  readonly client: ForkpoolClient;
  readonly redis: Redis;
  readonly pool: JobPool | undefined;
  readonly pruneAfterMs: number;
}

const ref = z.object({ index: z.number().int().min(0), id: z.string().regex(/^[0-9a-f]{40}$/, 'id must be a SHA-1 in hex') });
const filter = z.object({ queue: z.string().min(1).optional(), className: z.string().min(1).optional() });
const queued = ref.extend({ queue: z.string().min(1) });
const queue = z.object({ queue: z.string().min(1) });
const delayed = z.object({ timestamp: z.number().int(), id: ref.shape.id });
const schedule = z.object({ name: z.string().min(1) });

type Handler = (body: unknown, c: ActionContext) => Promise<unknown>;

/** An action whose body is checked by `schema` first. */
const action = <S extends z.ZodType>(schema: S, run: (body: z.output<S>, c: ActionContext) => Promise<unknown>): Handler =>
  async (body, c) => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    return run(parsed.data, c);
  };

const actions: Record<string, Handler> = {
  '/api/failed/retry': action(ref, async (r, c) => {
    await c.client.failed.retry(r);
    return { retried: 1 };
  }),
  '/api/failed/remove': action(ref, async (r, c) => {
    await c.client.failed.remove(r);
    return { removed: 1 };
  }),
  '/api/failed/retry-all': action(filter, async (f, c) => {
    const res = await c.client.failed.retryAll(f);
    return { retried: res.done, skipped: res.skipped, gone: res.gone };
  }),
  '/api/failed/clear-retried': action(filter, async (f, c) => ({ removed: (await c.client.failed.clearRetried(f)).done })),
  '/api/failed/clear': action(filter, async (f, c) => ({ removed: await c.client.failed.clear(f) })),
  '/api/queue/remove-job': action(queued, async (r, c) => {
    await c.client.removeJob(r.queue, r);
    return { removed: 1 };
  }),
  '/api/queue/clear': action(queue, async (q, c) => ({ removed: await c.client.removeQueue(q.queue) })),
  '/api/delayed/enqueue-now': action(delayed, async (d, c) => {
    await c.client.delayed.take(d.timestamp, d.id, true);
    return { enqueued: 1 };
  }),
  '/api/delayed/remove': action(delayed, async (d, c) => {
    await c.client.delayed.take(d.timestamp, d.id, false);
    return { removed: 1 };
  }),
  '/api/schedules/enqueue-now': action(schedule, async (s, c) => {
    const found = c.pool?.spec.schedules.find((x) => x.name === s.name);
    if (!found) throw new HttpError(404, `no cron schedule ${JSON.stringify(s.name)} in the JobPool file the dashboard was given`);
    await c.client.enqueue(found.queue, found.class, ...found.args);
    return { enqueued: 1 };
  }),
  '/api/workers/prune': action(z.object({}), async (_, c) => {
    const res = (await scripts.requeueDead.run(c.redis, [c.client.keys.namespace, c.pruneAfterMs, DEFAULT_MAX_RECOVERIES])) as Requeued[];
    return { pruned: res.length, handedBack: res.reduce((n, r) => n + r.handedBack, 0) };
  }),
};

/** The paths of the write actions. */
export const WRITE_PATHS: ReadonlySet<string> = new Set(Object.keys(actions));

/** Runs the action of `path`; a client error becomes the HTTP status a user can act on. */
export async function runAction(path: string, body: unknown, c: ActionContext): Promise<unknown> {
  const handler = actions[path];
  if (!handler) throw new HttpError(404, 'not found');
  try {
    return await handler(body, c);
  } catch (err) {
    if (err instanceof ForkpoolError) throw new HttpError(err.kind === 'not-found' ? 409 : 400, err.message);
    throw err;
  }
}
