// How long stop() holds the event loop in one piece with 1,000 http checks in
// flight (issue 20, item 8: 502 ms before the aborts were sliced). A server
// that takes the connections and never answers keeps every check in flight;
// a 1 ms interval timer records the longest gap between its runs while stop()
// runs. Usage: node bench/stop-block.ts [checks]
import { createServer, type Socket } from 'node:net';
import { HealthMonitor } from '../src/monitor/health-monitor.ts';
import { httpCheck } from '../src/monitor/checks/http-check.ts';
import { silentLogger } from '../src/common/logger.ts';

const CHECKS = Number(process.argv[2] ?? 1_000);
const sockets: Socket[] = [];
const server = createServer((socket) => void sockets.push(socket));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

const monitor = new HealthMonitor({ resources: false, logger: silentLogger, intervalMs: 60_000, timeoutMs: 60_000, maxConcurrent: CHECKS });
for (let i = 0; i < CHECKS; i += 1) monitor.register(`p${i}`, httpCheck({ url: `http://127.0.0.1:${port}/${i}` }));
monitor.start();
// Every check has opened its connection once the server holds them all.
for (let waited = 0; sockets.length < CHECKS && waited < 60_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));

let last = performance.now();
let longest = 0;
const ticker = setInterval(() => {
  const now = performance.now();
  longest = Math.max(longest, now - last);
  last = now;
}, 1);
const started = performance.now();
last = started;
await monitor.stop();
const took = performance.now() - started;
// One more turn: a block that ended the stop is measured too.
await new Promise((resolve) => setTimeout(resolve, 5));
clearInterval(ticker);
for (const socket of sockets) socket.destroy();
server.close();
console.log(JSON.stringify({ checksInFlight: sockets.length, stopMs: Math.round(took), longestEventLoopBlockMs: Math.round(longest * 10) / 10 }));
