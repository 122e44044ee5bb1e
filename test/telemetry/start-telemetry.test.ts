import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { metrics, trace } from '@opentelemetry/api';
import { getMetricsRegistry, startTelemetry } from '../../src/telemetry/start-telemetry.ts';
import { runNode } from '../helpers/child.ts';
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { freePort } from '../helpers/ports.ts';
import { settlesWithin, useFakeClock, useRealClock } from '../helpers/clock.ts';

const CHILD = fileURLToPath(new URL('./fixtures/telemetry-child.ts', import.meta.url));

/** Runs the telemetry fixture with `args` to its end. */
const runChild = (args: string[]) => runNode(CHILD, { args });

describe('startTelemetry', () => {
  it('exports spans over OTLP with the configured service name', async () => {
    const receiver = await startOtlpReceiver();
    const telemetry = await startTelemetry({
      startServer: false,
      hostMetrics: false,
      serviceName: 'conductor-under-test',
      otlpEndpoint: receiver.url,
      otlpProtocol: 'http/json',
    });
    try {
      const span = trace.getTracer('test').startSpan('health_check', { attributes: { 'health_check.platform': 'discord' } });
      span.addEvent('circuit_breaker.state_change', { 'circuit_breaker.to': 'OPEN' });
      span.end();
    } finally {
      await telemetry.shutdown();
      await receiver.close();
    }
    const [span] = receiver.spans().filter((s) => s.name === 'health_check');
    assert.ok(span, 'the receiver got the span');
    assert.equal(span.attributes['health_check.platform'], 'discord');
    assert.deepEqual(span.events.map((e) => e.name), ['circuit_breaker.state_change']);
    assert.equal(span.events[0]?.attributes['circuit_breaker.to'], 'OPEN');
    assert.equal(span.resource['service.name'], 'conductor-under-test');
    assert.equal(typeof span.resource['service.instance.id'], 'string');
  });

  it('honours OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES', async () => {
    const saved = { name: process.env.OTEL_SERVICE_NAME, attrs: process.env.OTEL_RESOURCE_ATTRIBUTES };
    process.env.OTEL_SERVICE_NAME = 'from-env';
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=test,team=platform';
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    try {
      assert.equal(telemetry.resource.attributes['service.name'], 'from-env');
      assert.equal(telemetry.resource.attributes.team, 'platform');
      assert.match(await getMetricsRegistry().metrics(), /target_info\{[^}]*team="platform"/);
    } finally {
      await telemetry.shutdown();
      for (const [key, value] of [['OTEL_SERVICE_NAME', saved.name], ['OTEL_RESOURCE_ATTRIBUTES', saved.attrs]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('shuts down and lets the process exit by itself when the collector is not listening', async () => {
    const closedPort = await freePort();
    const result = await runChild([`http://127.0.0.1:${closedPort}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.exitedByItself, 'the process exits by itself');
    assert.match(result.stdout, /# shutdown_ms \d+/, 'shutdown() resolved');
    // One warning naming the endpoint, however many exports failed: no unhandled rejection, no flood.
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    const warning = JSON.parse(lines[0]!) as { level: number; endpoint: string; msg: string };
    assert.equal(warning.level, 40, 'a warning');
    assert.equal(warning.endpoint, `http/protobuf http://127.0.0.1:${closedPort}/v1/traces`);
    assert.match(warning.msg, /cannot export spans/);
  });

  it('shuts down within its bound, on the fake clock, when the collector accepts and never answers', async () => {
    const receiver = await startOtlpReceiver({ mode: 'hang' });
    try {
      const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, otlpEndpoint: receiver.url, shutdownTimeoutMs: 1_000 });
      for (let i = 0; i < 10; i += 1) trace.getTracer('test').startSpan('health_check').end();
      useFakeClock();
      const stopping = telemetry.shutdown();
      assert.equal(await settlesWithin(stopping, 0), false, 'the export to a hanging collector is still pending');
      assert.equal(await settlesWithin(stopping, 1_000, 50), true, 'shutdown() resolved by its 1,000 ms bound');
    } finally {
      useRealClock();
      await receiver.close();
    }
  });

  it('collects host metrics without printing a deprecation warning', async () => {
    const result = await runChild([]);
    assert.equal(result.code, 0, result.stderr);
    for (const family of ['system_cpu_utilization', 'system_memory_usage', 'process_cpu_time_total', 'process_memory_usage']) {
      assert.match(result.stdout, new RegExp(`^# TYPE ${family} `, 'm'), family);
    }
    assert.doesNotMatch(result.stdout, /system_network/, 'the network group is off by default');
    assert.doesNotMatch(result.stderr, /deprecat/i);
  });

  it('unregisters the globals it set on shutdown', async () => {
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    assert.doesNotThrow(() => getMetricsRegistry());
    await telemetry.shutdown();
    await telemetry.shutdown(); // idempotent
    assert.throws(() => getMetricsRegistry(), /call startTelemetry\(\) first/);
    assert.equal(trace.getTracer('x').startSpan('after').isRecording(), false);
    assert.equal(metrics.getMeterProvider().constructor.name, 'NoopMeterProvider');
  });

  it('rejects a taken port with an error naming host:port and the variable', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startTelemetry({ prometheusPort: port, hostMetrics: false }), {
        message: new RegExp(`127\\.0\\.0\\.1:${port}.*already in use.*OTEL_EXPORTER_PROMETHEUS_PORT`),
      });
      assert.throws(() => getMetricsRegistry(), 'nothing stays registered after a failed start');
    } finally {
      blocker.close();
    }
  });

  it('binds /metrics to 127.0.0.1 by default and answers only GET and HEAD on /metrics', async () => {
    const saved = process.env.OTEL_EXPORTER_PROMETHEUS_PORT;
    process.env.OTEL_EXPORTER_PROMETHEUS_PORT = '0';
    const telemetry = await startTelemetry({ hostMetrics: false });
    try {
      assert.match(telemetry.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const base = telemetry.metricsUrl!.replace('/metrics', '');
      assert.equal((await fetch(`${base}/other`)).status, 404);
      assert.equal((await fetch(telemetry.metricsUrl!, { method: 'POST' })).status, 405);
      const head = await fetch(telemetry.metricsUrl!, { method: 'HEAD' });
      assert.equal(head.status, 200);
    } finally {
      await telemetry.shutdown();
      if (saved === undefined) delete process.env.OTEL_EXPORTER_PROMETHEUS_PORT;
      else process.env.OTEL_EXPORTER_PROMETHEUS_PORT = saved;
    }
  });

  it('rejects bad options with errors that name the option and the value', async () => {
    const cases: Array<[object, RegExp, string]> = [
      [{ prometheusPort: -1 }, /"prometheusPort".*-1/, 'RangeError'],
      [{ prometheusPort: Number.NaN }, /"prometheusPort".*NaN/, 'RangeError'],
      [{ prometheusPort: 80.5 }, /"prometheusPort".*80\.5/, 'RangeError'],
      [{ prometheusPort: 70_000 }, /"prometheusPort".*70000/, 'RangeError'],
      [{ prometheusPort: '9464' }, /"prometheusPort".*"9464"/, 'TypeError'],
      [{ serviceName: '' }, /"serviceName".*""/, 'RangeError'],
      [{ serviceName: 42 }, /"serviceName".*42/, 'TypeError'],
      [{ maxPlatforms: 0 }, /"maxPlatforms".*0/, 'RangeError'],
      [{ shutdownTimeoutMs: Infinity }, /"shutdownTimeoutMs".*Infinity/, 'RangeError'],
      [{ hostMetrics: ['system.gpu'] }, /"hostMetrics"/, 'TypeError'],
      [{ startServer: 'yes' }, /"startServer".*"yes"/, 'TypeError'],
      [{ prometheusPrt: 1 }, /unknown telemetry option "prometheusPrt"/, 'TypeError'],
    ];
    for (const [options, message, name] of cases) {
      await assert.rejects(startTelemetry(options as never), { name, message }, JSON.stringify(options));
    }
    const saved = process.env.OTEL_EXPORTER_PROMETHEUS_PORT;
    process.env.OTEL_EXPORTER_PROMETHEUS_PORT = 'ninety';
    try {
      await assert.rejects(startTelemetry({ hostMetrics: false }), { message: /environment variable OTEL_EXPORTER_PROMETHEUS_PORT.*"ninety"/ });
    } finally {
      if (saved === undefined) delete process.env.OTEL_EXPORTER_PROMETHEUS_PORT;
      else process.env.OTEL_EXPORTER_PROMETHEUS_PORT = saved;
    }
  });
});
