// static/status.js in Chromium against a status page served in this process:
// rows that come and go arrive as changes, and a stream the server ends at its
// age resumes where it left off, without a snapshot or a word of it on the page.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { HealthMonitor } from '../../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { statusPageHandler, type StatusPageHandler } from '../../../src/http/status-page/status-page.ts';
import { launchChromium } from './chromium.ts';

describe('the status page script in Chromium', () => {
  let browser: Browser;
  let server: Server;
  let monitor: HealthMonitor;
  let statusPage: StatusPageHandler;
  let base: string;
  /** The Last-Event-ID of each request for the event stream, '' for none. */
  const eventRequests: string[] = [];

  before(async () => {
    monitor = new HealthMonitor({ resources: false, logger: silentLogger, intervalMs: 100 });
    for (const name of ['a', 'b', 'c']) monitor.register(name, () => true);
    statusPage = statusPageHandler(monitor, { updateIntervalMs: 100, maxStreamAgeMs: 1_000 });
    server = createServer((request, response) => {
      if (request.url?.endsWith('/events')) eventRequests.push(String(request.headers['last-event-id'] ?? ''));
      statusPage(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    monitor.start();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    statusPage.close();
    await monitor.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  // Functions run in the page reach its DOM through globalThis: the tests are type-checked without the DOM's types.
  /** The page's rows, by name, in order. */
  const rowNames = (page: Page) => page.locator('#platform-rows .name').allTextContents();
  const reportNames = () => monitor.report().platforms.map((p) => p.platform);

  it('applies rows that come and go, keeps the others as they were, and never reloads', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    let loads = 0;
    page.on('load', () => (loads += 1));
    await page.goto(base);
    await page.locator('#connection', { hasText: /^live$/ }).waitFor();
    const cBefore = await page.locator('#platform-rows tr').nth(2).elementHandle();

    monitor.unregister('b');
    monitor.register('d', () => false);
    monitor.register('b', () => true);
    monitor.unregister('a');
    await page.waitForFunction((names) => [...(globalThis as any).document.querySelectorAll('#platform-rows .name')].map((n: { textContent: string }) => n.textContent).join() === names, reportNames().join());
    assert.deepEqual(await rowNames(page), ['c', 'd', 'b']);
    assert.equal(await page.locator('#platform-rows tr').first().evaluate((tr, old) => tr === old, cBefore), true, 'the row kept is the same element: not rebuilt from a snapshot');
    assert.deepEqual(await page.locator('#platform-rows tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-i'))), ['0', '1', '2']);
    // The rows that came are live: d's failures arrive as changes addressed to its new index.
    await page.locator('#platform-rows tr', { hasText: 'd' }).locator('.state-open').waitFor();
    assert.match((await page.locator('#counts').textContent())!, /^3 platforms · 1 open/);
    assert.equal(loads, 1);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('resumes a stream the server ended at its age from the last event it got, with no snapshot and no "reconnecting"', async () => {
    const page = await browser.newPage();
    await page.goto(base);
    await page.locator('#connection', { hasText: /^live$/ }).waitFor();
    // Every word the connection indicator shows from now on.
    await page.evaluate(() => {
      const page = globalThis as any;
      const connection = page.document.getElementById('connection');
      page.shown = [];
      new page.MutationObserver(() => page.shown.push(connection.textContent)).observe(connection, { childList: true, characterData: true, subtree: true });
    });
    const row = await page.locator('#platform-rows tr').first().elementHandle();
    const from = eventRequests.length;
    // Three ages of 1 s, each followed by the EventSource's 2 s retry.
    for (let i = 0; i < 150 && eventRequests.length < from + 3; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    const resumed = eventRequests.slice(from);
    assert.ok(resumed.length >= 3, `the page came back after each age: ${JSON.stringify(eventRequests)}`);
    assert.ok(resumed.every((id) => /^[0-9a-f]{8}-\d+$/.test(id)), `each time with the id of its last event: ${JSON.stringify(resumed)}`);
    const updated = await page.locator('#updated').textContent();
    await page.waitForFunction((text) => (globalThis as any).document.getElementById('updated').textContent !== text, updated);
    assert.equal(await page.locator('#platform-rows tr').first().evaluate((tr, old) => tr === old, row), true, 'no snapshot rebuilt the rows');
    assert.deepEqual(await page.evaluate(() => (globalThis as any).shown.filter((w: string) => w !== 'live')), [], 'it never said it lost the server');
    assert.equal(await page.locator('#connection').textContent(), 'live');
    await page.close();
  });
});

