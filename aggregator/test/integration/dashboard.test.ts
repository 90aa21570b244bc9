/**
 * The dashboard end to end in a real browser: headless Chromium driven by playwright-core
 * against a real aggregator process with AUTH_TOKEN set, fed by the real Deno publisher.
 *
 * The browser comes from npm (@sparticuz/chromium) or the system (support/browser.ts). When none
 * can run, or SKIP_BROWSER_TESTS=1, this file's tests are skipped with the reason printed;
 * REQUIRE_BROWSER_TESTS=1 (set by .ci/run) turns that into a failure, so CI always runs them.
 * DASHBOARD_SCREENSHOT=<path> saves a screenshot of the page at the end (docs/dashboard.png).
 */
import type { Stats } from '../../src/api/contract';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { type BrowserSearch, findBrowser } from '../support/browser';
import { makeEvent } from '../support/harness';
import { startDedicatedPostgres } from '../../local/dedicated-postgres';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';

// No network beyond 127.0.0.1, no first-run UI, no background updaters: nothing but the page.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
const TOKEN = 'dashboard-token-0123456789';
const PUBLISH_ONLY = 'dashboard-publish-only-0123456789';
const ROOT = resolve(import.meta.dir, '../../..');
const DENO = join(ROOT, 'node_modules/.bin/deno');

const found: BrowserSearch = process.env.SKIP_BROWSER_TESTS === '1' ? { browser: null, reason: 'SKIP_BROWSER_TESTS=1' } : await findBrowser();
const browser = found.browser;
if (!found.browser) {
  if (process.env.REQUIRE_BROWSER_TESTS === '1') throw new Error(`REQUIRE_BROWSER_TESTS=1 but ${found.reason}`);
  console.log(`[skip] dashboard.test.ts: ${found.reason}`);
} else {
  console.log(`[dashboard] browser: ${found.browser.source}`);
}
const skip = !browser;

let db: TestDatabase;
let agg: AggregatorProcess;
let context: BrowserContext;
let profile: string;

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${agg.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } });

/** Runs the Deno publisher against the aggregator; resolves with its exit code and output. */
async function runPublisher(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([DENO, 'run', '--allow-net', '--allow-env', '--allow-read', 'publisher/main.ts', '--url', agg.url, ...args], {
    cwd: ROOT,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, NO_COLOR: '1' },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

const text = (page: Page, selector: string) => page.locator(selector).innerText();

/**
 * For the README's screenshot only: a second, slower load with more topics and a busy tail,
 * photographed while it runs.
 */
async function takeScreenshot(page: Page, path: string): Promise<void> {
  let tailing = true;
  const tail = (async () => {
    const routes = ['/checkout', '/cart', '/login', '/search'];
    for (let i = 0; tailing; i++) {
      const event = makeEvent({
        topic: 'topic-1',
        event_id: `web-${i}`,
        source: 'web-7f9c',
        payload: { level: 'info', route: routes[i % 4], status: 200, ms: 8 + ((i * 7) % 40) },
      });
      await api('/publish', { method: 'POST', body: JSON.stringify(event) });
      await Bun.sleep(400);
    }
  })();
  const second = runPublisher([
    '--events',
    '9000',
    '--dup-rate',
    '0.35',
    '--topics',
    '6',
    '--batch',
    '100',
    '--rate',
    '1000',
    '--seed',
    '8',
    '--token',
    TOKEN,
  ]);
  await Bun.sleep(7_500);
  await page.screenshot({ path, fullPage: true });
  expect((await second).code).toBe(0);
  tailing = false;
  await tail;
}

/** Chooses `topic` for the live tail, expects `mode`, publishes one event and sees it alone. */
async function tailAndSee(page: Page, topic: string, mode: string, eventId: string): Promise<void> {
  await page.selectOption('#tail-topic', topic);
  await waitFor(`the tail of ${topic} via ${mode}`, async () => (await text(page, '#tail-mode')).startsWith(mode));
  const event = makeEvent({ topic, event_id: eventId, source: 'dashboard-test', payload: { hello: 'chromium' } });
  expect((await api('/publish', { method: 'POST', body: JSON.stringify(event) })).status).toBe(202);
  await page.locator('#tail li', { hasText: eventId }).waitFor({ timeout: 15_000 });
  expect(await page.locator('#tail li').first().innerText()).toContain('"hello":"chromium"');
  expect(await page.locator('#tail li').count()).toBe(1);
}

/** Token prompt, totals, chart, topics and live tail, with the real publisher as the load. */
async function exerciseDashboard(page: Page): Promise<void> {
  const requests: { url: string; authorization: string | undefined }[] = [];
  page.on('request', (request) => requests.push({ url: request.url(), authorization: request.headers().authorization }));
  await page.goto(agg.url);

  // The API refuses the page until it has a token; a wrong one is refused visibly.
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#token', 'not-the-token-at-all-000');
  await page.click('#login button[type=submit]');
  await page.locator('#login-error').waitFor({ state: 'visible' });
  await page.fill('#token', TOKEN);
  await page.click('#login button[type=submit]');
  await page.locator('#login').waitFor({ state: 'hidden' });
  await waitFor('the first totals', async () => (await text(page, '#kpi-received')) === '0');
  await waitFor('two samples', async () => Number(await page.locator('#throughput').getAttribute('data-samples')) >= 2);
  expect(await page.locator('#throughput').getAttribute('data-peak')).toBe('0');
  const chartBefore = await page.locator('#throughput').screenshot();

  // Kept for the session: a reload asks no more.
  await page.reload();
  await waitFor('totals after reload', async () => (await text(page, '#kpi-received')) === '0');
  expect(await page.locator('#login').isVisible()).toBe(false);

  // The real publisher, with the token, a steady rate and duplicates.
  const published = await runPublisher([
    '--events',
    '6000',
    '--dup-rate',
    '0.25',
    '--topics',
    '4',
    '--batch',
    '100',
    '--rate',
    '1500',
    '--seed',
    '7',
    '--token',
    TOKEN,
    '--verify',
    '--json',
  ]);
  expect(published.code).toBe(0);
  const summary = JSON.parse(published.stdout) as { verify: { ok: boolean } };
  expect(summary.verify.ok).toBe(true);

  const stats = (await (await api('/stats')).json()) as Stats;
  expect(stats.received).toBe(6000);
  const formatted = (n: number) => n.toLocaleString('en-US');
  const expected = [stats.received, stats.unique_processed, stats.duplicate_dropped, 0, 4].map(formatted).join(' ');
  const shown = async () =>
    (await Promise.all(['received', 'unique', 'duplicates', 'pending', 'topics'].map((k) => text(page, `#kpi-${k}`)))).join(' ');
  await waitFor(`the totals to show ${expected}`, async () => (await shown()) === expected);
  expect(await text(page, '#uptime')).toMatch(/\d/);

  // The chart moved: it saw a rate above zero, and its pixels changed.
  expect(Number(await page.locator('#throughput').getAttribute('data-peak'))).toBeGreaterThan(100);
  expect(Buffer.compare(chartBefore, await page.locator('#throughput').screenshot())).not.toBe(0);

  // Per-topic counts add up to the unique total.
  const topicTotal = async () => (await page.locator('#topics td.count').allInnerTexts()).reduce((sum, c) => sum + Number(c.replaceAll(',', '')), 0);
  await waitFor('per-topic counts to add up to unique', async () => (await topicTotal()) === stats.unique_processed);
  expect(await page.locator('#topics tr').count()).toBe(4);

  // Live tail through /subscribe (fetch, token in the Authorization header, never in the URL):
  // choose a topic, publish to it, see the event arrive, and nothing older.
  await tailAndSee(page, 'topic-1', 'live (server-sent events)', 'seen-through-sse');

  // An aggregator without /subscribe: the page falls back to polling /events.
  await page.route('**/subscribe?*', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no such route"}' }));
  await tailAndSee(page, 'topic-2', 'polling /events', 'seen-by-polling');
  await page.unroute('**/subscribe?*');
  await tailAndSee(page, 'topic-1', 'live (server-sent events)', 'seen-through-sse-again');

  // No URL the page requested carries the token; the stream was read with it in the header.
  expect(requests.length).toBeGreaterThan(0);
  expect(requests.filter((r) => r.url.includes(TOKEN) || /access_token/i.test(r.url))).toEqual([]);
  const streams = requests.filter((r) => new URL(r.url).pathname === '/subscribe');
  expect(streams.length).toBeGreaterThan(0);
  for (const stream of streams) expect(stream.authorization).toBe(`Bearer ${TOKEN}`);

  const screenshot = process.env.DASHBOARD_SCREENSHOT;
  if (screenshot) await takeScreenshot(page, resolve(ROOT, screenshot));
}

beforeAll(async () => {
  if (skip) return;
  db = await createTestDatabase('dashboard');
  agg = await spawnAggregator({
    DATABASE_URL: db.url,
    AUTH_TOKEN: TOKEN,
    AUTH_TOKENS: `publisher:publish:${PUBLISH_ONLY}`,
    LOG_LEVEL: 'debug',
    WORKERS: '2',
  });
  profile = mkdtempSync(join(tmpdir(), 'logbus-chromium-'));
  // A persistent context on a fresh folder: Playwright refuses --user-data-dir in args.
  [context] = await Promise.all([
    chromium.launchPersistentContext(profile, {
      executablePath: browser!.executablePath,
      env: { ...process.env, ...browser!.env } as Record<string, string>,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
      timeout: 150_000,
    }),
    agg.waitReady(150_000),
  ]);
  // At load 32 (four suites on two cores) the database, the process and Chromium together took
  // more than the 60 s this hook had: every test failed before it began.
}, 180_000);

afterAll(async () => {
  if (skip) return;
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  agg?.kill('SIGTERM');
  await agg?.exited;
  await db?.drop();
}, 30_000);

describe.skipIf(skip)('dashboard in Chromium', () => {
  test('asks for the token once, then shows totals, throughput, topics and a live tail', async () => {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await exerciseDashboard(page);
    } catch (error) {
      // What the browser showed and what the server said, for a failure seen only in CI.
      const shot = join(tmpdir(), `logbus-dashboard-failure-${Date.now()}.png`);
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
      console.error(
        `[dashboard] failed; page screenshot: ${shot}; page errors: ${JSON.stringify(pageErrors)}\n[dashboard] aggregator output (end):\n${agg.output().slice(-3000)}`,
      );
      throw error;
    }
    expect(pageErrors).toEqual([]);
  }, 90_000);

  test('at 390 px with tail rows nothing overflows; charts, status, buttons and the sign-in dialog have accessible names', async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      // The sign-in dialog: named, its field labelled; Escape leaves a way back.
      await page.goto(agg.url);
      await page.getByRole('dialog', { name: 'Token required' }).waitFor({ state: 'visible' });
      expect(await page.getByLabel('Token', { exact: true }).getAttribute('id')).toBe('token');
      const help = await page.locator('#login-help').innerText();
      expect(help).not.toContain('has AUTH_TOKEN set');
      expect(help).toContain('AUTH_TOKEN, AUTH_TOKENS or AUTH_TOKENS_FILE');
      await page.keyboard.press('Escape');
      await page.locator('#login').waitFor({ state: 'hidden' });
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#login').waitFor({ state: 'visible' });
      // A valid token without the read scope is told so, with the server's words.
      await page.fill('#token', PUBLISH_ONLY);
      await page.click('#login button[type=submit]');
      await page.locator('#login-error').waitFor({ state: 'visible' });
      const refusal = await text(page, '#login-error');
      // The page's own words, not only the server's quoted inside "That token was refused".
      expect(refusal).toStartWith('This token lacks the read scope the dashboard needs');
      expect(refusal).not.toContain('refused');
      expect(refusal).toMatch(/\(server: token "publisher" lacks the read scope needed for GET \//);
      await page.fill('#token', TOKEN);
      await page.click('#login button[type=submit]');
      await page.locator('#login').waitFor({ state: 'hidden' });

      // A topic with long ids and a wide payload, tailed.
      const long = (i: number) =>
        makeEvent({
          topic: 'phone-topic',
          event_id: `a-rather-long-event-identifier-${i}-${'x'.repeat(40)}`,
          source: 'a-source-name-that-is-long-too',
          payload: { message: 'w'.repeat(300), i },
        });
      expect((await api('/publish', { method: 'POST', body: JSON.stringify([long(0), makeEvent({ topic: 'phone-other' })]) })).status).toBe(202);
      await page.getByRole('button', { name: 'Tail phone-topic' }).waitFor({ timeout: 20_000 });
      await page.getByRole('button', { name: 'Tail phone-topic' }).click();
      await waitFor('the tail to go live', async () => (await text(page, '#tail-mode')).length > 0);
      expect((await api('/publish', { method: 'POST', body: JSON.stringify([1, 2, 3].map(long)) })).status).toBe(202);
      await waitFor('three tail rows', async () => (await page.locator('#tail li').count()) >= 3);

      const overflow = await page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('.kpi, .legend li, .card, #tail li span, header > *')]
          .filter((el) => el.getBoundingClientRect().right > width + 0.5)
          .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
        return { width, scrollWidth: document.documentElement.scrollWidth, wide };
      });
      expect(overflow.width).toBe(390);
      expect(overflow).toEqual({ width: 390, scrollWidth: 390, wide: [] });

      // Text alternatives and names.
      // (described from the second /stats sample on: the first has no rate yet)
      await page.getByRole('img', { name: /^Throughput, events per second, latest sample: received \d/ }).waitFor({ timeout: 20_000 });
      await page.getByRole('img', { name: /^Backlog, latest sample: \d+ pending events$/ }).waitFor({ timeout: 20_000 });
      expect(await page.locator('#status').getAttribute('aria-live')).toBe('polite');
      const names = await page.locator('#topics button').evaluateAll((buttons) => buttons.map((b) => b.getAttribute('aria-label')));
      expect(names.length).toBeGreaterThan(1);
      expect(new Set(names).size).toBe(names.length);
      // Axis labels keep two decimals below 10 (a 0.25 step is 0.25, not 0.3).
      const ticks = await page.evaluate(async (module) => {
        const { compact } = (await import(module)) as { compact: (n: number) => string };
        return [0.25, 0.5, 0.75, 2.5, 12.5, 1500].map(compact);
      }, '/dashboard/chart.js');
      expect(ticks).toEqual(['0.25', '0.5', '0.75', '2.5', '12.5', '1.5k']);
      const shot = process.env.DASHBOARD_PHONE_SCREENSHOT;
      if (shot) await page.screenshot({ path: resolve(ROOT, shot), fullPage: true });
    } finally {
      await page.close();
    }
  }, 90_000);

  test('a database outage: banner with the server error, "last updated N s ago" and dimmed, gaps in the charts, no claimed emptiness', async () => {
    const pg = await startDedicatedPostgres();
    const down = await spawnAggregator({ DATABASE_URL: pg.url, WORKERS: '1' });
    const pages: Page[] = [];
    try {
      await down.waitReady(60_000);
      const publish = await fetch(`${down.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([makeEvent({ topic: 'outage-topic' })]),
      });
      expect(publish.status).toBe(202);
      const watching = await context.newPage();
      pages.push(watching);
      await watching.goto(down.url);
      await watching.locator('#topics td.name', { hasText: 'outage-topic' }).waitFor({ timeout: 20_000 });
      await waitFor('two throughput samples', async () => Number(await watching.locator('#throughput').getAttribute('data-samples')) >= 2);
      await watching.getByRole('button', { name: 'Tail outage-topic' }).click();
      await waitFor('the tail to go live', async () => (await text(watching, '#tail-mode')) === 'live (server-sent events)');
      // Positive control: healthy, nothing stale, no gap.
      expect(await watching.locator('#banner').isVisible()).toBe(false);
      expect(await watching.locator('#throughput').getAttribute('data-gaps')).toBe('0');

      await pg.stop();
      const stats = await fetch(`${down.url}/stats`);
      expect(stats.status).toBe(503);
      const serverError = ((await stats.json()) as { error: string }).error;
      await watching.locator('#banner').waitFor({ state: 'visible', timeout: 20_000 });
      // (the overview's failure may show first; the next /stats poll adds its own)
      await waitFor('the banner to quote /stats', async () => (await text(watching, '#banner')).includes(`/stats: HTTP 503 ${serverError}`));
      await waitFor('"last updated N s ago"', async () => /^last updated \d+ s ago$/.test(await text(watching, '#staleness')));
      expect(await watching.evaluate(() => document.body.classList.contains('stale'))).toBe(true);
      await waitFor('a gap in the chart', async () => (await watching.locator('#throughput').getAttribute('data-gaps')) === '1');
      // The tail's stream may stay open, but it no longer claims to be live.
      await waitFor('the tail paused', async () =>
        (await text(watching, '#tail-mode')).startsWith('live (server-sent events), paused: the aggregator is failing'),
      );

      // Opened during the outage: it knows nothing, and says so.
      const late = await context.newPage();
      pages.push(late);
      await late.goto(down.url);
      await late.locator('#banner').waitFor({ state: 'visible', timeout: 20_000 });
      await waitFor('the topics note', async () => (await text(late, '#topics-empty')).includes('unavailable'));
      expect(await text(late, '#topics-empty')).not.toContain('No events yet');
      expect(await text(late, '#kpi-received')).toBe('–');
      await waitFor('"no data yet"', async () => (await text(late, '#staleness')) === 'no data yet');

      await pg.start();
      await watching.locator('#banner').waitFor({ state: 'hidden', timeout: 60_000 });
      await waitFor('fresh again', async () => (await text(watching, '#staleness')) === '');
      expect(await watching.evaluate(() => document.body.classList.contains('stale'))).toBe(false);
      await waitFor('the tail live again', async () => (await text(watching, '#tail-mode')) === 'live (server-sent events)');
      const samples = Number(await watching.locator('#throughput').getAttribute('data-samples'));
      await waitFor('samples after the gap', async () => Number(await watching.locator('#throughput').getAttribute('data-samples')) > samples);
      expect(await watching.locator('#throughput').getAttribute('data-gaps')).toBe('1');
      await late.locator('#topics td.name', { hasText: 'outage-topic' }).waitFor({ timeout: 20_000 });
    } finally {
      for (const page of pages) await page.close();
      down.kill('SIGTERM');
      await down.exited;
      await pg.destroy();
    }
  }, 180_000);

  test('/openapi renders the API from /openapi/json with nothing but same-origin requests', async () => {
    const page = await context.newPage();
    const origins = new Set<string>();
    page.on('request', (request) => void origins.add(new URL(request.url()).origin));
    try {
      await page.goto(`${agg.url}/openapi`);
      await page.locator('.operation', { hasText: 'DELETE' }).first().waitFor({ timeout: 20_000 });
      expect(await page.locator('.operation').count()).toBeGreaterThan(10);
      expect(await page.locator('.operation', { hasText: '/publish' }).count()).toBeGreaterThan(0);
      expect([...origins].filter((origin) => origin !== 'null')).toEqual([new URL(agg.url).origin]);
    } finally {
      await page.close();
    }
  }, 60_000);

  test('the Deno publisher is refused without the right token (exit 1, nothing stored)', async () => {
    const before = (await (await api('/stats')).json()) as Stats;
    const refused = await runPublisher(['--events', '10', '--token', 'wrong-token-0000000000', '--attempts', '1']);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain('401');
    const after = (await (await api('/stats')).json()) as Stats;
    expect(after.received).toBe(before.received);
  }, 30_000);

  test('the process logged JSON lines only, one per request at debug, and never the token', async () => {
    const lines = agg
      .output()
      .split('\n')
      .filter((line) => line.length > 0);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.some((e) => e.msg === 'request' && e.path === '/publish' && e.status === 202)).toBe(true);
    expect(entries.some((e) => e.msg === 'request' && e.status === 401)).toBe(true);
    expect(agg.output()).not.toContain(TOKEN);
  });
});
