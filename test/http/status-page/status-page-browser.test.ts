import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { startDemoPlatforms, type DemoPlatforms } from '../../../src/cli/demo.ts';
import { freePort } from '../../helpers/ports.ts';
import { launchChromium } from './chromium.ts';

const CLI = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const DEMO_CONFIG = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
/** Markup, quotes and a password in a URL: it must reach the page as text, masked. */
const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> "x" & 'y' http://ops:hunter2@db.internal`;
const HOSTILE_SHOWN = HOSTILE.replace('ops:hunter2@', 'ops:***@');

describe('the status page in Chromium, served by the command running the demo config', () => {
  let dir: string;
  let demo: DemoPlatforms;
  let cli: ChildProcess;
  let output = '';
  let base: string;
  let browser: Browser;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-page-'));
    const [healthy, flaky, down, hostile, metrics] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    demo = await startDemoPlatforms({ healthy, flaky });
    // The demo config as shipped, on free ports, plus a platform with a hostile name;
    // resource thresholds so low that degraded mode is on from the first sample.
    const shipped = await readFile(DEMO_CONFIG, 'utf8');
    const config = `${shipped.replace('18081', String(healthy)).replace('18082', String(flaky)).replace('18083', String(down))}
  - name: ${JSON.stringify(HOSTILE)}
    type: tcp
    host: 127.0.0.1
    port: ${hostile}
resources: { threshold: 0.001, recoverBelow: 0.0005 }
`;
    await writeFile(join(dir, 'demo.yaml'), config);
    cli = spawn(process.execPath, [CLI, 'run', '--config', join(dir, 'demo.yaml'), '--json-logs'], {
      env: { ...process.env, OTEL_EXPORTER_PROMETHEUS_PORT: String(metrics), OTEL_EXPORTER_OTLP_ENDPOINT: '', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cli.stdout!.on('data', (d: Buffer) => (output += d));
    cli.stderr!.on('data', (d: Buffer) => (output += d));
    base = `http://127.0.0.1:${metrics}`;
    browser = await launchChromium();
    for (let tries = 0; ; tries += 1) {
      const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      assert.ok(tries < 100 && cli.exitCode === null, `the command did not become ready: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  after(async () => {
    await browser?.close();
    cli?.kill('SIGTERM');
    await demo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows down OPEN, flaky transitions live without a reload, the hostile name as text, no console errors, landmarks and labels', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    let loads = 0;
    page.on('load', () => (loads += 1));

    await page.goto(`${base}/`);
    await page.locator('#connection', { hasText: /^live$/ }).waitFor();
    const flakyBefore = await timeline(page, 'flaky').allTextContents();
    const healthyBefore = await row(page, 'healthy').locator('.c-latency svg').getAttribute('aria-label');

    await row(page, 'down').locator('.c-state .state-open').waitFor({ timeout: 30_000 });
    await timeline(page, 'flaky').filter({ hasText: 'CLOSED → OPEN' }).first().waitFor({ timeout: 45_000 });
    const flakyAfter = await timeline(page, 'flaky').allTextContents();
    assert.ok(flakyAfter.length > flakyBefore.length, `flaky's transitions arrived live: ${JSON.stringify({ flakyBefore, flakyAfter })}`);
    assert.equal(loads, 1, 'the page was never reloaded');
    const healthyAfter = await row(page, 'healthy').locator('.c-latency svg').getAttribute('aria-label');
    assert.notEqual(healthyAfter, healthyBefore, `healthy's sparkline grew live: ${healthyBefore} → ${healthyAfter}`);
    assert.equal(await row(page, 'flaky').locator('.c-state .state').textContent(), 'OPEN');

    // The hostile name is text in a cell, masked, and ran nothing.
    const names = await page.locator('#platform-rows .name').allTextContents();
    assert.ok(names.includes(HOSTILE_SHOWN), `hostile name shown as text: ${JSON.stringify(names)}`);
    assert.equal(await page.evaluate('window.__pwned'), undefined);
    assert.equal(await page.locator('#platform-rows img, #platform-rows script').count(), 0);
    assert.doesNotMatch(await page.content(), /hunter2/);

    // Degraded mode (the config's thresholds force it) shows as a banner.
    const banner = page.locator('#banner');
    assert.ok(await banner.isVisible());
    assert.match((await banner.textContent())!, /^Degraded mode: (memory|cpu|disk) at [\d.]+ % \(threshold 0\.1 %\)/);

    // Landmarks and labels.
    assert.equal(await page.getByRole('banner').count(), 1);
    assert.equal(await page.getByRole('main').count(), 1);
    assert.equal(await page.getByRole('heading', { level: 1, name: 'conductor-health' }).count(), 1);
    assert.equal(await page.getByRole('region', { name: 'Platforms' }).count(), 1);
    assert.equal(await page.getByRole('region', { name: 'Transitions' }).count(), 1);
    assert.equal(await page.getByRole('status').count(), 1);
    assert.equal(await page.getByRole('table', { name: /Breaker state, last check/ }).count(), 1);
    assert.equal(await page.getByRole('rowheader', { name: 'down' }).count(), 1);
    const sparks = page.locator('svg.spark');
    assert.equal(await sparks.count(), 4);
    for (const spark of await sparks.all()) {
      assert.equal(await spark.getAttribute('role'), 'img');
      assert.match((await spark.getAttribute('aria-label')) ?? '', /^(latency of the last \d+ checks|no latency)/);
    }
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-dark.png'), fullPage: true });
    assert.deepEqual(problems, [], 'no console errors or warnings (a CSP violation would be one)');
    await context.close();
  });

  it('keeps every column in view at a 420 px wide viewport: each platform a card, its latency, success and next trial labelled', async () => {
    const width = 420;
    const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: 'light' });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.locator('#connection', { hasText: /^live$/ }).waitFor();
    await row(page, 'down').locator('.c-next .next').waitFor();
    const rows = await page.locator('#platform-rows tr').all();
    assert.equal(rows.length, 4);
    for (const tr of rows) {
      const name = await tr.locator('.name').textContent();
      for (const [what, locator] of [['latency', tr.locator('.c-latency svg')], ['success', tr.locator('.c-success .share')], ['next trial', tr.locator('.c-next > *').first()], ['breaker', tr.locator('.c-state .state')]] as const) {
        assert.ok(await locator.isVisible(), `${name}: ${what} visible`);
        const box = (await locator.boundingBox())!;
        assert.ok(box.x >= 0 && box.x + box.width <= width, `${name}: ${what} inside the viewport, at ${box.x}..${box.x + box.width} of ${width} px`);
      }
      const labels = await tr.locator('td[data-label]').evaluateAll((cells) => cells.map((td) => (globalThis as any).getComputedStyle(td, '::before').content));
      assert.deepEqual(labels, ['"Last check"', '"Latency"', '"Success"', '"Next trial"'], `${name}: each column is labelled`);
    }
    // Run in the page, which these type-checked tests reach through globalThis (no DOM types here).
    const overflow = await page.evaluate(() => {
      const doc = (globalThis as any).document;
      const wrap = doc.querySelector('.table-wrap');
      return { page: doc.documentElement.scrollWidth, wrap: wrap.scrollWidth - wrap.clientWidth };
    });
    assert.deepEqual(overflow, { page: width, wrap: 0 }, 'nothing scrolls sideways');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-420.png'), fullPage: true });
    await context.close();
  });

  it('is useful without JavaScript: the server-rendered page shows every platform and its breaker', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    // Down cycles OPEN → HALF_OPEN (from its reset time to its next slot, up to 2 s) → OPEN.
    assert.match((await row(page, 'down').locator('.c-state .state').textContent()) ?? '', /^(OPEN|HALF_OPEN)$/);
    assert.equal(await page.locator('#platform-rows tr').count(), 4);
    assert.equal(await page.locator('#connection').textContent(), 'static page');
    assert.match((await row(page, 'down').locator('.next').textContent()) ?? '', /^(in \d+ s|due now)$/);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-no-js.png'), fullPage: true });
    await context.close();
  });
});

/** A platform's row in the table. */
function row(page: Page, name: string): Locator {
  return page.locator('#platform-rows tr', { has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });
}

/** The timeline entries naming `name`, newest first. */
function timeline(page: Page, name: string): Locator {
  return page.locator('#timeline li', { has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });
}
