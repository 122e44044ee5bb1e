// Area 7: security. Loopback unless told otherwise; no error message or stack
// trace in a label value or in /healthz beyond a short message; only GET and
// HEAD on the endpoints' own paths.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest, createServer, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { healthHandler, livenessHandler, readinessHandler } from '../../src/http/probes.ts';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import type { HealthCheck } from '../../src/monitor/check-run.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { statusPageHandler } from '../../src/http/status-page/status-page.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { parseExposition } from '../helpers/exposition.ts';
import { watchProcess, type ProcessWatch } from './fixtures/util.ts';

let watch: ProcessWatch;
before(() => void (watch = watchProcess()));
after(() => {
  watch.stop();
  assert.deepEqual(watch.unhandled, [], 'no unhandled rejection');
  assert.deepEqual(watch.warnings, [], 'no process warning');
});

/** Resolves true when a TCP connection to host:port is accepted, false when refused. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Addresses of this host other than 127.0.0.1: 127.0.0.2 (always routed to lo on Linux) and every external IPv4. */
function otherAddresses(): string[] {
  const external = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address));
  return ['127.0.0.2', ...external];
}

/** A raw HTTP request: any method (fetch refuses TRACE and CONNECT), any path, unnormalised. */
function raw(port: number, method: string, path: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, timeout: 3_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('connect', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
}

describe('binding', () => {
  it('serves /metrics on 127.0.0.1 only, unless told otherwise', async () => {
    const telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    try {
      const url = new URL(telemetry.metricsUrl!);
      assert.equal(url.hostname, '127.0.0.1');
      const port = Number(url.port);
      assert.equal(await accepts('127.0.0.1', port), true);
      for (const address of otherAddresses()) assert.equal(await accepts(address, port), false, `not reachable on ${address}`);
    } finally {
      await telemetry.shutdown();
    }
    const open = await startTelemetry({ prometheusPort: 0, hostMetrics: false, prometheusHost: '0.0.0.0' });
    try {
      const port = Number(new URL(open.metricsUrl!).port);
      for (const address of otherAddresses()) assert.equal(await accepts(address, port), true, `told to, it listens on ${address}`);
    } finally {
      await open.shutdown();
    }
  });

  it('makes the command serve /healthz, /readyz, /livez and the status page on 127.0.0.1 only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conductor-health-security-'));
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'resources: false\ntargets:\n  - { name: a, type: tcp, host: 127.0.0.1, port: 1 }\n');
    const cli = spawn(process.execPath, [fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url)), 'run', '--config', file, '--json-logs'], {
      env: { ...process.env, OTEL_EXPORTER_PROMETHEUS_PORT: '0', OTEL_EXPORTER_PROMETHEUS_HOST: '', LOG_LEVEL: 'info', OTEL_EXPORTER_OTLP_ENDPOINT: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const metricsUrl = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no start line: ${out}`)), 15_000);
        cli.stdout.on('data', (d: Buffer) => {
          out += d;
          const line = out.split('\n').find((l) => l.includes('conductor-health running'));
          if (line) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { metrics: string }).metrics);
          }
        });
      });
      const url = new URL(metricsUrl);
      assert.equal(url.hostname, '127.0.0.1');
      const port = Number(url.port);
      const health = await raw(port, 'GET', '/healthz');
      assert.ok('status' in health && health.status === 200, JSON.stringify(health));
      for (const path of ['/livez', '/readyz', '/']) {
        const response = await raw(port, 'GET', path);
        assert.ok('status' in response && response.status === 200, `${path}: ${JSON.stringify(response)}`);
      }
      for (const address of otherAddresses()) assert.equal(await accepts(address, port), false, `the endpoints are not reachable on ${address}`);
    } finally {
      cli.kill('SIGTERM');
      await new Promise((resolve) => cli.once('exit', resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('error messages and stack traces', () => {
  let telemetry: Telemetry;
  let monitor: HealthMonitor;
  let port: number;
  const SECRET = 'SECRET-TAIL-0xDEADBEEF';

  before(async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    port = Number(new URL(telemetry.metricsUrl!).port);
    monitor = new HealthMonitor({ resources: false, logger: silentLogger, breaker: { failMax: 1_000 } });
    telemetry.route('/healthz', healthHandler(monitor));
    telemetry.route('/readyz', readinessHandler(monitor));
    // 10 KB messages with newlines (both kinds), stack frames inside, and a secret at the end.
    const long = `connection to db failed: ${'x'.repeat(300)}\n${'    at Object.query (/srv/app/db.js:42:13)\n'.repeat(200)}password=hunter2 ${SECRET}`;
    class AVeryLongAndVerySpecificCustomErrorClassNameThatGoesOnAndOnForeverError extends Error {}
    const checks: Record<string, HealthCheck> = {
      'huge-message': () => {
        throw new Error(long);
      },
      'crlf-message': () => Promise.reject(new Error(`first line\r\n${long}`)),
      'stack-as-message': () => {
        const inner = new Error(`inner ${SECRET}`);
        throw new Error(inner.stack);
      },
      'weird-code': () => Promise.reject(Object.assign(new Error(long), { code: 'E BAD\n"code"{x}' })),
      'long-class': () => Promise.reject(new AVeryLongAndVerySpecificCustomErrorClassNameThatGoesOnAndOnForeverError(long)),
      'string-rejection': () => Promise.reject(long),
      'unhealthy-plugin': async () => ({ status: 'unhealthy', message: long }),
      'line-separator': () => Promise.reject(new Error(`one\u2028two ${SECRET}`)),
    };
    for (const [name, check] of Object.entries(checks)) monitor.register(name, check);
    for (const name of Object.keys(checks)) await monitor.checkPlatformHealth(name);
  });
  after(async () => {
    await monitor.stop();
    await telemetry.shutdown();
  });

  it('puts only codes and class names in label values, never a message', async () => {
    const response = await raw(port, 'GET', '/metrics');
    assert.ok('status' in response && response.status === 200);
    const scrape = parseExposition(response.body);
    assert.ok(!response.body.includes(SECRET) && !response.body.includes('hunter2') && !response.body.includes('/srv/app'), 'no message text anywhere in the exposition');
    const failures = scrape.samples.filter((s) => s.name === 'plugin_failure_total');
    assert.ok(failures.length >= 8);
    for (const sample of scrape.samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        if (label === 'error_type') assert.match(value, /^[A-Za-z0-9_]{1,40}$/, `${sample.name} error_type ${JSON.stringify(value)}`);
        assert.ok(!/[\r\n]/.test(value) || label === 'platform', `${sample.name}{${label}} holds a line break`);
        assert.ok(value.length <= 256, `${sample.name}{${label}} is ${value.length} long`);
      }
    }
    assert.deepEqual(
      failures.map((s) => s.labels.error_type).sort(),
      ['AVeryLongAndVerySpecificCustomErrorClass', 'E_BAD_code_x', 'Error', 'Error', 'Error', 'Error', 'other', 'unhealthy'].sort(),
    );
  });

  it('shows each failure in /healthz as one short line, with no stack frame and nothing past 200 characters', async () => {
    const response = await raw(port, 'GET', '/healthz');
    assert.ok('status' in response && response.status === 200, JSON.stringify(response));
    assert.ok(!response.body.includes('    at ') && !/\bat \S+ \(\/srv/.test(response.body), 'no stack frame in /healthz');
    assert.ok(!response.body.includes('hunter2'), 'nothing past the first line');
    const report = JSON.parse(response.body) as { platforms: Array<{ platform: string; lastError?: string }> };
    assert.equal(report.platforms.length, 8);
    for (const p of report.platforms) {
      assert.ok(p.lastError !== undefined && p.lastError.length > 0, `${p.platform} has a last error`);
      assert.ok(p.lastError.length <= 200, `${p.platform}: ${p.lastError.length} characters`);
      assert.ok(!/[\r\n\u2028\u2029]/.test(p.lastError), `${p.platform}: one line: ${JSON.stringify(p.lastError)}`);
      assert.ok(!p.lastError.includes(' at '), `${p.platform}: no stack frame: ${p.lastError}`);
    }
    const byName = Object.fromEntries(report.platforms.map((p) => [p.platform, p.lastError]));
    assert.equal(byName['crlf-message'], 'first line');
    assert.equal(byName['line-separator'], 'one');
    assert.equal(byName['stack-as-message'], `Error: inner ${SECRET}`);
  });
});

describe('methods and paths', () => {
  let telemetry: Telemetry;
  let monitor: HealthMonitor;
  let port: number;
  before(async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    port = Number(new URL(telemetry.metricsUrl!).port);
    monitor = new HealthMonitor({ resources: false, logger: silentLogger });
    monitor.register('p', () => true);
    monitor.start();
    telemetry.route('/healthz', healthHandler(monitor));
    telemetry.route('/readyz', readinessHandler(monitor));
    telemetry.route('/livez', livenessHandler(monitor));
    // The status page below /status/ here, so that / stays unserved for the 404 cases.
    const page = statusPageHandler(monitor);
    for (const path of page.paths) telemetry.route(`/status${path}`, page);
  });
  after(async () => {
    await monitor.stop();
    await telemetry.shutdown();
  });

  it('answers GET and HEAD on /healthz, /readyz, /livez, /metrics and the status page, and 405 with an Allow header to every other method', async () => {
    for (const path of ['/healthz', '/readyz', '/livez', '/metrics', '/status/', '/status/status.js', '/status/status.css', '/status/favicon.svg']) {
      const get = await raw(port, 'GET', path);
      assert.ok('status' in get && get.status === 200 && get.body.length > 0, `GET ${path}: ${JSON.stringify(get)}`);
      if (path.startsWith('/status/')) assert.match(String(get.headers['content-security-policy']), /^default-src 'self'; script-src 'self';/, `${path}: no inline script may run`);
      const head = await raw(port, 'HEAD', path);
      assert.ok('status' in head && head.status === 200 && head.body === '', `HEAD ${path}`);
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
        const response = await raw(port, method, path);
        assert.ok('status' in response, `${method} ${path}: ${JSON.stringify(response)}`);
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(response.headers.allow, 'GET, HEAD', `${method} ${path}`);
        assert.ok(!response.body.includes('platforms') && !response.body.includes('health_check_total'), `${method} ${path} leaks nothing`);
      }
      // CONNECT is never served: the server drops the connection.
      const connectResponse = await raw(port, 'CONNECT', path);
      assert.ok(!('status' in connectResponse) || connectResponse.status !== 200, `CONNECT ${path}: ${JSON.stringify(connectResponse)}`);
    }
  });

  it('answers 404 to every other path, however it is spelt', async () => {
    for (const path of ['/', '/healthz/', '/HEALTHZ', '/healthz/../metrics', '/./healthz', '//healthz', '/healthz%00', '/healthz;x', '/admin', '/metrics.json', '*']) {
      const response = await raw(port, 'GET', path);
      assert.ok('status' in response, `${path}: ${JSON.stringify(response)}`);
      assert.ok(response.status === 404 || response.status === 400, `GET ${path}: ${response.status}`);
      assert.ok(!response.body.includes('"platforms"') && !response.body.includes('# HELP'), `GET ${path} serves nothing`);
    }
    const query = await raw(port, 'GET', '/healthz?verbose=1&stack=1');
    assert.ok('status' in query && query.status === 200, 'a query string changes nothing');
  });

  it('keeps its rules when mounted on an application\'s own server', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/health') healthHandler(monitor)(req, res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const appPort = (server.address() as { port: number }).port;
    try {
      const get = await raw(appPort, 'GET', '/health');
      assert.ok('status' in get && get.status === 200);
      assert.equal(get.headers['cache-control'], 'no-store');
      assert.match(String(get.headers['content-type']), /^application\/json/);
      const post = await raw(appPort, 'POST', '/health');
      assert.ok('status' in post && post.status === 405 && post.headers.allow === 'GET, HEAD');
    } finally {
      server.close();
    }
  });
});
