// A conductor in miniature, using conductor-health as a library: its plugins'
// own health drives each platform's breaker, its calls to a platform ask that
// breaker for a permit, and its own HTTP server serves the probes and /metrics.
// One plugin fails its first checks, so within a few seconds its breaker opens,
// half-opens and closes again; the app then reads its own endpoints and stops
// as it would on SIGTERM, leaving nothing that keeps the process alive.
//
//   node examples/library.ts      (in a clone, after npm ci; Node 24 strips the types itself)
//
// In an app, copy it next to your code: Node does not strip types under node_modules.
import { createServer } from 'node:http';
import {
  HealthMonitor,
  healthHandler,
  livenessHandler,
  readinessHandler,
  startTelemetry,
  type BreakerStateChange,
  type PluginManager,
  type RequestHandler,
} from 'conductor-health';

// Before any instrument exists: the OpenTelemetry metrics API has no proxy. No
// server of its own: /metrics is served below, beside the probes.
const telemetry = await startTelemetry({ serviceName: 'conductor', startServer: false, hostMetrics: false });

// Stand-ins for the conductor's plugins. 'billing' loses its database for its
// first three checks, which is what the breaker's default failMax counts.
let billingChecks = 0;
const plugins: PluginManager = {
  platforms: () => ['discord', 'billing'],
  async checkHealth(platform) {
    if (platform === 'billing' && ++billingChecks <= 3) return { status: 'unhealthy', message: 'database unreachable' };
    return { status: 'healthy' };
  },
};

// Short intervals so the example ends within seconds; a conductor keeps the defaults (5 s, 30 s).
const monitor = new HealthMonitor({ intervalMs: 200, timeoutMs: 1_000, breaker: { resetTimeoutMs: 1_000 } });
monitor.attachPluginManager(plugins);

/** A call to a platform, as the conductor makes it: only with its breaker's permit, which takes the outcome. */
async function callPlatform(platform: string, call: () => Promise<void>): Promise<string> {
  const permit = monitor.getBreaker(platform)?.tryAcquire();
  if (!permit) return 'refused: breaker open, failing fast';
  try {
    await call();
    permit.success();
    return 'done';
  } catch (error) {
    permit.failure(error);
    return `failed: ${String(error)}`;
  }
}

const routes: Record<string, RequestHandler> = {
  '/livez': livenessHandler(monitor),
  '/readyz': readinessHandler(monitor),
  '/healthz': healthHandler(monitor),
};
const server = createServer((request, response) => {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const handler = routes[path];
  if (handler) return handler(request, response);
  if (path !== '/metrics') return void response.writeHead(404).end();
  telemetry.registry.metrics().then(
    (text) => response.writeHead(200, { 'content-type': telemetry.registry.contentType }).end(text),
    () => response.writeHead(500).end(),
  );
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

const billingRecovered = new Promise<void>((resolve) => {
  monitor.on('transition', (change: BreakerStateChange) => {
    console.log(`${change.platform}: ${change.from} → ${change.to}`);
    if (change.platform === 'billing' && change.to === 'OPEN') {
      void callPlatform('billing', async () => {}).then((result) => console.log(`call to billing while open: ${result}`));
    }
    if (change.platform === 'billing' && change.to === 'CLOSED') resolve();
  });
});
monitor.start();
await billingRecovered;

console.log(`call to billing after recovery: ${await callPlatform('billing', async () => {})}`);
const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
for (const path of ['/livez', '/readyz']) console.log(`GET ${path} ${(await get(path)).status}`);
const health = await get('/healthz');
console.log(`GET /healthz ${health.status} ${((await health.json()) as { status: string }).status}`);
const metrics = await (await get('/metrics')).text();
console.log(metrics.split('\n').find((line) => line.startsWith('health_check_total{platform="billing",status="failure"}')));

// What a SIGTERM handler does; nothing is left to keep the process alive.
server.close();
await monitor.stop();
await telemetry.shutdown();
