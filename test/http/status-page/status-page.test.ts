import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { HealthMonitor } from '../../../src/monitor/health-monitor.ts';
import { ResourceMonitor } from '../../../src/resources/resource-monitor.ts';
import type { HealthMonitorOptions } from '../../../src/monitor/options.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { renderStatusPage, sparklineSvg } from '../../../src/http/status-page/status-html.ts';
import { appendChecks, rowChange, snapshotOf, type CheckColumns, type PlatformView } from '../../../src/http/status-page/status-view.ts';
import type { HealthReport } from '../../../src/monitor/report.ts';
import { PageRows } from '../../../src/http/status-page/page-rows.ts';
import { RecentUpdates } from '../../../src/http/status-page/status-feed.ts';
import { statusPageHandler, type StatusPageHandler } from '../../../src/http/status-page/status-page.ts';
import type { StatusPageOptions } from '../../../src/http/status-page/options.ts';
import { maskSecrets } from '../../../src/common/text.ts';
import { advance, settle, stepWallClock, useFakeClock, useRealClock } from '../../helpers/clock.ts';
import { setupOtel, type TestOtel } from '../../helpers/otel.ts';
import { HEARTBEAT } from '../../../src/http/status-page/event-streams.ts';
import { top } from '../../../src/cluster/rendezvous.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';

const HOSTILE = `<script>alert(1)</script><img src=x onerror=alert(2)> "q" 'a' & https://bob:s3cret@api.example/x?token=abc&v=1`;

let otel: TestOtel;
let monitors: HealthMonitor[] = [];
let servers: Server[] = [];
let pages: StatusPageHandler[] = [];

before(async () => (otel = await setupOtel()));
after(async () => otel.shutdown());
afterEach(async () => {
  for (const page of pages) page.close();
  await Promise.all(monitors.map((m) => m.stop()));
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  monitors = [];
  servers = [];
  pages = [];
});

/** A monitor with `platforms`, its status page mounted at /status/ of a loopback server. */
async function serve(platforms: Record<string, () => boolean>, options: StatusPageOptions = {}, intervalMs = 50, monitorOptions: HealthMonitorOptions = {}) {
  const monitor = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer, intervalMs, breaker: { failMax: 2, resetTimeoutMs: 60_000 }, ...monitorOptions });
  monitors.push(monitor);
  for (const [name, check] of Object.entries(platforms)) monitor.register(name, check);
  const page = statusPageHandler(monitor, options);
  pages.push(page);
  const server = createServer((req, res) => (req.url?.startsWith('/status/') ? page(req, res) : res.writeHead(404).end()));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { monitor, page, base: `http://127.0.0.1:${(server.address() as { port: number }).port}/status/` };
}

/** Reads Server-Sent Events from `url` until `enough` says so; returns them parsed. */
async function readEvents(
  url: string,
  enough: (events: Array<{ event: string; data: any; id?: string }>) => boolean,
  signal?: AbortSignal,
  headers: Record<string, string> = {},
): Promise<Array<{ event: string; data: any; id?: string }>> {
  const controller = new AbortController();
  signal?.addEventListener('abort', () => controller.abort());
  const response = await fetch(url, { signal: controller.signal, headers });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
  const events: Array<{ event: string; data: any; id?: string }> = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      const id = /^id: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data), ...(id === undefined ? {} : { id }) });
    }
    if (enough(events)) break;
  }
  controller.abort();
  return events;
}

describe('the status page handler', () => {
  it('renders every platform server-side with names escaped and URL secrets masked', async () => {
    const { monitor, base } = await serve({ ok: () => true, [HOSTILE]: () => false });
    monitor.start();
    await Promise.all([monitor.checkPlatformHealth('ok'), monitor.checkPlatformHealth(HOSTILE)]);
    const response = await fetch(base);
    assert.equal(response.status, 200);
    const html = await response.text();
    assert.match(html, /<span class="name">&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;img src=x onerror=alert\(2\)&gt; &quot;q&quot; &#39;a&#39; &amp; https:\/\/bob:\*\*\*@api\.example\/x\?token=\*\*\*&amp;v=1<\/span>/);
    assert.doesNotMatch(html, /s3cret|token=abc/);
    assert.doesNotMatch(html, /<script>alert|<img src=x/);
    assert.match(html, /<span class="state state-closed">CLOSED<\/span>/);
    assert.match(html, /<span class="error">check returned false<\/span>/);
  });

  it('words degraded mode in percent in the banner and in the reasons alike', async () => {
    const resources = new ResourceMonitor({ sampler: () => ({ memory: 0.2, cpu: 1, disk: 0.1 }), intervalMs: 60_000, logger: silentLogger });
    const { monitor, base } = await serve({ a: () => true }, {}, 50, { resources });
    monitor.start();
    await resources.sample();
    const html = await (await fetch(base)).text();
    const banner = /<div id="banner"[^>]*>([^<]*)<\/div>/.exec(html)?.[1];
    const reasons = [...html.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]);
    assert.match(banner ?? '', /^Degraded mode: cpu at 100 % \(threshold 80 %\)\./);
    assert.ok(reasons.includes('degraded mode: cpu at 100 % (threshold 80 %)'), JSON.stringify(reasons));
    await resources.stop();
  });

  it('sends a Content-Security-Policy without inline script or style, and the page has neither', async () => {
    const { base } = await serve({ a: () => true });
    const response = await fetch(base);
    const csp = response.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.deepEqual(scripts.map((m) => [m[1]!.trim(), m[2]]), [['src="status.js" defer', '']], 'one script, from a file');
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handlers');
    assert.doesNotMatch(html, /<style|\sstyle\s*=/i, 'no inline style');
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'nothing loaded from elsewhere');
  });

  it('serves its script, style and icon with their types, and 404 for anything else', async () => {
    const { base } = await serve({});
    for (const [name, type] of [['status.js', 'text/javascript'], ['status.css', 'text/css'], ['favicon.svg', 'image/svg+xml']] as const) {
      const response = await fetch(base + name);
      assert.equal(response.status, 200, name);
      assert.ok(response.headers.get('content-type')!.startsWith(type), `${name}: ${response.headers.get('content-type')}`);
      assert.ok((await response.text()).length > 100);
    }
    assert.equal((await fetch(`${base}../../etc/passwd`)).status, 404);
    assert.equal((await fetch(`${base}status.ts`)).status, 404);
    assert.equal((await fetch(`${base}constructor`)).status, 404);
  });

  it('answers GET and HEAD only', async () => {
    const { base } = await serve({ a: () => true });
    for (const path of ['', 'events', 'status.js']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const response = await fetch(base + path, { method });
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(response.headers.get('allow'), 'GET, HEAD');
      }
      const head = await fetch(base + path, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
    }
  });

  it('streams a snapshot, then the new checks and transitions as they happen', async () => {
    let up = true;
    const { monitor, base } = await serve({ web: () => true, api: () => up }, { updateIntervalMs: 20 }, 30);
    monitor.start();
    await monitor.checkPlatformHealth('web');
    const events = await readEvents(`${base}events`, (list) => {
      up = false;
      return list.some((e) => e.event === 'update' && e.data.transitions.some((t: { name: string; to: string }) => t.name === 'api' && t.to === 'OPEN'));
    });
    const [snapshot, ...updates] = events;
    assert.equal(snapshot!.event, 'snapshot');
    assert.deepEqual(snapshot!.data.platforms.map((p: { name: string }) => p.name), ['web', 'api']);
    assert.equal(snapshot!.data.historySize, 30);
    assert.ok(updates.every((u) => u.event === 'update'));
    const apiChecks = updates.map((u) => [...u.data.checks.status].filter((_, k) => u.data.checks.row[k] === 1).join('')).join('');
    assert.match(snapshot!.data.platforms[1].checks + apiChecks, /^s*ff$/, 'each check of api arrives once, in order, until its breaker opened');
    const apiRows = updates.flatMap((u) => u.data.rows).filter((r: { i: number }) => r.i === 1);
    assert.equal(apiRows.reduce((state: string, r: { state?: string }) => r.state ?? state, snapshot!.data.platforms[1].state), 'OPEN');
    assert.ok(apiRows.every((r: { name?: string }) => r.name === undefined), 'updates carry only what changed: the name never does');
  });

  it('keeps as many transitions between two updates as the monitor keeps (transitionHistorySize), the newest', async () => {
    const { monitor, base } = await serve({ a: () => true, b: () => true, c: () => true }, { updateIntervalMs: 20 }, 60_000, { transitionHistorySize: 2 });
    monitor.start();
    let caused = false;
    const events = await readEvents(`${base}events`, (list) => {
      if (!caused) {
        for (const name of ['a', 'b', 'c']) monitor.getBreaker(name)!.forceOpen();
        for (const name of ['a', 'b', 'c']) monitor.getBreaker(name)!.reset();
        caused = true;
      }
      return list.some((e) => e.event === 'update' && e.data.transitions.length > 0);
    });
    const update = events.find((e) => e.event === 'update' && e.data.transitions.length > 0)!;
    assert.deepEqual(update.data.transitions.map((t: { name: string; to: string }) => `${t.name}>${t.to}`), ['b>CLOSED', 'c>CLOSED']);
  });

  it('sends the rows that came and went, not a new snapshot, when platforms come, go or are registered again', async () => {
    const ok = () => true;
    const { monitor, base } = await serve({ a: ok, b: ok, c: ok }, { updateIntervalMs: 20 });
    // Known before it is scheduled: registered later, it comes between c and d, not at the end.
    await monitor.checkPlatformHealth('x', ok);
    monitor.start();
    const steps = [
      () => (monitor.unregister('b'), monitor.register('d', ok)),
      () => monitor.register('x', ok),
      // Registered again, 'a' is another platform (new breaker, no history): its row goes, a new one comes.
      () => (monitor.unregister('a'), monitor.register('a', ok)),
    ];
    const changes = (list: Array<{ event: string; data: any }>) => list.filter((e) => e.event === 'update' && (e.data.added || e.data.removed));
    // What answered each step: an update with the change, or (before) a whole new snapshot.
    const answers = (list: Array<{ event: string; data: any }>) => list.slice(1).filter((e) => e.event === 'snapshot' || e.data.added || e.data.removed).length;
    const events = await readEvents(`${base}events`, (list) => {
      if (answers(list) === 3 - steps.length) steps.shift()?.();
      return answers(list) === 3;
    });
    assert.deepEqual(events.map((e) => e.event).filter((e) => e === 'snapshot'), ['snapshot'], 'one snapshot, when the page connected');
    assert.deepEqual(
      changes(events).map((e) => ({ removed: e.data.removed, added: e.data.added?.map((r: { i: number; name: string }) => [r.i, r.name]) })),
      [
        { removed: [1], added: [[2, 'd']] },
        { removed: undefined, added: [[2, 'x']] },
        { removed: [0], added: [[3, 'a']] },
      ],
    );
    // What the page does with them (static/status.js): the rows end as the report has them.
    let rows: string[] = events[0]!.data.platforms.map((p: { name: string }) => p.name);
    for (const { data } of events.slice(1)) {
      rows = rows.filter((_, i) => !(data.removed ?? []).includes(i));
      for (const { i, name } of data.added ?? []) rows.splice(i, 0, name);
    }
    assert.deepEqual(rows, monitor.report().platforms.map((p) => p.platform));
    const added = changes(events).at(-1)!.data.added[0];
    assert.equal(added.state, 'CLOSED');
    assert.equal(added.checks.length, monitor.report({ history: true }).platforms.at(-1)!.history!.length, 'a new row comes with its checks, not the old platform’s');
  });

  it('answers 503 past maxStreams, and takes a stream again once one closes', async () => {
    const { page, base } = await serve({ a: () => true }, { maxStreams: 2 });
    const controllers = [new AbortController(), new AbortController()];
    const open = await Promise.all(controllers.map((c) => fetch(`${base}events`, { signal: c.signal })));
    assert.deepEqual(open.map((r) => r.status), [200, 200]);
    assert.equal(page.streams, 2);
    const third = await fetch(`${base}events`);
    assert.equal(third.status, 503);
    assert.match(await third.text(), /too many event streams open \(at most 2\)/);
    controllers[0]!.abort();
    for (let i = 0; page.streams > 1 && i < 200; i += 1) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(page.streams, 1);
    const again = new AbortController();
    assert.equal((await fetch(`${base}events`, { signal: again.signal })).status, 200);
    again.abort();
    controllers[1]!.abort();
  });

  it('drops a client that stops reading once its unsent bytes pass maxBufferedBytes, while a reading client carries on', async () => {
    // 300 platforms with long names checked every 20 ms: ~100 KB of updates every 10 ms.
    const platforms = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`platform-${i}-${'x'.repeat(200)}`, () => i % 2 === 0]));
    const { monitor, page, base } = await serve(platforms, { updateIntervalMs: 10, maxBufferedBytes: 256 * 1024 }, 20);
    monitor.start();
    const url = new URL(`${base}events`);
    const stalled = connect(Number(url.port), '127.0.0.1');
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    stalled.pause();
    const stalledClosed = new Promise((resolve) => stalled.once('close', resolve));
    let updates = 0;
    await readEvents(url.href, (list) => {
      updates = list.filter((e) => e.event === 'update').length;
      return page.droppedStreams === 1 && updates >= 5;
    });
    assert.equal(page.droppedStreams, 1, 'only the client that stopped reading was dropped');
    assert.ok(updates >= 5);
    stalled.resume();
    await stalledClosed;
  });

  it('stops listening to the monitor when the last stream closes, and close() ends every stream', async () => {
    const { monitor, page, base } = await serve({ a: () => true }, { updateIntervalMs: 20 });
    monitor.start();
    assert.equal(monitor.listenerCount('check'), 0);
    const gone = new AbortController();
    await fetch(`${base}events`, { signal: gone.signal });
    assert.equal(monitor.listenerCount('check'), 1);
    gone.abort();
    for (let i = 0; monitor.listenerCount('check') > 0 && i < 200; i += 1) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(monitor.listenerCount('check'), 0, 'the last client went away');
    const response = await fetch(`${base}events`);
    assert.equal(monitor.listenerCount('check'), 1);
    page.close();
    assert.equal(monitor.listenerCount('check'), 0);
    assert.equal(page.streams, 0);
    const text = await response.text();
    assert.match(text, /^retry: 2000\nid: [0-9a-f]{8}-\d+\nevent: snapshot\n/, 'the stream ended after its snapshot');
  });

  it('rejects bad options, naming them', () => {
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger });
    monitors.push(monitor);
    assert.throws(() => statusPageHandler(monitor, { maxStreams: 0 }), /"maxStreams".*0/);
    assert.throws(() => statusPageHandler(monitor, { maxBufferedBytes: 1.5 }), /"maxBufferedBytes".*1\.5/);
    assert.throws(() => statusPageHandler(monitor, { updateIntervalMs: 5 }), /"updateIntervalMs".*5/);
    assert.throws(() => statusPageHandler(monitor, { maxStreamAgeMs: 500 }), /"maxStreamAgeMs".*500/);
    assert.throws(() => statusPageHandler(monitor, { maxstreams: 5 } as never), /unknown status page option "maxstreams"/);
  });
});

describe('update encoding', () => {
  it('carries the changed fields of a row besides its checks, null for the ones that went away, nothing when only checks came', () => {
    const sent: PlatformView = { name: 'db', state: 'OPEN', critical: true, failures: 3, last: 'rejected', lastAt: 1, error: 'refused', nextAt: 9, checks: 'ffr', ms: [1, 2, 0] };
    const next: PlatformView = { name: 'db', state: 'CLOSED', critical: true, failures: 0, last: 'success', lastAt: 2, lastMs: 4, checks: '', ms: [] };
    assert.deepEqual(rowChange(7, sent, next), { i: 7, state: 'CLOSED', failures: 0, error: null, nextAt: null });
    assert.equal(rowChange(7, next, { ...next, last: 'failure', lastAt: 3, lastMs: 9 }), undefined);
  });

  it('turns any new order of platforms into rows removed then inserted that give that order, keeping rows that stay in order', () => {
    const breakers = new Map<string, object>();
    const rows = new PageRows((name) => breakers.get(name));
    const reports = (names: string) => [...names].map((platform) => ({ platform, breakerState: 'CLOSED' as const, consecutiveFailures: 0, critical: false }));
    const view = (name: string): PlatformView => ({ name, state: 'CLOSED', critical: false, failures: 0, checks: '', ms: [] });
    for (const name of 'abcde') breakers.set(name, {});
    rows.reset(reports('abcde'), [...'abcde'].map(view));
    assert.equal(rows.follow(reports('abcde'), () => assert.fail('nothing is new')), undefined);
    breakers.set('c', {}); // registered again
    breakers.set('x', {});
    // What the pages show, changed as static/status.js does: removals (old indices), then insertions (new indices).
    let shown = [...'abcde'];
    for (const [next, removed, added] of [['eabxc', [0, 1, 2, 3], [1, 2, 3, 4]], ['eaxc', [2], []], ['', [0, 1, 2, 3], []], ['ab', [], [0, 1]]] as const) {
      const change = rows.follow(reports(next), (i) => view(next[i]!))!;
      assert.deepEqual(change, { removed, added }, next);
      shown = shown.filter((_, i) => !change.removed.includes(i));
      for (const i of change.added) shown.splice(i, 0, next[i]!);
      assert.equal(shown.join(''), next, 'the pages end in the new order');
      assert.equal(Array.from({ length: next.length }, (_, i) => rows.view(i).name).join(''), next);
    }
  });

  it('keeps the latest updates for pages coming back within a count and a byte bound', () => {
    const recent = new RecentUpdates(3, 250);
    const update = (n: number, size = 100) => Buffer.alloc(size, n);
    for (let n = 1; n <= 4; n += 1) recent.push(update(n, 50));
    assert.deepEqual(recent.newest(3)?.map((b) => b[0]), [2, 3, 4], 'the three newest, oldest first');
    assert.equal(recent.newest(4), undefined, 'one that missed more gets a snapshot');
    assert.deepEqual(recent.newest(0), []);
    recent.push(update(5, 201));
    assert.deepEqual(recent.newest(1)?.map((b) => b[0]), [5]);
    assert.equal(recent.newest(2), undefined, 'past 250 bytes together the older ones go');
    recent.push(update(6, 300));
    assert.equal(recent.newest(1), undefined, 'an update larger than the bound is not kept');
  });

  it('puts every new check in columns, times relative to now', () => {
    const columns: CheckColumns = { row: [], status: '', ms: [], at: [] };
    appendChecks(columns, 3, [{ at: 900, status: 'success', durationSeconds: 0.0124 }, { at: 950, status: 'timeout', durationSeconds: 1 }], 1_000);
    appendChecks(columns, 0, [{ at: 990, status: 'rejected', durationSeconds: 0 }], 1_000);
    assert.deepEqual(columns, { row: [3, 3, 0], status: 'str', ms: [12, 1000, 0], at: [-100, -50, -10] });
  });
});

describe('the status page with a cluster', () => {
  const base: HealthReport = {
    status: 'degraded', reasons: [], degraded: null, running: true, skippedChecks: 0, abandonedChecks: 0,
    platforms: [
      { platform: 'billing', breakerState: 'CLOSED', consecutiveFailures: 0, critical: false, lastResult: 'success', lastCheckAt: 1_000, lastDurationSeconds: 0.012, history: [{ at: 1_000, status: 'success', durationSeconds: 0.012 }] },
      { platform: 'search', breakerState: 'CLOSED', consecutiveFailures: 1, critical: false, lastResult: 'failure', lastCheckAt: 1_500, history: [] },
      { platform: 'fresh', breakerState: 'CLOSED', consecutiveFailures: 0, critical: false, history: [] },
    ],
    transitions: [],
  };
  const hostileMember = `<img src=x onerror=alert(1)>\u202e"r"&`;
  const clustered: HealthReport = {
    ...base,
    platforms: [
      { ...base.platforms[0]!, owner: 'replica-1', lastCheckBy: 'replica-1' },
      { ...base.platforms[1]!, owner: 'replica-2', lastCheckBy: 'replica-2' },
      { ...base.platforms[2]!, owner: hostileMember },
    ],
    cluster: { replica: 'replica-1', redis: 'redis://:***@redis:6379', localMode: false, members: ['replica-0', 'replica-1', 'replica-2', hostileMember] },
  };
  /** The text of an HTML fragment, tags dropped and entities read. */
  const text = (html: string) => html.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  const cells = (html: string, name: string) => {
    const row = new RegExp(`<tr [^>]*>\\n<th scope="row" class="c-name"><span class="name">${name}</span>[\\s\\S]*?</tr>`).exec(html)?.[0] ?? assert.fail(`no row ${name}`);
    const cell = (cls: string) => /<td class="[^"]*" data-label="[^"]*">([\s\S]*?)<\/td>/.exec(row.slice(row.indexOf(`class="${cls}"`) - 4))?.[1] ?? '';
    return { last: cell('c-last'), owner: cell('c-owner') };
  };

  it('renders the members in the header, each row’s owner in a "Checked by" column and where its last check ran, every name escaped', () => {
    const html = renderStatusPage(snapshotOf(clustered, 2_000, 30));
    const meta = /<span id="cluster" class="cluster" aria-live="polite">([^<]*)<\/span> · <span id="counts">/.exec(html)?.[1];
    assert.equal(text(meta ?? ''), 'replica replica-1 of 4: replica-0, replica-1, replica-2, <img src=x onerror=alert(1)>?"r"&');
    assert.match(html, /<caption>Breaker state, last check, recent latency and success share \(of the checks this replica ran\), next trial and checking replica of each platform<\/caption>/);
    assert.match(html, /<th scope="col">Next trial<\/th><th scope="col" id="owner-heading">Checked by<\/th><\/tr><\/thead>/);
    const billing = cells(html, 'billing');
    assert.equal(billing.last, '<span class="result result-success">success</span><span class="sub">12 ms · 00:00:01 UTC</span><span class="sub by">on replica-1</span>');
    assert.equal(billing.owner, '<span class="owner">replica-1</span><span class="sub">this replica</span>');
    // Checked elsewhere: no latency of that check here, its time and replica.
    assert.equal(text(cells(html, 'search').last), 'failure00:00:01 UTCon replica-2');
    assert.equal(cells(html, 'search').owner, '<span class="owner">replica-2</span>', 'another replica’s platform is not this replica’s');
    const fresh = cells(html, 'fresh');
    assert.equal(fresh.last, '<span class="sub">not checked yet</span>');
    assert.equal(fresh.owner, '<span class="owner">&lt;img src=x onerror=alert(1)&gt;?&quot;r&quot;&amp;</span>');
    assert.doesNotMatch(html, /<img src=x|\u202e/);
  });

  it('says so in the header when this replica runs in local mode, and names ten members at most', () => {
    const local = renderStatusPage(snapshotOf({ ...clustered, cluster: { ...clustered.cluster!, localMode: true, members: ['replica-1'] } }, 2_000, 30));
    assert.match(local, /<span id="cluster" class="cluster cluster-local" aria-live="polite">replica replica-1 in local mode: Redis unreachable, checking every platform here<\/span> · /);
    const members = Array.from({ length: 25 }, (_, i) => `r-${String(i).padStart(2, '0')}`);
    const many = renderStatusPage(snapshotOf({ ...clustered, cluster: { ...clustered.cluster!, replica: 'r-07', members } }, 2_000, 30));
    assert.match(many, /<span id="cluster"[^>]*>replica r-07 of 25: r-00, r-01, r-02, r-03, r-04, r-05, r-06, r-07, r-08, r-09, and 15 more<\/span>/);
  });

  it('shows nothing of a cluster without one: no header words, no column, no replica in a row', () => {
    const html = renderStatusPage(snapshotOf(base, 2_000, 30));
    assert.doesNotMatch(html, /id="cluster"|owner|c-owner|Checked by|class="by"|replica/);
    assert.match(html, /<caption>Breaker state, last check, recent latency, success share and next trial of each platform<\/caption>/);
    assert.match(html, /<p class="meta"><span id="counts">/);
  });

  it('sends a row’s last check when it ran on another replica, and its owner when it moves; not what the pages take from the checks sent', () => {
    const sent: PlatformView = { name: 'db', state: 'CLOSED', critical: false, failures: 0, last: 'success', lastAt: 1_000, lastMs: 12, owner: 'replica-1', lastBy: 'replica-1', checks: '', ms: [] };
    // Another replica checked it last: the pages cannot take that from this replica's checks.
    const remote: PlatformView = { ...sent, last: 'failure', lastAt: 2_000, owner: 'replica-2', lastBy: 'replica-2' };
    delete remote.lastMs;
    assert.deepEqual(rowChange(0, sent, remote), { i: 0, owner: 'replica-2', lastBy: 'replica-2', last: 'failure', lastAt: 2_000, lastMs: null });
    // An older check of this replica's arrives in the same update: the pages take it, then the change puts the newer one back.
    assert.deepEqual(rowChange(0, sent, remote, { at: 1_900, status: 'success', durationSeconds: 0.02 }), { i: 0, owner: 'replica-2', lastBy: 'replica-2', last: 'failure', lastAt: 2_000, lastMs: null });
    // This replica checked it last, and the update brings that check: only where it ran changes.
    const local: PlatformView = { ...sent, last: 'timeout', lastAt: 3_000, lastMs: 5_000 };
    assert.deepEqual(rowChange(0, remote, { ...local, owner: 'replica-2' }, { at: 3_000, status: 'timeout', durationSeconds: 5 }), { i: 0, lastBy: 'replica-1' });
    assert.equal(rowChange(0, local, { ...local, last: 'success', lastAt: 4_000, lastMs: 7 }, { at: 4_000, status: 'success', durationSeconds: 0.007 }), undefined);
  });
});

describe('sparklineSvg', () => {
  it('draws the checks that ran right-aligned, failures as dots, rejected checks as gaps', () => {
    const svg = sparklineSvg('ssfrrs', [10, 20, 40, 0, 0, 5], 30);
    assert.equal(svg.match(/<polyline/g)?.length, 2, 'the rejected run splits the line');
    assert.equal(svg.match(/<circle/g)?.length, 1);
    assert.match(svg, /aria-label="latency of the last 4 checks: 5 ms to 40 ms, last 5 ms"/);
    assert.match(svg, /points="[^"]*117\.0,\d/, 'the newest check at the right edge');
  });

  it('says so when no check ran', () => {
    assert.match(sparklineSvg('', [], 30), /aria-label="no latency: no checks yet"/);
    assert.match(sparklineSvg('rr', [0, 0], 30), /aria-label="no latency: no check ran"/);
  });
});

describe('maskSecrets', () => {
  const table: Array<[string, string]> = [
    ['https://user:pass@host/x', 'https://user:***@host/x'],
    ['connect to postgres://app:p%40ss@db:5432/main failed', 'connect to postgres://app:***@db:5432/main failed'],
    ['http://:onlypass@h', 'http://:***@h'],
    ['http://user@host (no password)', 'http://user@host (no password)'],
    ['GET /x?token=abc123&page=2', 'GET /x?token=***&page=2'],
    ['https://h/cb?code=1&api_key=K&PASSWORD=p', 'https://h/cb?code=1&api_key=***&PASSWORD=***'],
    ['plain text: a:b@c is not a URL', 'plain text: a:b@c is not a URL'],
  ];
  for (const [input, expected] of table) it(`masks ${JSON.stringify(input)}`, () => assert.equal(maskSecrets(input), expected));

  it('masks a check error before it reaches the report', async () => {
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer });
    monitors.push(monitor);
    monitor.register('api', () => {
      throw new Error('GET https://bob:s3cret@api.example/health?token=abc failed');
    });
    await monitor.checkPlatformHealth('api');
    assert.equal(monitor.report().platforms[0]!.lastError, 'GET https://bob:***@api.example/health?token=*** failed');
  });
});

describe('the status page stream on a wall clock that steps', () => {
  it('keeps its heartbeat every 10 s when the wall clock steps back an hour', async () => {
    useFakeClock(1_750_000_000_000);
    try {
      const { base } = await serve({ idle: () => true }, { updateIntervalMs: 1_000 });
      const controller = new AbortController();
      const response = await fetch(`${base}events`, { signal: controller.signal });
      const reader = response.body!.getReader();
      let received = '';
      // Reads whatever has arrived, letting real I/O run between fake-clock steps; a read still
      // pending when it gives up is kept for the next drain, so no chunk is lost.
      let pending: ReturnType<typeof reader.read> | undefined;
      const drain = async () => {
        for (let i = 0; i < 20; i += 1) {
          pending ??= reader.read();
          const next = await Promise.race([pending, settle(5).then(() => undefined)]);
          if (next === undefined) return;
          pending = undefined;
          if (next.done) return;
          received += new TextDecoder().decode(next.value);
        }
      };
      await drain();
      assert.match(received, /event: snapshot/);
      const heartbeats = () => received.split(HEARTBEAT.toString()).length - 1;
      for (let s = 0; s < 11; s += 1) {
        await advance(1_000);
        await drain();
      }
      assert.ok(heartbeats() >= 1, 'a heartbeat within 10 s of quiet');
      received = '';
      stepWallClock(-3_600_000);
      for (let s = 0; s < 25; s += 1) {
        await advance(1_000);
        await drain();
      }
      assert.equal(heartbeats(), 2, `two heartbeats in the 25 s after the step: ${JSON.stringify(received)}`);
      controller.abort();
    } finally {
      useRealClock();
    }
  });
});

describe('event streams that never read', () => {
  it('frees every place at maxStreamAgeMs: 16 clients that never read, 200 platforms, a 17th gets in after 60 s', async () => {
    useFakeClock(1_750_000_000_000);
    const sockets: Socket[] = [];
    try {
      const platforms = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`platform-${i}`, () => true]));
      const { monitor, page, base } = await serve(platforms, { maxStreams: 16 }, 1_000);
      monitor.start();
      const { port } = new URL(base);
      /** A client that asks for the stream and never reads a byte of it; resolves once the server has taken or refused it. */
      const stalled = async () => {
        const socket = connect(Number(port), '127.0.0.1');
        sockets.push(socket);
        socket.on('error', () => {});
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.pause();
        const before = page.streams;
        socket.write(`GET /status/events HTTP/1.1\r\nHost: x\r\n\r\n`);
        for (let i = 0; i < 200 && page.streams === before; i += 1) await settle();
      };
      for (let i = 0; i < 16; i += 1) await stalled();
      assert.equal(page.streams, 16);
      assert.equal((await fetch(`${base}events`)).status, 503, 'a 17th is refused while they hold every place');
      await advance(59_000, 1_000);
      assert.equal(page.streams, 16, 'held until their age');
      await advance(1_000);
      assert.equal(page.streams, 0, 'ended at 60 s though they never read');
      const controller = new AbortController();
      const seventeenth = await fetch(`${base}events`, { signal: controller.signal });
      assert.equal(seventeenth.status, 200, 'the 17th gets a place');
      controller.abort();
    } finally {
      for (const socket of sockets) socket.destroy();
      useRealClock();
    }
  });

  it('sends a page that comes back with the id of the last event it got what it missed, not a snapshot', async () => {
    const { monitor, base } = await serve({ a: () => true, b: () => false }, { updateIntervalMs: 20 }, 10);
    monitor.start();
    // One page stays open throughout, so the feed keeps following and numbering its updates.
    const stay = new AbortController();
    const staying = readEvents(`${base}events`, () => false, stay.signal).catch(() => {});
    const first = await readEvents(`${base}events`, (list) => list.length >= 2);
    const lastId = first.at(-1)!.id!;
    assert.match(lastId, /^[0-9a-f]{8}-\d+$/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const back = await readEvents(`${base}events`, (list) => list.length >= 3, undefined, { 'last-event-id': lastId });
    assert.ok(back.every((e) => e.event === 'update'), `no snapshot: ${back.map((e) => e.event)}`);
    const seq = (id: string) => Number(id.split('-')[1]);
    assert.deepEqual(back.map((e) => seq(e.id!)), back.map((_, k) => seq(lastId) + k + 1), 'the updates right after the last one it got, in order');
    const stranger = await readEvents(`${base}events`, (list) => list.length >= 1, undefined, { 'last-event-id': 'deadbeef-3' });
    assert.equal(stranger[0]!.event, 'snapshot', 'an id this feed did not give gets a snapshot');
    stay.abort();
    await staying;
  });
});

describe('the status page stream with a cluster, on a real Redis', () => {
  let redis: RedisServer;
  before(async () => (redis = await startRedis()));
  after(() => redis?.stop());

  /** What a page holds after `events`, applied as static/status.js applies them. */
  function shown(events: Array<{ event: string; data: any }>) {
    let cluster = events[0]!.data.cluster;
    const rows: Array<Record<string, unknown>> = events[0]!.data.platforms.map((p: object) => ({ ...p }));
    for (const { data } of events.slice(1)) {
      cluster = data.cluster;
      const c = data.checks;
      for (let k = 0; k < c.row.length; k += 1) Object.assign(rows[c.row[k]]!, { last: ({ s: 'success', f: 'failure', t: 'timeout', r: 'rejected' } as Record<string, string>)[c.status[k]], lastAt: data.now + c.at[k], lastMs: c.ms[k] });
      for (const { i, ...change } of data.rows) {
        for (const [key, value] of Object.entries(change)) {
          if (value === null) delete rows[i]![key];
          else rows[i]![key] = value;
        }
      }
    }
    return { cluster, rows };
  }

  it('sends what the other replicas change — the members, each row’s owner, a last check that ran elsewhere — though this replica runs no check', async () => {
    const ids = ['replica-0', 'replica-1'];
    // Platforms replica-1 owns once both are members: replica-0 then checks none of them.
    const names = Array.from({ length: 64 }, (_, i) => `p-${i}`).filter((name) => top(name, ids, 1)[0] === 'replica-1').slice(0, 2);
    // Commands get a second: a busy machine does not make a replica step into local mode, and so move every platform.
    const cluster = (instanceId: string) => ({ redisUrl: redis.url, instanceId, keyPrefix: 'page-stream', heartbeatMs: 100, commandTimeoutMs: 1_000 });
    const breaker = { failMax: 1_000, resetTimeoutMs: 60_000 };
    const { monitor, base } = await serve(Object.fromEntries(names.map((name) => [name, () => true])), { updateIntervalMs: 20 }, 100, { cluster: cluster('replica-0'), breaker });
    monitor.start();
    const alone = () => {
      const report = monitor.report();
      return report.cluster?.localMode === false && report.platforms.every((p) => p.lastCheckBy === 'replica-0');
    };
    for (let i = 0; i < 500 && !alone(); i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(alone(), JSON.stringify(monitor.report()));
    // replica-1's check of the first platform fails: what the page shows of it can only come from there.
    const other = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer, intervalMs: 100, breaker, cluster: cluster('replica-1') });
    monitors.push(other);
    names.forEach((name, k) => other.register(name, () => k > 0));
    let joined = false;
    const events = await readEvents(`${base}events`, (list) => {
      if (!joined) {
        other.start();
        joined = true;
      }
      const page = shown(list);
      return page.cluster.memberCount === 2 && page.rows.every((r) => r.owner === 'replica-1' && r.lastBy === 'replica-1') && page.rows[0]!.last === 'failure';
    }, AbortSignal.timeout(30_000));
    const [snapshot, ...updates] = events;
    assert.deepEqual(snapshot!.data.cluster, { replica: 'replica-0', localMode: false, members: ['replica-0'], memberCount: 1 });
    assert.deepEqual(snapshot!.data.platforms.map((p: PlatformView) => [p.owner, p.lastBy, p.last]), [['replica-0', 'replica-0', 'success'], ['replica-0', 'replica-0', 'success']]);
    const page = shown(events);
    assert.deepEqual(page.cluster, { replica: 'replica-0', localMode: false, members: ['replica-0', 'replica-1'], memberCount: 2 });
    assert.deepEqual(page.rows.map((r) => [r.owner, r.lastBy, r.last, r.lastMs]), [['replica-1', 'replica-1', 'failure', undefined], ['replica-1', 'replica-1', 'success', undefined]], 'the other replica’s checks, whose latency stays where they ran');
    assert.ok(updates.some((u) => u.data.checks.row.length === 0 && u.data.rows.length > 0), 'changes came in updates without a check of this replica');
    assert.ok(updates.every((u) => u.data.rows.every((r: { name?: string }) => r.name === undefined)), 'only what changed');
  });
});
