// forkpool dashboard end to end in headless Chromium (Debian's chromium, driven by playwright-core),
// on Redis data written by Ruby Resque plus untrusted job data meant to inject script.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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
    assert.match(worker, /2026-11-27 07:12:02 \+0000/);
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
    assert.match(await failure.innerText(), /retried \d{4}\/\d\d\/\d\d/);
    assert.ok(await page.locator('#queues svg.spark polyline').count() >= 1, 'a sparkline per queue');

    await shoot(page, '#overview', 'overview');
    await shoot(page, '#queues', 'queues');
    await shoot(page, '#workers', 'workers');
    await shoot(page, '#failed', 'failed');

    // Remove one, then retry all: both failures go back on demo.
    await page.locator('#failed .failure[data-index="1"] button.remove').click();
    await until('the failure removed', async () => (await redis.llen('resque:failed')) === 1);
    await page.locator('#retry-all').click();
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
    assert.equal(await page.locator('button').count(), 0);
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
