// The probes' handlers on a real server: what a kubelet (or a person with curl) reads.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { livenessHandler, readinessHandler } from '../../src/http/probes.ts';

let monitor: HealthMonitor | undefined;
let server: Server | undefined;
afterEach(async () => {
  await monitor?.stop();
  server?.closeAllConnections();
  server?.close();
});

/** Serves `/readyz` and `/livez` of `m`; returns the base URL. */
async function serve(m: HealthMonitor): Promise<string> {
  const ready = readinessHandler(m);
  const live = livenessHandler(m);
  server = createServer((req, res) => (req.url === '/readyz' ? ready : live)(req, res));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('the probes', () => {
  it('say which critical platform keeps the monitor from being ready, and its breaker’s state, in plain words', async () => {
    monitor = new HealthMonitor({ resources: false, logger: silentLogger });
    monitor.register('db', () => true, { critical: true });
    monitor.register('chat', () => true);
    monitor.register('queue', () => true, { critical: true });
    const base = await serve(monitor);
    monitor.start();
    monitor.getBreaker('db')!.forceOpen();
    monitor.getBreaker('chat')!.forceOpen();
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(await ready.text(), 'not ready\ncritical platform "db": breaker is OPEN\n');
    const live = await fetch(`${base}/livez`);
    assert.equal(live.status, 200, 'platforms never affect liveness');
    assert.equal(await live.text(), 'live\n');
  });
});
