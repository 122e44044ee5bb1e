// The package's HTTP server against clients that hold it: ones that never send
// a request, never read the answer, or open more connections than it serves.
import { afterEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setImmediate as realImmediate } from 'node:timers/promises';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { getMetricsRegistry, startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { HTTP_SERVER_DEFAULTS } from '../../src/http/server.ts';
import { MAX_HELD_RENDERINGS, scrapeSource } from '../../src/telemetry/scrape.ts';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import { useFakeClock, useRealClock } from '../helpers/clock.ts';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { livenessHandler } from '../../src/http/probes.ts';
import { statusPageHandler, type StatusPageHandler } from '../../src/http/status-page/status-page.ts';

let telemetry: Telemetry | undefined;
let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  useRealClock();
  mock.restoreAll();
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  await telemetry?.shutdown();
  telemetry = undefined;
});

const portOf = (t: Telemetry): number => Number(new URL(t.metricsUrl!).port);

/** A raw connection to 127.0.0.1:port that resolves once connected. */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves true once the server has closed `socket`, false if it has not within `ms` of real time (a safety bound, not a measurement). */
async function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!socket.destroyed && !socket.readableEnded && performance.now() < deadline) {
    await new Promise((resolve) => {
      socket.once('close', resolve);
      socket.once('end', resolve);
      const t = setTimeoutReal(resolve, 20);
      socket.once('close', () => clearTimeoutReal(t));
    });
  }
  return socket.destroyed || socket.readableEnded;
}
// The real timers, kept before any test fakes them.
const setTimeoutReal = globalThis.setTimeout.bind(globalThis);
const clearTimeoutReal = globalThis.clearTimeout.bind(globalThis);

describe('the /metrics server under hostile clients', () => {
  it('renders once for concurrent scrapes and hands every one the same text', async () => {
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    const collect = mock.method(PrometheusExporter.prototype, 'collect');
    const texts = await Promise.all(Array.from({ length: 20 }, () => getMetricsRegistry().metrics()));
    assert.equal(collect.mock.callCount(), 1, 'one collection for 20 concurrent scrapes');
    assert.equal(new Set(texts).size, 1);
    await getMetricsRegistry().metrics();
    assert.equal(collect.mock.callCount(), 2, 'a later scrape collects afresh');
  });

  it('ends the exposition with a newline even with no instruments (promtool rejects it otherwise)', async () => {
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    assert.ok((await getMetricsRegistry().metrics()).endsWith('\n'));
  });

  it('drops a client that never reads its response once the write timeout passes, and keeps serving', async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    // A body far larger than the kernel's socket buffers, so the write cannot finish unread.
    const body = Buffer.alloc(64 * 1024 * 1024, 'x');
    telemetry.route('/big', (_request, response) => response.end(body));
    const socket = await open(portOf(telemetry));
    socket.pause();
    useFakeClock();
    socket.write('GET /big HTTP/1.1\r\nhost: x\r\n\r\n');
    for (let i = 0; i < 20; i += 1) await realImmediate();
    assert.equal(socket.destroyed, false, 'the response is still being written');
    mock.timers.tick(HTTP_SERVER_DEFAULTS.writeTimeoutMs);
    useRealClock();
    socket.resume(); // read what the kernel holds so the close can arrive
    assert.ok(await closedWithin(socket, 5_000), 'the server dropped the socket that did not drain');
    assert.equal((await fetch(telemetry.metricsUrl!)).status, 200);
  });

  it('drops a connection that sends no request once the headers timeout passes', async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false, headersTimeoutMs: 200 });
    const socket = await open(portOf(telemetry));
    assert.ok(await closedWithin(socket, 10_000), 'the idle connection was dropped');
  });

  it('drops an idle keep-alive connection once the keep-alive timeout passes', async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false, keepAliveTimeoutMs: 200 });
    const socket = await open(portOf(telemetry));
    socket.write('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n');
    socket.resume();
    assert.ok(await closedWithin(socket, 10_000), 'the keep-alive connection was dropped');
  });

  it(`holds at most ${HTTP_SERVER_DEFAULTS.maxConnections} connections: past that a new one evicts the oldest idle one, so a probe always gets in`, async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    const port = portOf(telemetry);
    const held: Socket[] = [];
    for (let i = 0; i < HTTP_SERVER_DEFAULTS.maxConnections; i += 1) held.push(await open(port));
    assert.equal((await fetch(telemetry.metricsUrl!)).status, 200, 'the probe got in');
    assert.ok(await closedWithin(held[0]!, 5_000), 'the oldest idle connection made room');
    assert.ok(held.slice(1).every((s) => !s.destroyed && !s.readableEnded), 'the others are still open');
    for (const socket of held) socket.destroy();
  });

  it('closes a new connection when every one it holds is busy answering', async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false, maxConnections: 4 });
    telemetry.route('/slow', () => {}); // answers never
    const port = portOf(telemetry);
    const busy: Socket[] = [];
    for (let i = 0; i < 4; i += 1) {
      const socket = await open(port);
      socket.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n');
      busy.push(socket);
    }
    for (let i = 0; i < 20; i += 1) await realImmediate(); // let the server read the requests
    const extra = await open(port);
    assert.ok(await closedWithin(extra, 5_000), 'the new connection was closed');
    assert.ok(busy.every((s) => !s.destroyed && !s.readableEnded), 'the busy ones were kept');
    for (const socket of busy) socket.destroy();
  });

  it(`serves the newest rendering still being sent, not a new one, while ${MAX_HELD_RENDERINGS} are held by clients that do not read`, async () => {
    let calls = 0;
    // Each rendering far larger than the kernel's socket buffers, and telling which one it is.
    const source = scrapeSource(async () => `# rendering ${(calls += 1)}\n${'x'.repeat(32 * 1024 * 1024)}\n`);
    const responses: ServerResponse[] = [];
    const server = createServer((request, response) => {
      responses.push(response);
      source.handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const stuck: Socket[] = [];
    try {
      for (let i = 0; i < MAX_HELD_RENDERINGS; i += 1) {
        const socket = await open(port);
        socket.pause();
        socket.write('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n');
        stuck.push(socket);
        // Until the server has ended the response and the socket has not taken it.
        for (let k = 0; k < 500 && !(responses[i]?.writableEnded && !responses[i]?.writableFinished); k += 1) await new Promise((r) => setTimeoutReal(r, 10));
        assert.ok(responses[i]?.writableEnded && !responses[i]?.writableFinished, `response ${i + 1} is stuck`);
      }
      assert.equal(calls, MAX_HELD_RENDERINGS);
      const shared = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.equal(calls, MAX_HELD_RENDERINGS, 'no new rendering while the held ones are being sent');
      assert.ok(shared.startsWith(`# rendering ${MAX_HELD_RENDERINGS}\n`), 'the newest held one');
      for (const socket of stuck) socket.destroy();
      for (let k = 0; k < 500 && responses.slice(0, MAX_HELD_RENDERINGS).some((r) => !r.destroyed); k += 1) await new Promise((r) => setTimeoutReal(r, 10));
      const fresh = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.ok(fresh.startsWith(`# rendering ${MAX_HELD_RENDERINGS + 1}\n`), 'a fresh one once the slow clients are gone');
    } finally {
      for (const socket of stuck) socket.destroy();
      server.close();
      server.closeAllConnections();
    }
  });
});

/** GET `path` on a connection of its own (no pool): resolves with the status, or the error's code. */
function getAlone(port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode!));
    });
    req.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

/** Opens an event stream on a raw socket; resolves with the socket and the status line once the head is in. */
function openStream(port: number, path: string): Promise<{ socket: Socket; status: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`));
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!match || !head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      // Reads and discards the rest, as a browser keeps up with its page.
      socket.resume();
      resolve({ socket, status: Number(match[1]) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('the server keeps places for requests that end, whatever the event streams hold', () => {
  it(`answers /livez and /metrics 10 of 10 times with ${HTTP_SERVER_DEFAULTS.maxConnections} status pages open on the default options`, async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger });
    monitor.register('a', () => true);
    const page: StatusPageHandler = statusPageHandler(monitor);
    cleanups.push(() => monitor.stop(), () => page.close());
    telemetry.route('/livez', livenessHandler(monitor));
    for (const path of page.paths) telemetry.route(path, page);
    const port = portOf(telemetry);
    const streams: Array<{ socket: Socket; status: number }> = [];
    for (let i = 0; i < HTTP_SERVER_DEFAULTS.maxConnections; i += 1) streams.push(await openStream(port, '/events'));
    cleanups.push(() => streams.forEach((s) => s.socket.destroy()));
    const answers: Array<number | string> = [];
    for (let i = 0; i < 10; i += 1) answers.push(await getAlone(port, '/livez'), await getAlone(port, '/metrics'));
    assert.deepEqual(answers, Array(20).fill(200));
    const held = streams.filter((s) => s.status === 200).length;
    assert.equal(held, HTTP_SERVER_DEFAULTS.maxConnections / 2, 'event streams hold at most half the connections');
    assert.equal(page.streams, held, 'the probes took no stream away');
    assert.ok(streams.filter((s) => s.status !== 200).every((s) => s.status === 503), 'the others are told to come back');
  });

  it('says why a stream is refused, in the package’s words', async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false, maxConnections: 4 });
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger });
    const page = statusPageHandler(monitor, { maxStreams: 10 });
    cleanups.push(() => monitor.stop(), () => page.close());
    for (const path of page.paths) telemetry.route(path, page);
    const port = portOf(telemetry);
    const held = [await openStream(port, '/events'), await openStream(port, '/events')];
    cleanups.push(() => held.forEach((s) => s.socket.destroy()));
    assert.deepEqual(held.map((s) => s.status), [200, 200]);
    const refused = await fetch(`http://127.0.0.1:${port}/events`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '10');
    assert.equal(await refused.text(), 'too many event streams open on this server: they may hold 2 of its 4 connections, the rest stay for probes and scrapes\n');
    held[0]!.socket.destroy();
    for (let i = 0; page.streams > 1 && i < 500; i += 1) await realImmediate();
    const again = await openStream(port, '/events');
    held.push(again);
    assert.equal(again.status, 200, 'a closed stream gives its place back');
    page.close();
    const after = [await openStream(port, '/events'), await openStream(port, '/events')];
    held.push(...after);
    assert.deepEqual(after.map((s) => s.status), [200, 200], 'streams the page ended give their places back');
  });
});
