// The dashboard's HTTP server: the page, its state as JSON, and (with a token) the actions on failed, queued
// and delayed jobs and on dead workers.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Connection } from '../connect.ts';
import type { JobPool } from '../../../operator/src/jobpool.ts';
import { describeSchedules } from '../schedules.ts';
import { runAction, WRITE_PATHS } from './actions.ts';
import { QueueHistory } from './history.ts';
import { hostAllowed } from './host-check.ts';
import { HttpError } from './http-error.ts';
import type { DashboardState, WorkerState } from './state.ts';
import { loadUiFiles } from './ui-files.ts';

export interface DashboardOptions {
  readonly conn: Connection;
  readonly namespace: string;
  /** write actions need it (cookie or `Authorization: Bearer`); none: read-only */
  readonly token: string | undefined;
  /** whether reads need the token too */
  readonly tokenReads: boolean;
  /** the address the server is bound to, a name its Host header may carry */
  readonly host: string;
  /** other names the Host header may carry (`.example.com`: every name under it) */
  readonly allowedHosts: readonly string[];
  /** a worker whose heartbeat is older than this is dead, in ms */
  readonly pruneAfterMs: number;
  /** a JobPool whose cron schedules to show */
  readonly pool: JobPool | undefined;
  readonly sampleMs: number;
  readonly historyLength: number;
  readonly log: Logger;
}

const COOKIE = 'forkpool_token';
/** Items shown per page of every list. */
const PAGE_SIZE = 50;
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

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

/** A whole number >= 0 of the query, 0 when absent or not one. */
function startParam(url: URL, name: string): number {
  const n = Number(url.searchParams.get(name) ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** A query parameter, undefined when absent or empty. */
const param = (url: URL, name: string): string | undefined => url.searchParams.get(name) || undefined;

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

  const readable = (req: IncomingMessage): boolean => !o.tokenReads || authorized(req);

  const workerStates = async (): Promise<WorkerState[]> => {
    const [workers, [now = '0'], alive] = await Promise.all([client.workers(), redis.time(), redis.zrange(client.keys.alive, 0, -1, 'WITHSCORES')]);
    const beats = new Map<string, number>();
    for (let i = 0; i + 1 < alive.length; i += 2) beats.set(alive[i] ?? '', Number(alive[i + 1]));
    // Redis's clock, as the heartbeats are.
    const nowMs = Number(now) * 1000;
    return workers.map((w) => {
      const beat = beats.get(w.id);
      return { ...w, dead: beat !== undefined && beat < nowMs - o.pruneAfterMs };
    });
  };

  const state = async (req: IncomingMessage, url: URL): Promise<DashboardState> => {
    const filter = { queue: param(url, 'failedQueue'), className: param(url, 'failedClass') };
    const failedStart = startParam(url, 'failedStart');
    const delayedStart = startParam(url, 'delayedStart');
    const queueName = param(url, 'queue');
    if (queueName !== undefined && !/^\S+$/.test(queueName)) throw new HttpError(400, `no queue is named ${JSON.stringify(queueName)}: queue names have no spaces`);
    const queueStart = startParam(url, 'queueStart');
    const [stats, running, workers, failed, delayedTotal, delayed, fired, sizes] = await Promise.all([
      client.stats(), redis.hgetall(client.keys.running), workerStates(), client.failed.newest(failedStart, PAGE_SIZE, filter),
      client.delayed.count(), client.delayed.list(delayedStart, PAGE_SIZE), redis.hgetall(client.keys.scheduleFired), client.queueSizes(),
    ]);
    const queue = queueName === undefined ? undefined : {
      name: queueName,
      total: sizes[queueName] ?? 0,
      start: queueStart,
      items: (await client.peek(queueName, queueStart, PAGE_SIZE)).map((item, i) => ({ ...item, index: queueStart + i })),
    };
    return {
      namespace: o.namespace,
      canWrite: authorized(req),
      stats,
      queues: Object.entries(sizes).map(([name, waiting]) => {
        const h = history.of(name);
        return { name, waiting, inFlight: Number(running[name] ?? 0), history: [...h, waiting].slice(-o.historyLength) };
      }),
      workers,
      pageSize: PAGE_SIZE,
      failed: { ...failed, start: failedStart, ...filter },
      delayed: { total: delayedTotal, start: delayedStart, items: delayed },
      queue,
      pruneAfterSeconds: o.pruneAfterMs / 1000,
      schedulesKnown: o.pool !== undefined,
      schedules: o.pool ? await describeSchedules(o.pool, redis, client.keys) : [],
      fired: Object.entries(fired).map(([field, ms]) => ({ field, lastFired: new Date(Number(ms)).toISOString() })),
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    // Probes carry the pod's address or no useful Host, and these two answer nothing about the data.
    if (req.method === 'GET' && url.pathname === '/livez') {
      send(res, 200, 'text/plain', 'ok');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const pong = await redis.ping().catch((err: unknown) => `cannot reach Redis: ${String(err)}`);
      send(res, pong === 'PONG' ? 200 : 503, 'text/plain', pong === 'PONG' ? 'ok' : pong);
      return;
    }
    if (!hostAllowed(req.headers.host, o.host, o.allowedHosts)) {
      throw new HttpError(421, `this dashboard does not answer to the host ${JSON.stringify(req.headers.host ?? '')}: start it with --allowed-host ${(req.headers.host ?? '').replace(/:\d*$/, '') || 'NAME'} to allow that name`);
    }
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
      send(res, 200, 'text/html; charset=utf-8', (await ui).page({ write: authorized(req), signedOut: !readable(req), writable: o.token !== undefined }));
    } else if (req.method === 'GET' && url.pathname === '/app.js') {
      send(res, 200, 'text/javascript; charset=utf-8', (await ui).js);
    } else if (req.method === 'GET' && url.pathname === '/app.css') {
      send(res, 200, 'text/css; charset=utf-8', (await ui).css);
    } else if (req.method === 'GET' && url.pathname === '/api/state') {
      if (!readable(req)) throw new HttpError(401, 'signed out: this dashboard shows its data only with its token; open /?token=<token> once to sign in');
      sendJson(res, 200, await state(req, url));
    } else if (WRITE_PATHS.has(url.pathname)) {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      if (!authorized(req)) throw new HttpError(403, o.token === undefined ? 'the dashboard is read-only: start it with --token to act on jobs' : 'a valid token is needed');
      const result = await runAction(url.pathname, await readJson(req), { client, redis, pool: o.pool, pruneAfterMs: o.pruneAfterMs });
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
