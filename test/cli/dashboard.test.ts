// forkpool dashboard end to end in headless Chromium (Debian's chromium, driven by playwright-core),
// on Redis data written by Ruby Resque plus untrusted job data meant to inject script.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { encodeFailure, keys, scripts } from '../../queue/src/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { killStarted, loadResqueFixture, startCli } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'test-token-123';
const XSS_ARG = '<img src=x onerror="window.__xss=1">';
const XSS_SCRIPT = '<script>window.__xss=2</script>';

let server: RedisServer;
let redis: Redis;
let context: BrowserContext;
const dir = mkdtempSync(join(tmpdir(), 'forkpool-dashboard-test-'));
const screenshots = join(dir, 'screenshots');

/** Starts `forkpool dashboard` on a free port and returns its URL. */
async function startDashboard(args: string[]): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const d = startCli(['dashboard', '--redis', server.url, '--port', '0', '--json', '--sample', '1', ...args]);
  const line = await until('the dashboard URL', () => d.stdout().split('\n')[0] || undefined, 20_000);
  const { url } = JSON.parse(line) as { url: string };
  return { url, stop: async () => { d.proc.kill('SIGINT'); return d.exited; } };
}

/** A page of the dashboard signed in with the token, its dialogs accepted, its script errors collected. */
async function signedIn(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}?token=${TOKEN}`);
  await page.waitForSelector('body[data-loaded="1"]');
  return { page, errors };
}

/** A GET with the Host header given (fetch cannot set it): status and body. */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += String(c); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The indexes of the failure cards shown, in order. */
const shownIndexes = async (page: Page): Promise<number[]> =>
  (await page.locator('#failed .failure').evaluateAll((cards: { getAttribute(name: string): string | null }[]) => cards.map((c) => c.getAttribute('data-index')))).map(Number);

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/**
 * A screenshot of one section (kept with KEEP_SCREENSHOTS=1), checked for its size against the layout and for
 * not being blank: a uniform image compresses to a few hundred bytes.
 */
async function shoot(page: Page, selector: string, name: string): Promise<void> {
  const box = await page.locator(selector).boundingBox();
  assert.ok(box && box.width > 300 && box.height > 60, `${selector} is laid out (${JSON.stringify(box)})`);
  const png = await page.locator(selector).screenshot({ path: join(screenshots, `${name}.png`) });
  const size = pngSize(png);
  assert.ok(Math.abs(size.width - Math.round(box.width)) <= 2 && Math.abs(size.height - Math.round(box.height)) <= 2, `${name}: ${JSON.stringify(size)} vs ${JSON.stringify(box)}`);
  assert.ok(png.length > 3000, `${name}.png has content (${png.length} bytes)`);
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: the dashboard test needs Debian's chromium package (apt-get install -y chromium)`);
  }
  server = await startRedis();
  redis = server.connect();
  await loadResqueFixture(redis, ['enqueue', 'while_a_job_runs', 'after_a_job_raised', 'delayed']);
  // Untrusted job data: in a queue, a running job, and a failure's exception, error and backtrace.
  await redis.rpush('resque:queue:demo', JSON.stringify({ class: 'Evil', args: [XSS_ARG, XSS_SCRIPT] }));
  await redis.rpush('resque:failed', JSON.stringify({
    failed_at: '2026/11/27 07:13:00 UTC', payload: { class: 'Evil', args: [XSS_ARG] }, exception: '<img src=x onerror=window.__xss=3>',
    error: XSS_SCRIPT, backtrace: [`evil.rb:1:in ${XSS_ARG}`], worker: 'vm:1:demo', queue: 'demo',
  }));
  await redis.sadd('resque:workers', 'vm:2:demo');
  await redis.set('resque:worker:vm:2:demo', JSON.stringify({ queue: 'demo', run_at: '2026-11-27T07:14:00Z', payload: { class: 'Evil', args: [XSS_SCRIPT] } }));
  const profile = mkdtempSync(join(dir, 'profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await context?.close();
  killStarted();
  await server?.stop();
  if (process.env.KEEP_SCREENSHOTS === '1') console.log(`dashboard screenshots in ${screenshots}`);
  else rmSync(dir, { recursive: true, force: true });
});

describe('forkpool dashboard in Chromium', () => {
  it('shows Resque\'s data escaped, retries a failure (the queue grows), takes screenshots of the main views', async () => {
    const dash = await startDashboard(['--token', TOKEN]);
    const page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    // Signing in with the token link sets the cookie and leaves the token out of the address bar.
    await page.goto(`${dash.url}?token=${TOKEN}`);
    assert.equal(page.url(), dash.url);
    await page.waitForSelector('body[data-loaded="1"]');

    // Ruby Resque's data: the worker with its job and start time, the failure, the delayed job.
    const worker = await page.locator('#workers tr[data-worker="vm:11461:slow"]').innerText();
    assert.match(worker, /SleepJob \[5\] on slow/);
    assert.match(worker, /\d+ d ago/, 'times are relative');
    assert.equal(await page.locator('#workers tr[data-worker="vm:11461:slow"] time').first().getAttribute('title'), '2026-11-27 07:12:02 UTC', 'with the absolute time on hover');
    const failure = page.locator('#failed .failure[data-index="0"]');
    assert.match(await failure.innerText(), /ArgumentError: FailJob failed on purpose with \[7, "x"\]/);
    await failure.locator('summary').click();
    assert.equal(await failure.locator('pre.backtrace').innerText(), 'common.rb:29:in `perform\'');
    assert.match(await page.locator('#delayed').innerText(), /dq\s+NoopJob\s+\["x",1\]/);
    assert.match(await page.locator('#schedules').innerText(), /give the dashboard a JobPool file/);

    // Untrusted data is shown as text and never runs.
    assert.ok((await page.locator('#workers tr[data-worker="vm:2:demo"]').innerText()).includes('Evil ["<script>window.__xss=2</script>"] on demo'), 'a running job\'s args are shown literally');
    const evil = await page.locator('#failed .failure[data-index="1"]').innerText();
    assert.ok(evil.includes('<img src=x onerror=window.__xss=3>: <script>window.__xss=2</script>'), 'the failure\'s exception and error are shown literally');
    assert.ok(evil.includes('Evil ["<img src=x onerror=\\"window.__xss=1\\">"] on demo'), 'the failure\'s args are shown literally');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss), undefined);
    assert.equal(await page.locator('main img, main script').count(), 0);

    // Retry one: the demo queue grows by one, on the page and in Redis.
    const waiting = page.locator('#queues tr[data-queue="demo"] td.waiting');
    const before = Number(await waiting.innerText());
    assert.equal(before, await redis.llen('resque:queue:demo'));
    await failure.locator('button.retry').click();
    await until('the queue to grow on the page', async () => Number(await waiting.innerText()) === before + 1);
    assert.equal(await redis.llen('resque:queue:demo'), before + 1);
    assert.equal(await redis.lindex('resque:queue:demo', -1), '{"class":"FailJob","args":[7,"x"]}');
    assert.match(await failure.innerText(), /retried \d+ s ago/);
    assert.match(await failure.locator('time').last().getAttribute('title') ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    assert.ok(await page.locator('#queues svg.spark polyline').count() >= 1, 'a sparkline per queue');

    await shoot(page, '#overview', 'overview');
    await shoot(page, '#queues', 'queues');
    await shoot(page, '#workers', 'workers');
    await shoot(page, '#failed', 'failed');

    // Remove one, then retry all: both failures go back on demo.
    await page.locator('#failed .failure[data-index="1"] button.remove').click();
    await until('the failure removed', async () => (await redis.llen('resque:failed')) === 1);
    await page.locator('#failed button.retry-all').click();
    await until('retry all', async () => (await redis.llen('resque:queue:demo')) === before + 2);
    assert.deepEqual(errors, []);
    await page.close();
    assert.equal(await dash.stop(), 0);
  });

  it('is read-only without a token: no buttons, and write requests get 403', async () => {
    const dash = await startDashboard([]);
    const page = await context.newPage();
    await page.goto(dash.url);
    await page.waitForSelector('body[data-loaded="1"]');
    assert.match(await page.locator('header').innerText(), /read-only/);
    assert.ok((await page.locator('#failed .failure').count()) >= 1);
    assert.equal(await page.locator('main button:not(#failed-filter button)').count(), 0);
    const status = await page.evaluate(async () => (await fetch('/api/failed/retry', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"index":0}' })).status);
    assert.equal(status, 403);
    const before = await redis.llen('resque:queue:demo');
    for (const path of ['/api/failed/retry', '/api/failed/remove', '/api/failed/retry-all']) {
      const res = await fetch(new URL(path, dash.url), { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer guess-guess' }, body: '{"index":0}' });
      assert.equal(res.status, 403, path);
    }
    assert.equal(await redis.llen('resque:queue:demo'), before);
    await page.close();
    assert.equal(await dash.stop(), 0);
  });

  it('failed jobs: newest first, paged past 50, filtered; actions by identity after the list shifted; bulk actions count', async () => {
    const k = keys('paged');
    // 120 failures: odd n on queue odd, even on even; class B when n is a multiple of 3, else A.
    const failure = (n: number): string => encodeFailure({
      at: new Date(Date.now() - (120 - n) * 60_000), raw: JSON.stringify({ class: n % 3 ? 'A' : 'B', args: [n] }),
      exception: 'RuntimeError', error: `boom ${n}`, backtrace: [], worker: 'vm:1:odd,even', queue: n % 2 ? 'odd' : 'even',
    });
    await redis.rpush(k.failed, ...Array.from({ length: 120 }, (_, n) => failure(n)));
    await redis.sadd(k.queues, 'odd', 'even');
    const dash = await startDashboard(['--namespace', 'paged', '--token', TOKEN]);
    const { page, errors } = await signedIn(dash.url);

    const first = await shownIndexes(page);
    assert.equal(first.length, 50);
    assert.deepEqual(first.slice(0, 3), [119, 118, 117], 'newest first');
    assert.match(await page.locator('#failed .failure[data-index="119"]').innerText(), /failed \d+ min ago/);
    assert.equal(await page.locator('#failed .pager .range').innerText(), '1–50 of 120');
    await page.locator('#failed .pager button.next').click();
    await until('the second page', async () => (await shownIndexes(page))[0] === 69);
    await page.locator('#failed .pager button.next').click();
    await until('the last page', async () => (await shownIndexes(page))[0] === 19);
    assert.equal(await page.locator('#failed .pager .range').innerText(), '101–120 of 120');
    assert.equal((await shownIndexes(page)).at(-1), 0, 'the oldest failure is on the last page');
    assert.ok(await page.locator('#failed .pager button.next').isDisabled());

    // Filter: queue odd, class B.
    await page.locator('#failed-filter select').selectOption('odd');
    await page.locator('#failed-filter input').fill('B');
    await page.locator('#failed-filter button[type="submit"]').click();
    await until('the filter applied', async () => (await page.locator('#failed .count').innerText()) === '(20 matching)');
    assert.deepEqual((await shownIndexes(page)).slice(0, 3), [117, 111, 105]);

    // Someone else removes the 5 oldest failures: the list shifts under the page, index 117 holds failure 122.
    await redis.ltrim(k.failed, 5, -1);
    await page.locator('#failed .failure[data-index="117"] button.retry').click();
    await until('the retried job on odd', async () => (await redis.lrange(k.queue('odd'), 0, -1)).join() === '{"class":"B","args":[117]}');
    await until('the notice', async () => /retried failure #117/.test(await page.locator('#notice').innerText()));
    assert.match((await redis.lindex(k.failed, 112)) ?? '', /"error":"boom 117".*"retried_at"/, 'the failure seen is marked retried, at its new index');
    // Remove, after someone else removed a newer failure: failure 105 goes, found where it is now.
    await redis.lrem(k.failed, 1, (await redis.lrange(k.failed, 0, -1)).find((f) => f.includes('"boom 111"')) ?? '');
    const count = await redis.llen(k.failed);
    await page.locator('#failed .failure').filter({ hasText: 'boom 105' }).locator('button.remove').click();
    await until('the removal', async () => (await redis.llen(k.failed)) === count - 1);
    assert.ok(!(await redis.lrange(k.failed, 0, -1)).some((f) => f.includes('"boom 105"')), 'failure 105 removed, found where it is now');

    // Retry all on the filter counts what it did.
    await page.locator('#failed-filter select').selectOption('even');
    await page.locator('#failed-filter button[type="submit"]').click();
    await until('the even filter', async () => (await page.locator('#failed .count').innerText()) === '(19 matching)');
    await page.locator('#failed .actions button.retry-all').click();
    await until('retry all', async () => /retried 19/.test(await page.locator('#notice').innerText()));
    assert.equal(await redis.llen(k.queue('even')), 19);
    // Clear retried, on every queue: the 19 and #117.
    await page.locator('#failed-filter button.reset').click();
    await until('the filter reset', async () => (await page.locator('#failed .count').innerText()) === `(${count - 1})`);
    await page.locator('#failed .actions button.clear-retried').click();
    await until('clear retried', async () => /removed 20 retried failures/.test(await page.locator('#notice').innerText()));
    assert.equal(await redis.llen(k.failed), count - 1 - 20);
    assert.deepEqual(errors, []);
    await page.close();
    assert.equal(await dash.stop(), 0);
  });

  it('failed jobs: a vanished one is a clear message; Retry only where a retry can work; clear all counts', async () => {
    const k = keys('vanish');
    const good = encodeFailure({ at: new Date(), raw: '{"class":"Good","args":[1]}', exception: 'E', error: 'good one', backtrace: [], worker: 'w', queue: 'q' });
    const noQueue = encodeFailure({ at: new Date(), raw: '{"class":"Lost","args":[]}', exception: 'E', error: 'no queue', backtrace: [], worker: 'w', queue: null });
    const garbage = encodeFailure({ at: new Date(), raw: 'not json at all', exception: 'Forkpool::MalformedPayload', error: 'unparsable', backtrace: [], worker: 'w', queue: 'q' });
    await redis.rpush(k.failed, good, noQueue, garbage);
    const dash = await startDashboard(['--namespace', 'vanish', '--token', TOKEN]);
    const { page, errors } = await signedIn(dash.url);
    assert.equal(await page.locator('#failed .failure[data-index="0"] button.retry').count(), 1);
    assert.equal(await page.locator('#failed .failure[data-index="1"] button.retry').count(), 0, 'no queue: no Retry');
    assert.equal(await page.locator('#failed .failure[data-index="2"] button.retry').count(), 0, 'no readable job: no Retry');
    assert.equal(await page.locator('#failed .failure[data-index="2"] button.remove').count(), 1);
    // Retried elsewhere (so changed) after the page was drawn.
    await redis.lset(k.failed, 0, good.replace(/}$/, ',"retried_at":"2026/12/01 00:00:00 UTC"}'));
    await page.locator('#failed .failure[data-index="0"] button.retry').click();
    await until('the message', async () => /no longer in the failed list as it was shown/.test(await page.locator('#error').innerText()));
    assert.equal(await redis.llen(k.queue('q')), 0, 'nothing enqueued');
    await page.locator('#failed .actions button.clear-all').click();
    await until('clear all', async () => /removed 3 failures/.test(await page.locator('#notice').innerText()));
    assert.equal(await redis.exists(k.failed), 0);
    assert.deepEqual(errors, []);
    await page.close();
    assert.equal(await dash.stop(), 0);
  });

  it('a queue\'s page: its jobs paged, one deleted by identity after the queue moved, the queue cleared', async () => {
    const k = keys('qpage');
    await redis.sadd(k.queues, 'work');
    await redis.rpush(k.queue('work'), ...Array.from({ length: 60 }, (_, n) => JSON.stringify({ class: 'Work', args: [n] })));
    const dash = await startDashboard(['--namespace', 'qpage', '--token', TOKEN]);
    const { page, errors } = await signedIn(dash.url);
    await page.locator('#queues tr[data-queue="work"] a').click();
    await page.waitForSelector('#queue:not([hidden]) tbody tr[data-index="0"]');
    assert.equal(await page.locator('#queue .title').innerText(), 'Queue work');
    assert.equal(await page.locator('#queue tbody tr').count(), 50);
    await page.locator('#queue .pager button.next').click();
    await until('the second page', async () => (await page.locator('#queue tbody tr').count()) === 10);
    assert.match(await page.locator('#queue tbody tr').first().innerText(), /^50\s+Work\s+\[50\]/);
    // A worker takes two jobs from the head: the job shown as #55 is now at 53.
    await redis.lpop(k.queue('work'), 2);
    await page.locator('#queue tbody tr[data-index="55"] button.delete').click();
    await until('the delete', async () => (await redis.llen(k.queue('work'))) === 57);
    assert.ok(!(await redis.lrange(k.queue('work'), 0, -1)).includes('{"class":"Work","args":[55]}'), 'job 55 deleted, no other');
    await page.locator('#queue .actions button.clear-queue').click();
    await until('the queue cleared', async () => (await redis.exists(k.queue('work'))) === 0);
    await until('the notice', async () => /removed 57 jobs from work/.test(await page.locator('#notice').innerText()));
    assert.deepEqual(errors, []);
    await page.close();
    assert.equal(await dash.stop(), 0);
  });

  it('delayed jobs: enqueue now and delete; a cron schedule enqueued now; dead workers pruned with their jobs handed back', async () => {
    const k = keys('later');
    const at = Math.floor(Date.now() / 1000) + 3600;
    const [now, drop] = ['{"class":"Soon","args":[1],"queue":"dq"}', '{"class":"Drop","args":[2],"queue":"dq"}'];
    await redis.rpush(k.delayed(at), now, drop);
    await redis.zadd(k.delayedSchedule, at, String(at));
    for (const p of [now, drop]) await redis.sadd(k.timestamps(p), `delayed:${at}`);
    // A forkpool worker holding a job, its heartbeat a minute old; and a live one.
    const [dead, live] = ['node-a:7-1:dq', 'node-b:8-1:dq'];
    await redis.rpush(k.queue('dq'), '{"class":"Held","args":[]}');
    for (const w of [dead, live]) await scripts.heartbeat.run(redis, ['later', w, 2]);
    await scripts.reserve.run(redis, ['later', dead, '0', '', 0, 'dq']);
    await redis.zadd(k.alive, Date.now() - 60_000, dead);
    const pool = join(dir, 'pool.yaml');
    writeFileSync(pool, `apiVersion: forkpool.io/v1alpha1
kind: JobPool
metadata: { name: reports }
spec:
  redis: { url: "${server.url}", namespace: later }
  queues: [reports]
  template: { spec: { containers: [{ name: worker, image: example.com/jobs:1 }] } }
  schedules: [{ name: nightly, cron: "0 3 * * *", timeZone: UTC, queue: reports, class: DigestJob, args: [7] }]
`);
    const dash = await startDashboard([pool, '--namespace', 'later', '--token', TOKEN]);
    const { page, errors } = await signedIn(dash.url);
    await page.locator('#schedules tr[data-schedule="nightly"] button.enqueue-now').click();
    await until('the schedule enqueued now', async () => (await redis.lrange(k.queue('reports'), 0, -1)).join() === '{"class":"DigestJob","args":[7]}');

    const row = page.locator('#delayed tbody tr').filter({ hasText: 'Soon' });
    assert.match(await row.innerText(), /in (59 min|1 h)/);
    await row.locator('button.enqueue-now').click();
    await until('enqueued now', async () => (await redis.lrange(k.queue('dq'), 0, -1)).includes(now));
    await page.locator('#delayed tbody tr').filter({ hasText: 'Drop' }).locator('button.delete').click();
    await until('deleted', async () => (await redis.exists(k.delayedSchedule)) === 0);
    assert.equal(await redis.exists(k.timestamps(now), k.timestamps(drop), k.delayed(at)), 0, 'resque-scheduler\'s keys cleaned up');

    assert.equal(await page.locator('#workers tr.dead').count(), 1);
    assert.equal(await page.locator(`#workers tr.dead[data-worker="${dead}"]`).count(), 1);
    await page.locator('#workers button.prune').click();
    await until('pruned', async () => /pruned 1 workers, 1 jobs back on their queues/.test(await page.locator('#notice').innerText()));
    assert.deepEqual(await redis.smembers(k.workers), [live]);
    assert.ok((await redis.lrange(k.queue('dq'), 0, -1)).includes('{"class":"Held","args":[]}'), 'the held job is back');
    await until('the worker gone from the page', async () => (await page.locator(`#workers tr[data-worker="${dead}"]`).count()) === 0);
    assert.deepEqual(errors, []);
    await page.close();
    assert.equal(await dash.stop(), 0);
  });

  it('with --token-reads, a signed-out page says so and shows no data; signing in shows it', async () => {
    const dash = await startDashboard(['--token', TOKEN, '--token-reads']);
    // Cookies are not kept apart by port: the other dashboards' sign-ins would sign this one in.
    await context.clearCookies();
    const page = await context.newPage();
    await page.goto(dash.url);
    await page.waitForSelector('body[data-loaded="1"]');
    assert.match(await page.locator('#signed-out').innerText(), /Signed out[\s\S]*Open \/\?token=<token> once/);
    assert.equal(await page.locator('#failed').isVisible(), false);
    assert.equal(await page.locator('main .failure, main tr[data-queue]').count(), 0);
    const res = await fetch(new URL('/api/state', dash.url));
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { error: string }).error, /signed out/);
    await page.goto(`${dash.url}?token=${TOKEN}`);
    await page.waitForSelector('#failed .failure');
    assert.equal(await page.locator('#signed-out').isVisible(), false);
    await page.close();
    assert.equal(await dash.stop(), 0);
  });

  it('refuses a Host it was not told of (DNS rebinding); probes answer any Host', async () => {
    const dash = await startDashboard(['--allowed-host', 'dash.example.com,.internal.example']);
    const evil = await getWithHost(new URL('/api/state', dash.url).href, 'evil.example:5678');
    assert.equal(evil.status, 421);
    assert.match(evil.body, /does not answer to the host \\"evil.example:5678\\".*--allowed-host evil.example/);
    assert.equal((await getWithHost(new URL('/', dash.url).href, 'evil.example')).status, 421);
    for (const host of ['dash.example.com', 'a.internal.example:80', 'localhost:1', '127.0.0.1']) {
      assert.equal((await getWithHost(new URL('/api/state', dash.url).href, host)).status, 200, host);
    }
    assert.deepEqual(await getWithHost(new URL('/livez', dash.url).href, 'evil.example'), { status: 200, body: 'ok' });
    assert.deepEqual(await getWithHost(new URL('/readyz', dash.url).href, 'evil.example'), { status: 200, body: 'ok' });
    assert.equal(await dash.stop(), 0);
  });

  it('with a token, refuses requests without it', async () => {
    const dash = await startDashboard(['--token', TOKEN]);
    const anon = await fetch(new URL('/api/failed/retry-all', dash.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(anon.status, 403);
    const wrong = await fetch(new URL('/?token=nope-nope', dash.url), { redirect: 'manual' });
    assert.equal(wrong.status, 403);
    const html = await (await fetch(dash.url)).text();
    assert.match(html, /data-write="0"/);
    assert.equal(await dash.stop(), 0);
  });
});
