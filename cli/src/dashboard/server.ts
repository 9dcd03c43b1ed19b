// The dashboard's HTTP server: the page, its state as JSON, and (with a token) retry and remove.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ForkpoolError } from '../../../queue/src/errors.ts';
import type { Connection } from '../connect.ts';
import type { JobPool } from '../../../operator/src/jobpool.ts';
import { describeSchedules } from '../schedules.ts';
import { QueueHistory } from './history.ts';
import type { DashboardState } from './state.ts';
import { loadUiFiles } from './ui-files.ts';

export interface DashboardOptions {
  readonly conn: Connection;
  readonly namespace: string;
  /** write actions need it (cookie or `Authorization: Bearer`); none: read-only */
  readonly token: string | undefined;
  /** a JobPool whose cron schedules to show */
  readonly pool: JobPool | undefined;
  readonly sampleMs: number;
  readonly historyLength: number;
  readonly log: Logger;
}

const COOKIE = 'forkpool_token';
/** Failures and delayed jobs shown per page. */
const LIST_COUNT = 50;
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function cookies(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      // a malformed cookie of someone else's: ignored
    }
  }
  return out;
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...headers });
  res.end(body);
}

const sendJson = (res: ServerResponse, status: number, body: unknown): void => send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  // A JSON content type cannot be sent cross-site without a CORS preflight, which this server never grants.
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'write requests must be application/json');
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 10_000) throw new HttpError(413, 'request too large');
  }
  try {
    const v: unknown = body ? JSON.parse(body) : {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'the body must be a JSON object');
  }
}

function indexOf(body: Record<string, unknown>): number {
  const i = body.index;
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 0) throw new HttpError(400, 'index must be a whole number >= 0');
  return i;
}

export interface Dashboard {
  readonly server: Server;
  /** stops sampling and closes the server */
  close(): Promise<void>;
}

export function createDashboard(o: DashboardOptions): Dashboard {
  const { client, redis } = o.conn;
  // Loaded now, served once ready; a failure is logged here and answered with 500 by the page's requests.
  const ui = loadUiFiles();
  ui.catch((err: unknown) => o.log.error({ err: String(err) }, 'cannot load the dashboard page'));
  const history = new QueueHistory(o.historyLength);
  const sample = async (): Promise<Record<string, number>> => {
    const sizes = await client.queueSizes();
    history.record(sizes);
    return sizes;
  };
  const timer = setInterval(() => {
    sample().catch((err: unknown) => o.log.warn({ err: String(err) }, 'cannot sample the queue depths'));
  }, o.sampleMs);

  const authorized = (req: IncomingMessage): boolean => {
    if (o.token === undefined) return false;
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const cookie = cookies(req)[COOKIE];
    return (bearer !== undefined && same(bearer, o.token)) || (cookie !== undefined && same(cookie, o.token));
  };

  const state = async (req: IncomingMessage): Promise<DashboardState> => {
    const [stats, running, workers, failedTotal, failed, delayedTotal, delayed, fired] = await Promise.all([
      client.stats(), redis.hgetall(client.keys.running), client.workers(), client.failed.count(), client.failed.list(0, LIST_COUNT),
      client.delayed.count(), client.delayed.list(0, LIST_COUNT), redis.hgetall(client.keys.scheduleFired),
    ]);
    const sizes = await client.queueSizes();
    return {
      namespace: o.namespace,
      canWrite: authorized(req),
      stats,
      queues: Object.entries(sizes).map(([name, waiting]) => {
        const h = history.of(name);
        return { name, waiting, inFlight: Number(running[name] ?? 0), history: [...h, waiting].slice(-o.historyLength) };
      }),
      workers,
      failed: { total: failedTotal, items: failed },
      delayed: { total: delayedTotal, items: delayed },
      schedulesKnown: o.pool !== undefined,
      schedules: o.pool ? await describeSchedules(o.pool, redis, client.keys) : [],
      fired: Object.entries(fired).map(([field, ms]) => ({ field, lastFired: new Date(Number(ms)).toISOString() })),
    };
  };

  const write = async (path: string, body: Record<string, unknown>): Promise<unknown> => {
    try {
      if (path === '/api/failed/retry') {
        const index = indexOf(body);
        await client.failed.retry(index);
        return { retried: index };
      }
      if (path === '/api/failed/remove') {
        const index = indexOf(body);
        await client.failed.remove(index);
        return { removed: index };
      }
      const total = await client.failed.count();
      let retried = 0;
      const errors: { index: number; error: string }[] = [];
      for (let index = 0; index < total; index++) {
        try {
          await client.failed.retry(index);
          retried++;
        } catch (err) {
          if (!(err instanceof ForkpoolError)) throw err;
          errors.push({ index, error: err.message });
        }
      }
      return { total, retried, errors };
    } catch (err) {
      if (err instanceof ForkpoolError) throw new HttpError(err.kind === 'not-found' ? 404 : 400, err.message);
      throw err;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method === 'GET' && url.pathname === '/') {
      const given = url.searchParams.get('token');
      if (given !== null) {
        // The token from the link becomes an HttpOnly cookie, and leaves the address bar.
        if (o.token === undefined || !same(given, o.token)) throw new HttpError(403, 'wrong token');
        send(res, 303, 'text/plain', 'signed in', {
          location: '/',
          'set-cookie': `${COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/`,
        });
        return;
      }
      send(res, 200, 'text/html; charset=utf-8', (await ui).page(authorized(req)));
    } else if (req.method === 'GET' && url.pathname === '/app.js') {
      send(res, 200, 'text/javascript; charset=utf-8', (await ui).js);
    } else if (req.method === 'GET' && url.pathname === '/app.css') {
      send(res, 200, 'text/css; charset=utf-8', (await ui).css);
    } else if (req.method === 'GET' && url.pathname === '/api/state') {
      sendJson(res, 200, await state(req));
    } else if (['/api/failed/retry', '/api/failed/remove', '/api/failed/retry-all'].includes(url.pathname)) {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      if (!authorized(req)) throw new HttpError(403, o.token === undefined ? 'the dashboard is read-only: start it with --token to retry and remove' : 'a valid token is needed');
      const result = await write(url.pathname, await readJson(req));
      o.log.info({ action: url.pathname, result }, 'write action');
      sendJson(res, 200, result);
    } else {
      throw new HttpError(404, 'not found');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) o.log.error({ err: String(err), url: req.url }, 'request failed');
      if (!res.headersSent) sendJson(res, status, { error: status === 500 ? `internal error: ${String(err)}` : (err as Error).message });
      else res.end();
    });
  });
  void sample().catch(() => undefined);
  return {
    server,
    async close() {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
