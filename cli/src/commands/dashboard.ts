// forkpool dashboard [jobpool.yaml]: a web page like resque-web, read-only unless started with a token.
import { pino } from 'pino';
import { z } from 'zod';
import { connect } from '../connect.ts';
import { createDashboard } from '../dashboard/server.ts';
import { CliError, usageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { readJobPoolFile } from '../jobpool-file.ts';
import { commonSchema, intString, resolveTarget } from '../options.ts';

/** What `forkpool help dashboard` says after the options. */
export const DASHBOARD_HELP = `
Serves a web page like resque-web: queues with their depth and a sparkline of the recent depth (a
page per queue with its jobs), workers with their current job, failed jobs newest first with
exception and backtrace (paged, filtered by queue and class), delayed jobs, and the cron schedules
of a JobPool file when one is given. It refreshes every 2 seconds.

It is read-only unless started with a token: then the page opened once as /?token=TOKEN (which
sets an HttpOnly cookie), or a request with "Authorization: Bearer TOKEN", may retry, remove,
retry all and clear failed jobs, delete a job or clear a queue, enqueue delayed jobs now or delete
them, and prune dead workers; other requests get 403 and see no buttons. With --token-reads, the
page shows nothing until signed in.

It answers only requests whose Host header is an IP address, localhost, the --host address or an
--allowed-host name (a leading dot allows a whole domain): behind an Ingress or a Service name,
list the names users type. /livez and /readyz (which pings Redis) answer any Host.`;

export const dashboardSchema = commonSchema.extend({
  port: intString('--port').default(5678).pipe(z.number().max(65_535, '--port must be at most 65535')),
  host: z.string().min(1).default('127.0.0.1'),
  token: z.string().min(8, '--token must have at least 8 characters').optional(),
  tokenReads: z.boolean().default(false),
  allowedHost: z.string().default('').transform((v) => v.split(',').map((h) => h.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^\.?[A-Za-z0-9_.-]+$/, 'must be host names, or .domain for every name under it'))),
  sample: intString('--sample', 1).default(5),
  pruneAfter: intString('--prune-after', 1).default(30),
});

/** forkpool dashboard: serves the page until Ctrl-C. */
export async function dashboardCommand(opts: z.output<typeof dashboardSchema>, io: Io): Promise<number> {
  const [file] = opts.positionals;
  const envToken = io.env.FORKPOOL_DASHBOARD_TOKEN?.trim() || undefined;
  const token = opts.token ?? envToken;
  if (token !== undefined && token.length < 8) throw usageError('FORKPOOL_DASHBOARD_TOKEN must have at least 8 characters');
  const tokenReads = opts.tokenReads || io.env.FORKPOOL_DASHBOARD_TOKEN_READS === 'true';
  if (tokenReads && token === undefined) throw usageError('--token-reads needs a token: --token or $FORKPOOL_DASHBOARD_TOKEN');
  const pool = file !== undefined ? readJobPoolFile(file) : undefined;
  const target = resolveTarget(opts, io.env, pool && { url: pool.spec.redis.url, namespace: pool.spec.redis.namespace });
  const conn = await connect(target.redis, target.namespace, { longLived: true });

  const log = pino({ name: 'forkpool-dashboard', level: 'warn' }, pino.destination(2));
  const dashboard = createDashboard({
    conn, namespace: target.namespace, token, tokenReads, host: opts.host, allowedHosts: opts.allowedHost, pruneAfterMs: opts.pruneAfter * 1000,
    pool, sampleMs: opts.sample * 1000, historyLength: 60, log,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      dashboard.server.once('error', reject);
      dashboard.server.listen(opts.port, opts.host, () => resolve());
    });
  } catch (err) {
    await dashboard.close().catch(() => undefined);
    await conn.close();
    throw new CliError('runtime', `cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
  }
  const addr = dashboard.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/`;
  if (opts.json) io.out(JSON.stringify({ url, write: token !== undefined }));
  io.err(`forkpool dashboard: ${url} on namespace ${target.namespace}; ` +
    (token !== undefined ? `${tokenReads ? 'reads and ' : ''}write actions need the token: open ${url}?token=<your token> once to sign in` : 'read-only (start with --token to act on jobs)') + '; Ctrl-C to stop');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await dashboard.close();
  await conn.close();
  return 0;
}
