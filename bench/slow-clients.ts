// Clients that ask for /metrics and never read, while a monitor checks 1,000
// platforms every second: peak RSS, how late a 10 ms timer runs, and how many
// checks the monitor had to skip. Standalone: node --expose-gc bench/slow-clients.ts [clients=200]
import { connect, type Socket } from 'node:net';
import { HealthMonitor } from '../src/monitor/health-monitor.ts';
import { silentLogger } from '../src/common/logger.ts';
import { initMetrics } from '../src/core/metrics.ts';
import { startTelemetry } from '../src/telemetry/start-telemetry.ts';

const CLIENTS = Number(process.argv[2] ?? 200);
const SERIES_PLATFORMS = 10_000;
const CHECKED_PLATFORMS = 1_000;
const WATCH_MS = 12_000; // past the 10 s write timeout

const telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
// Series for 10,000 platforms make a /metrics body of ~13 MB.
const metrics = initMetrics();
for (let i = 0; i < SERIES_PLATFORMS; i += 1) {
  const p = `platform-${i}`;
  metrics.recordHealthCheck(p, 'success', 0.01);
  metrics.recordHealthCheck(p, 'failure', 0.01);
  metrics.setBreakerState(p, 'CLOSED');
  metrics.recordPluginFailure(p, 'ECONNREFUSED');
}
const monitor = new HealthMonitor({ intervalMs: 1_000, resources: false, logger: silentLogger });
let checks = 0;
for (let i = 0; i < CHECKED_PLATFORMS; i += 1) monitor.register(`checked-${i}`, () => void (checks += 1));
monitor.start();

const port = Number(new URL(telemetry.metricsUrl!).port);
const size = (await (await fetch(telemetry.metricsUrl!)).arrayBuffer()).byteLength;
(globalThis as { gc?: () => void }).gc?.();
const rssBefore = process.memoryUsage().rss;
const skippedBefore = monitor.report().skippedChecks;
const checksBefore = checks;

let peak = rssBefore;
let maxLag = 0;
let last = performance.now();
const sampler = setInterval(() => {
  const now = performance.now();
  maxLag = Math.max(maxLag, now - last - 10);
  last = now;
  peak = Math.max(peak, process.memoryUsage().rss);
}, 10);

const sockets: Socket[] = [];
for (let i = 0; i < CLIENTS; i += 1) {
  const socket = connect({ host: '127.0.0.1', port });
  socket.pause(); // asks, and never reads
  socket.on('error', () => {});
  socket.write('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n');
  sockets.push(socket);
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
clearInterval(sampler);

const MB = 2 ** 20;
console.log(
  `${CLIENTS} clients that never read a ${(size / MB).toFixed(1)} MB /metrics: RSS ${(rssBefore / MB).toFixed(0)} MB -> peak ${(peak / MB).toFixed(0)} MB; ` +
    `a 10 ms timer at most ${maxLag.toFixed(1)} ms late; the monitor ran ${checks - checksBefore} checks of ${CHECKED_PLATFORMS} platforms @ 1 s ` +
    `and skipped ${monitor.report().skippedChecks - skippedBefore}`,
);
for (const socket of sockets) socket.destroy();
await monitor.stop();
await telemetry.shutdown();
