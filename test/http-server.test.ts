// The package's HTTP server against clients that hold it: ones that never send
// a request, never read the answer, or open more connections than it serves.
import { afterEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setImmediate as realImmediate } from 'node:timers/promises';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { getMetricsRegistry, startTelemetry, type Telemetry } from '../src/telemetry.ts';
import { HTTP_SERVER_DEFAULTS } from '../src/http-server.ts';
import { useFakeClock, useRealClock } from './helpers/clock.ts';

let telemetry: Telemetry | undefined;
afterEach(async () => {
  useRealClock();
  mock.restoreAll();
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

  it(`serves at most ${HTTP_SERVER_DEFAULTS.maxConnections} connections by default, and answers again once idle ones are dropped`, async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false, headersTimeoutMs: 1_000 });
    const port = portOf(telemetry);
    const held = await Promise.all(Array.from({ length: HTTP_SERVER_DEFAULTS.maxConnections }, () => open(port)));
    const extra = await open(port);
    assert.ok(await closedWithin(extra, 5_000), 'a connection past the cap is closed');
    assert.ok(held.every((s) => !s.destroyed && !s.readableEnded), 'closed before any idle one timed out: by the cap');
    for (const socket of held) assert.ok(await closedWithin(socket, 10_000), 'idle connections are dropped');
    assert.equal((await fetch(telemetry.metricsUrl!)).status, 200);
  });
});
