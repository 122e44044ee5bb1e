import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';
import { find, parseExposition } from '../helpers/exposition.ts';
import { logLines, runCli, spawnCli, waitFor } from './cli-process.ts';

describe('conductor-health run, end to end', () => {
  let dir: string;
  let web: Server;
  let tcp: TcpServer;
  let port: number;
  const traceparents: string[] = [];
  let cli: ReturnType<typeof spawnCli>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-cli-'));
    web = createHttpServer((req, res) => {
      if (req.headers.traceparent) traceparents.push(String(req.headers.traceparent));
      res.end('all good');
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    tcp = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    port = await freePort();
    const config = {
      monitor: { intervalMs: 200, timeoutMs: 150 },
      breaker: { resetTimeoutMs: 60_000 },
      resources: false,
      targets: [
        { name: 'web', type: 'http', url: `http://127.0.0.1:${(web.address() as { port: number }).port}/health`, expectStatus: '200-299', bodyMatch: 'good' },
        { name: 'db', type: 'tcp', host: '127.0.0.1', port: (tcp.address() as { port: number }).port, intervalMs: 300, critical: true },
      ],
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    cli = spawnCli(['run', '--config', join(dir, 'config.json'), '--json-logs'], { OTEL_EXPORTER_PROMETHEUS_PORT: String(port) });
    await waitFor('/readyz', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined));
  });
  after(async () => {
    cli?.child.kill('SIGKILL');
    web?.close();
    tcp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves promtool-clean metrics for both targets', async () => {
    const text = await waitFor('checks of both targets', async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /health_check_total\{platform="db",status="success"\}/.test(body) && /platform="web",status="success"/.test(body) ? body : undefined;
    });
    const lint = await promtoolCheckMetrics(text);
    assert.equal(lint.code, 0, lint.output);
  });

  it('sends the check span as a W3C traceparent to the http platform', () => {
    assert.ok(traceparents.length > 0);
    assert.match(traceparents[0]!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.notEqual(traceparents[0]!.slice(3, 35), '0'.repeat(32));
  });

  it('answers /healthz 200 while every breaker is closed', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(response.status, 200);
    const report = (await response.json()) as { status: string; platforms: Array<{ platform: string; breakerState: string }> };
    assert.deepEqual(report.platforms.map((p) => [p.platform, p.breakerState]), [['web', 'CLOSED'], ['db', 'CLOSED']]);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'POST' })).status, 405);
  });

  it('opens the breaker of a stopped critical target: /healthz and /readyz 503, /livez still 200, and the metrics', async () => {
    tcp.close();
    const report = await waitFor('the db breaker to open', async () => {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      const body = (await response.json()) as { status: string; platforms: Array<{ platform: string; breakerState: string; lastError?: string }> };
      return response.status === 503 ? body : undefined;
    });
    assert.equal(report.status, 'unhealthy');
    const db = report.platforms.find((p) => p.platform === 'db');
    assert.equal(db?.breakerState, 'OPEN');
    assert.match(db?.lastError ?? '', /ECONNREFUSED/);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /^not ready\ncritical platform "db": breaker is (OPEN|HALF_OPEN)\n$/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/livez`)).status, 200, 'a platform outage never fails liveness');
    const metrics = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    assert.equal(find(metrics, 'circuit_breaker_state', { platform: 'db', state: 'open' })[0]?.value, '1');
    assert.equal(find(metrics, 'plugin_failure_total', { platform: 'db', error_type: 'ECONNREFUSED' })[0]?.value, '3');
    assert.equal(find(metrics, 'circuit_breaker_state', { platform: 'web', state: 'closed' })[0]?.value, '1');
  });

  it('exits 0 on SIGTERM within its bound, having logged JSON lines, the last saying what the run did', async () => {
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0, cli.output());
    const lines = logLines(cli.output());
    assert.equal(lines.length, cli.output().trim().split('\n').length, 'every line is JSON');
    assert.ok(lines.some((l) => l.msg === 'conductor-health running'));
    assert.ok(lines.some((l) => l.msg === 'circuit breaker state change'));
    const stopped = lines.at(-1)!;
    assert.equal(stopped.msg, 'stopped');
    assert.equal(stopped.signal, 'SIGTERM');
    assert.equal(stopped.platforms, 2);
    assert.deepEqual(stopped.breakers, { CLOSED: 1, OPEN: 1, HALF_OPEN: 0 });
    assert.deepEqual(stopped.open, ['db']);
    assert.ok(typeof stopped.checks === 'number' && stopped.checks >= 4, `web and db each checked: ${stopped.checks}`);
    assert.equal(typeof stopped.uptimeSeconds, 'number');
  });
});

describe('conductor-health run with a bad config file', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'conductor-health-bad-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  const cases: Array<[string, string, RegExp]> = [
    ['invalid YAML', 'targets: [\n  - name: a\n   type: http', /bad\.yaml: invalid YAML\/JSON: line \d+, column \d+/],
    ['an unknown key', 'targets:\n  - name: a\n    type: http\n    url: http://127.0.0.1:1/\n    timeout: 5', /bad\.yaml: targets\[0\]\.timeout: unknown key/],
    ['a bad URL', 'targets:\n  - { name: a, type: tcp, host: h, port: 1 }\n  - { name: b, type: tcp, host: h, port: 2 }\n  - { name: c, type: http, url: "not a url" }', /bad\.yaml: targets\[2\]\.url: must be an http: or https: URL, got "not a url"/],
    ['a negative interval', 'monitor:\n  intervalMs: -5\ntargets:\n  - { name: a, type: tcp, host: h, port: 1 }', /bad\.yaml: monitor\.intervalMs: must be a finite number >= 1\b.*, got -5$/m],
    ['no targets', 'monitor: {}\n', /bad\.yaml: targets: must be a non-empty list/],
  ];
  for (const [what, text, message] of cases) {
    it(`exits 2 naming the file, the path and the problem for ${what}`, async () => {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, text);
      const result = await runCli(['run', '--config', file]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
    });
  }

  it('exits 2 for a missing file and for bad usage', async () => {
    const missing = await runCli(['run', '--config', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.yaml: no such file/);
    const usage = await runCli(['launch']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown command "launch"/);
  });

  /** Runs `use` with a loopback port another server holds. */
  async function withTakenPort(use: (taken: number) => Promise<void>): Promise<void> {
    const blocker = createTcpServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      await use((blocker.address() as { port: number }).port);
    } finally {
      blocker.close();
    }
  }

  it('exits 1 naming host:port and the variable when the port is taken', () =>
    withTakenPort(async (taken) => {
      const file = join(dir, 'ok.yaml');
      await writeFile(file, 'resources: false\ntargets:\n  - { name: a, type: tcp, host: 127.0.0.1, port: 1 }\n');
      const result = await runCli(['run', '--config', file], { OTEL_EXPORTER_PROMETHEUS_PORT: String(taken) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`^conductor-health: cannot serve /metrics on 127\\.0\\.0\\.1:${taken}: the address is already in use; set OTEL_EXPORTER_PROMETHEUS_PORT to a free port`));
      assert.doesNotMatch(result.stderr, /conductor-health: conductor-health:/, 'the prefix once');
    }));

  it('takes telemetry.prometheusPort from the file over OTEL_EXPORTER_PROMETHEUS_PORT, and says so when that port is taken', () =>
    withTakenPort(async (taken) => {
      const file = join(dir, 'port.yaml');
      await writeFile(file, `resources: false\ntelemetry: { prometheusPort: ${taken} }\ntargets:\n  - { name: a, type: tcp, host: 127.0.0.1, port: 1 }\n`);
      const result = await runCli(['run', '--config', file], { OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`^conductor-health: cannot serve /metrics on 127\\.0\\.0\\.1:${taken}: the address is already in use; change the prometheusPort option \\(telemetry\\.prometheusPort in a config file; it wins over OTEL_EXPORTER_PROMETHEUS_PORT\\)`));
    }));
});
