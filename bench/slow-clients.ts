// Clients that ask for /metrics and never read: peak RSS and how late a 10 ms
// timer runs meanwhile. Standalone: node --expose-gc bench/slow-clients.ts
import { connect, type Socket } from 'node:net';
import { startTelemetry } from '../src/telemetry.ts';
import { initMetrics } from '../src/metrics.ts';
const t = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
const m = initMetrics();
for (let i = 0; i < 10000; i++) { const p = `platform-${i}`; m.recordHealthCheck(p, 'success', 0.01); m.recordHealthCheck(p, 'failure', 0.01); m.setBreakerState(p, 'closed'); m.recordPluginFailure(p, 'ECONNREFUSED'); }
const port = Number(new URL(t.metricsUrl!).port);
const size = (await (await fetch(t.metricsUrl!)).arrayBuffer()).byteLength;
globalThis.gc?.();
const mb = () => (process.memoryUsage().rss / 2 ** 20).toFixed(0);
console.log('body MB', (size / 2 ** 20).toFixed(1), 'rss before', mb());
const sockets: Socket[] = [];
for (let i = 0; i < 200; i++) { const s = connect({ host: '127.0.0.1', port }); s.pause(); s.on('error', () => {}); s.write('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n'); sockets.push(s); await new Promise((r) => setTimeout(r, 5)); }
let max = 0;
const lags: number[] = [];
let last = performance.now();
const iv = setInterval(() => { const now = performance.now(); lags.push(now - last - 10); last = now; max = Math.max(max, process.memoryUsage().rss); }, 10);
await new Promise((r) => setTimeout(r, 12000));
clearInterval(iv);
console.log('peak rss MB', (max / 2 ** 20).toFixed(0), 'open sockets', sockets.filter((s) => !s.destroyed).length, 'max timer lag ms', Math.max(...lags).toFixed(1));
for (const s of sockets) s.destroy();
await t.shutdown();
