import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.ts';

/** A platform on loopback that answers 200 until it is stopped. */
async function startPlatform(): Promise<{ url: string; server: Server }> {
  const server = createServer((_, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server };
}

describe('the monitor under a real Prometheus', () => {
  let telemetry: Telemetry;
  let prometheus: PrometheusHandle;
  let monitor: HealthMonitor;
  const platforms: Record<string, { url: string; server: Server }> = {};

  before(async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    for (const name of ['steady', 'victim']) platforms[name] = await startPlatform();
    monitor = new HealthMonitor({ intervalMs: 300, timeoutMs: 250, resources: false, logger: silentLogger });
    for (const [name, { url }] of Object.entries(platforms)) {
      monitor.register(name, async (signal) => (await fetch(url, { signal })).ok);
    }
    monitor.start();
    prometheus = await startPrometheus({ targets: [new URL(telemetry.metricsUrl!).host] });
    await prometheus.waitForTargetsUp();
  });
  after(async () => {
    await monitor?.stop();
    await prometheus?.stop();
    await telemetry?.shutdown();
    for (const { server } of Object.values(platforms)) server.close();
  });

  it('shows a stopped platform breaker open and its failures counted, the other one closed', async () => {
    await prometheus.waitForQuery('health_check_total{platform="victim",status="success"}', (r) => Number(r[0]?.value[1]) >= 1);
    platforms.victim!.server.close();
    platforms.victim!.server.closeAllConnections();
    await prometheus.waitForQuery('circuit_breaker_state{platform="victim",state="open"}', (r) => r[0]?.value[1] === '1');
    const failures = await prometheus.waitForQuery('sum(plugin_failure_total{platform="victim"})', (r) => Number(r[0]?.value[1]) >= 3);
    assert.ok(Number(failures[0]!.value[1]) >= 3);
    const rejected = await prometheus.waitForQuery('health_check_total{platform="victim",status="rejected"}', (r) => Number(r[0]?.value[1]) >= 1);
    assert.ok(Number(rejected[0]!.value[1]) >= 1, 'checks of the open breaker are rejected');
    const steady = await prometheus.query('circuit_breaker_state{platform="steady",state="closed"}');
    assert.equal(steady[0]?.value[1], '1');
    assert.equal(monitor.report().platforms.find((p) => p.platform === 'victim')?.breakerState, 'OPEN');
  });
});
