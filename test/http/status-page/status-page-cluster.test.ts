// static/status.js in Chromium against the status page of a replica sharing a
// real Redis with another (two monitors in this process, each with its own
// connections and id): the header follows the members and local mode, each
// row the replica that checks it and the one its last check ran on, and the
// live page builds what the server renders.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { HealthMonitor } from '../../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { top } from '../../../src/cluster/rendezvous.ts';
import { statusPageHandler, type StatusPageHandler } from '../../../src/http/status-page/status-page.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { launchChromium } from './chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const IDS = ['replica-0', 'replica-1'];
/** Two platforms each replica owns once both are members. */
const OWNED = Object.fromEntries(IDS.map((id) => [id, Array.from({ length: 64 }, (_, i) => `platform-${i}`).filter((name) => top(name, IDS, 1)[0] === id).slice(0, 2)]));
const PLATFORMS = [...OWNED['replica-0']!, ...OWNED['replica-1']!].sort();
/** replica-1's check of it fails; replica-0's passes: its row shows where the last check ran. */
const SPLIT = OWNED['replica-1']![0]!;

describe('the status page of a replica in Chromium', () => {
  let redis: RedisServer;
  let browser: Browser;
  let server: Server;
  let statusPage: StatusPageHandler;
  let base: string;
  const monitors: HealthMonitor[] = [];

  /** A started replica of the cluster with every platform registered; `fails` names the platforms whose check fails on it. */
  function replica(id: string, fails: readonly string[] = []): HealthMonitor {
    const monitor = new HealthMonitor({
      resources: false,
      logger: silentLogger,
      intervalMs: 100,
      breaker: { failMax: 1_000, resetTimeoutMs: 60_000 },
      // Commands get a second: a busy machine does not make a replica step into local mode, and so move every platform.
      cluster: { redisUrl: redis.url, instanceId: id, keyPrefix: 'page-live', heartbeatMs: 100, commandTimeoutMs: 1_000 },
    });
    monitors.push(monitor);
    for (const name of PLATFORMS) monitor.register(name, () => !fails.includes(name));
    monitor.start();
    return monitor;
  }

  before(async () => {
    redis = await startRedis();
    const monitor = replica('replica-0');
    statusPage = statusPageHandler(monitor, { updateIntervalMs: 100 });
    server = createServer((request, response) => statusPage(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    statusPage?.close();
    if (redis?.paused) redis.resume();
    await Promise.all(monitors.map((m) => m.stop()));
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await redis?.stop();
  });

  /** A platform's row. */
  const row = (page: Page, name: string): Locator => page.locator('#platform-rows tr', { has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });
  /** Waits until every row says `owner` checks it (with "this replica" on replica-0) and its last check ran on `lastBy(name)`. */
  async function rowsShow(page: Page, owner: (name: string) => string, lastBy: (name: string) => string): Promise<void> {
    for (const name of PLATFORMS) {
      const r = row(page, name);
      const expected = owner(name);
      await r.locator('.c-owner', { hasText: new RegExp(`^${expected}${expected === 'replica-0' ? 'this replica' : ''}$`) }).waitFor();
      await r.locator('.c-last .by', { hasText: new RegExp(`^on ${lastBy(name)}$`) }).waitFor();
    }
  }
  const ownerOf = (name: string) => top(name, IDS, 1)[0]!;

  it('shows the members, each row’s owner and where its last check ran, follows a replica joining and local mode, and builds what the server renders', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => ['error', 'warning'].includes(message.type()) && problems.push(message.text()));
    let loads = 0;
    page.on('load', () => (loads += 1));
    const cluster = page.locator('#cluster');

    // Alone: every platform is replica-0's, and was checked here.
    await page.goto(base);
    await page.locator('#connection', { hasText: /^live$/ }).waitFor();
    await page.locator('#cluster', { hasText: /^replica replica-0 of 1: replica-0$/ }).waitFor();
    await rowsShow(page, () => 'replica-0', () => 'replica-0');
    assert.equal(await page.getByRole('columnheader', { name: 'Checked by' }).count(), 1);
    assert.equal(await page.getByRole('table', { name: /\(of the checks this replica ran\), next trial and checking replica of each platform$/ }).count(), 1);

    // replica-1 joins: it takes its platforms, and its checks (one failing) are the last ones the page shows for them.
    replica('replica-1', [SPLIT]);
    await page.locator('#cluster', { hasText: /^replica replica-0 of 2: replica-0, replica-1$/ }).waitFor();
    await rowsShow(page, ownerOf, ownerOf);
    await row(page, SPLIT).locator('.c-last .result-failure').waitFor();
    assert.match((await row(page, SPLIT).locator('.c-last').textContent())!, /^failure\d\d:\d\d:\d\d UTCon replica-1$/, 'no latency of a check that ran elsewhere');
    assert.equal(await cluster.getAttribute('class'), 'cluster');

    // What the script built is what the server renders for the same state: the same elements, classes and words.
    // (Read in one evaluation: the script rebuilds a row's cells as updates come.)
    const shown = (p: Page) =>
      p.evaluate(() => {
        const doc = (globalThis as any).document;
        return {
          rows: [...doc.querySelectorAll('#platform-rows tr')].map((tr: any) => ({
            elements: [...tr.querySelectorAll('*')].map((e: any) => `${e.tagName.toLowerCase()}.${e.getAttribute('class') ?? ''}`).join(' '),
            owner: tr.querySelector('.c-owner').textContent,
            result: tr.querySelector('.c-last .result').textContent,
            by: tr.querySelector('.c-last .by').textContent,
          })),
          cluster: doc.getElementById('cluster').outerHTML,
          head: doc.querySelector('#platforms thead').outerHTML,
          caption: doc.querySelector('#platforms caption').textContent,
        };
      });
    const staticContext = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1360, height: 900 } });
    const staticPage = await staticContext.newPage();
    // The two are read a moment apart, and a busy machine may see a late check covered by the next-ranked replica
    // in between: compare again until both were read while nothing changed.
    let live, rendered;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      live = await shown(page);
      await staticPage.goto(base);
      rendered = await shown(staticPage);
      if (JSON.stringify(live) === JSON.stringify(rendered)) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.deepEqual(live, rendered);
    await staticContext.close();

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-cluster.png'), fullPage: true });

    // Redis stops answering: this replica runs alone in local mode, checks every platform, and says so.
    redis.pause();
    await page.locator('#cluster', { hasText: /^replica replica-0 in local mode: Redis unreachable, checking every platform here$/ }).waitFor();
    assert.equal(await cluster.getAttribute('class'), 'cluster cluster-local');
    await rowsShow(page, () => 'replica-0', () => 'replica-0');
    await row(page, SPLIT).locator('.c-last .result-success').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-cluster-local.png'), fullPage: true });

    // Back: the members again, and replica-1's platforms go back to it.
    redis.resume();
    await page.locator('#cluster', { hasText: /^replica replica-0 of 2: replica-0, replica-1$/ }).waitFor();
    assert.equal(await cluster.getAttribute('class'), 'cluster');
    await rowsShow(page, ownerOf, ownerOf);

    assert.equal(loads, 1, 'never reloaded');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('keeps the replica column in view at 420 px: a line of its own in each card, labelled', async () => {
    const width = 420;
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    await page.goto(base);
    await page.locator('#connection', { hasText: /^live$/ }).waitFor();
    // Measured in one turn of the page: the script rebuilds a row's cells as its updates come.
    const cells = await page.evaluate(() =>
      [...(globalThis as any).document.querySelectorAll('#platform-rows .c-owner')].map((td: any) => {
        const box = td.getBoundingClientRect();
        return { left: box.left, right: box.right, height: box.height, label: (globalThis as any).getComputedStyle(td, '::before').content, text: td.textContent };
      }),
    );
    assert.equal(cells.length, PLATFORMS.length);
    for (const cell of cells) {
      assert.ok(cell.height > 0 && cell.left >= 0 && cell.right <= width, `inside the viewport: ${JSON.stringify(cell)}`);
      assert.equal(cell.label, '"Checked by"');
      assert.match(cell.text, /^replica-[01]/);
    }
    const overflow = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth);
    assert.equal(overflow, width, 'nothing scrolls sideways');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-cluster-420.png'), fullPage: true });
    await context.close();
  });
});
