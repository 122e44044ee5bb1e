// Bytes an open status page receives per second, at 1,000 platforms checked
// every second, while the set of platforms is steady and while one platform
// is registered again every 500 ms (it leaves and comes back at the end).
//
//   node bench/status-page-churn.ts [seconds per phase, default 20]
//
// One process: the monitor, the status page on a loopback server, and one
// client that reads the event stream and counts its bytes. The figure is
// bytes, not time, so the machine's load barely moves it. It reports; it asserts nothing.
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor } from '../src/monitor/health-monitor.ts';
import { silentLogger } from '../src/common/logger.ts';
import { statusPageHandler } from '../src/http/status-page/status-page.ts';

const PLATFORMS = 1_000;
const CHURN_MS = 500;
const PHASE_S = Number(process.argv[2] ?? 20);

const monitor = new HealthMonitor({ intervalMs: 1_000, resources: false, logger: silentLogger });
const check = () => true;
for (let i = 0; i < PLATFORMS; i += 1) monitor.register(`platform-${i}`, check);
const page = statusPageHandler(monitor);
const server = createServer(page);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
monitor.start();

const controller = new AbortController();
const response = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/events`, { signal: controller.signal });
let bytes = 0;
let snapshots = 0;
const reading = (async () => {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body!) {
      bytes += chunk.byteLength;
      snapshots += decoder.decode(chunk, { stream: true }).split('event: snapshot\n').length - 1;
    }
  } catch {
    // aborted at the end
  }
})();

/** Bytes per second the stream received over `seconds`, and the snapshots among them. */
async function phase(seconds: number): Promise<{ kbPerS: number; snapshots: number }> {
  const [b0, s0] = [bytes, snapshots];
  await sleep(seconds * 1000);
  return { kbPerS: (bytes - b0) / 1000 / seconds, snapshots: snapshots - s0 };
}

// The first snapshot and the schedule's first round are no phase's.
await sleep(3_000);
const steady = await phase(PHASE_S);
let k = 0;
const churn = setInterval(() => {
  const name = `platform-${k++ % PLATFORMS}`;
  monitor.unregister(name);
  monitor.register(name, check);
}, CHURN_MS);
await sleep(1_000);
const churning = await phase(PHASE_S);
clearInterval(churn);
controller.abort();
await reading;
page.close();
await monitor.stop();
server.close();

const kb = (n: number) => n.toFixed(1);
console.log(`status page stream at ${PLATFORMS} platforms @ 1 s, ${PHASE_S} s per phase:`);
console.log(`  steady set of platforms:            ${kb(steady.kbPerS)} KB/s (${steady.snapshots} snapshots)`);
console.log(`  one registered again every ${CHURN_MS} ms: ${kb(churning.kbPerS)} KB/s (${churning.snapshots} snapshots)`);
