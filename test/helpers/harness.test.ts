// Proves the integration-test helpers work against the real tools they wrap:
// promtool, a real Prometheus 2.42, and the real OTLP/HTTP trace exporter.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { startOtlpReceiver } from './otlp-receiver.ts';
import { freePort } from './ports.ts';
import { startPrometheus } from './prometheus.ts';
import { promtoolCheck, promtoolCheckMetrics } from './promtool.ts';

describe('promtool helper', { timeout: 30_000 }, () => {
  test('valid exposition passes (exit 0)', async () => {
    const r = await promtoolCheckMetrics(
      '# HELP demo_total Demo counter.\n# TYPE demo_total counter\ndemo_total{platform="a"} 3\n',
    );
    assert.equal(r.code, 0, r.output);
  });

  test('lint problem (counter without _total) exits 3', async () => {
    const r = await promtoolCheckMetrics('# HELP demo Demo counter.\n# TYPE demo counter\ndemo 3\n');
    assert.equal(r.code, 3, r.output);
    assert.match(r.output, /_total/);
  });

  test('unparseable text exits 1', async () => {
    const r = await promtoolCheckMetrics('this is { not an exposition\n');
    assert.equal(r.code, 1, r.output);
  });

  test('generic runner passes args through', async () => {
    const r = await promtoolCheck(['--version']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /promtool, version \d+\./);
  });
});

// CompressionAlgorithm is a string enum from a transitive package; derive the type instead of importing it.
const GZIP = 'gzip' as NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>['compression'];

describe('OTLP receiver helper', { timeout: 20_000 }, () => {
  test('decodes what @opentelemetry/exporter-trace-otlp-http sends', async (t) => {
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'harness-test' }),
      // sdk-trace 3.x: processors take an options object; a positional exporter is silently ignored.
      spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: receiver.tracesUrl }) })],
    });
    t.after(() => provider.shutdown());

    const tracer = provider.getTracer('harness');
    const parent = tracer.startSpan('parent');
    const span = tracer.startSpan('probe', { attributes: { 'platform.id': 'a' } });
    span.setAttribute('attempt', 2);
    span.setAttribute('ok', false);
    span.addEvent('breaker.opened', { 'breaker.failures': 5, reason: 'timeout' });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    span.end();
    parent.end();
    await provider.forceFlush();

    const spans = await receiver.waitForSpans((s) => s.some((x) => x.name === 'probe'));
    const probe = spans.find((x) => x.name === 'probe');
    assert.ok(probe);
    assert.deepEqual(probe.attributes, { 'platform.id': 'a', attempt: 2, ok: false });
    assert.deepEqual(probe.events, [{ name: 'breaker.opened', attributes: { 'breaker.failures': 5, reason: 'timeout' } }]);
    assert.deepEqual(probe.status, { code: 2, message: 'boom' });
    assert.equal(probe.resource['service.name'], 'harness-test');
    assert.equal(probe.scope.name, 'harness');
    assert.match(probe.traceId, /^[0-9a-f]{32}$/);
    assert.match(probe.spanId, /^[0-9a-f]{16}$/);
    assert.equal(probe.parentSpanId, undefined); // started without an active context: a root span

    // The exporter's wire format, asserted so a change of default is noticed.
    assert.equal(receiver.protobufRequests, 0);
    assert.deepEqual(receiver.errors, []);
    assert.ok(receiver.received.every((r) => r.contentType === 'application/json' && r.contentEncoding === ''));
  });

  test('decodes gzip-compressed exports', async (t) => {
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const provider = new TracerProvider({
      spanProcessors: [
        new SimpleSpanProcessor({
          exporter: new OTLPTraceExporter({ url: receiver.tracesUrl, compression: GZIP }),
        }),
      ],
    });
    t.after(() => provider.shutdown());
    provider.getTracer('harness').startSpan('zipped').end();
    await provider.forceFlush();
    await receiver.waitForSpans((s) => s.some((x) => x.name === 'zipped'));
    assert.equal(receiver.received[0]?.contentEncoding, 'gzip');
  });

  test("'hang' mode never answers, and close() still ends the hung request", async () => {
    const receiver = await startOtlpReceiver({ mode: 'hang' });
    const pending = fetch(receiver.tracesUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"resourceSpans":[]}',
    });
    const outcome = pending.then(
      () => 'answered',
      () => 'failed',
    );
    while (receiver.requests === 0) await new Promise((r) => setTimeout(r, 10));
    const early = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('pending'), 300))]);
    assert.equal(early, 'pending');
    await receiver.close();
    assert.equal(await outcome, 'failed'); // socket destroyed, not answered
    await receiver.close(); // idempotent
  });

  test("'hang' mode makes the real exporter time out (forceFlush rejects)", async (t) => {
    const receiver = await startOtlpReceiver({ mode: 'hang' });
    t.after(() => receiver.close());
    const provider = new TracerProvider({
      spanProcessors: [
        new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: receiver.tracesUrl, timeoutMillis: 300 }) }),
      ],
    });
    t.after(() => provider.shutdown());
    provider.getTracer('harness').startSpan('stuck').end();
    // sdk-trace 3.x SimpleSpanProcessor.forceFlush rejects with the failed exports' errors (an array).
    await assert.rejects(provider.forceFlush(), (err: unknown) => /timed out/i.test(String(err)));
    assert.ok(receiver.requests >= 1);
    assert.ok(receiver.spans().some((s) => s.name === 'stuck')); // decoded even though never answered
  });
});

describe('Prometheus helper', { timeout: 60_000 }, () => {
  test('scrapes a target and returns escaped label values intact', async (t) => {
    const exposition =
      '# HELP demo_total Demo counter.\n# TYPE demo_total counter\ndemo_total{platform="a \\"quoted\\" name"} 3\n';
    const port = await freePort();
    const target = createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(exposition);
    });
    await new Promise<void>((resolve) => target.listen(port, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => target.close(() => resolve())));

    const started = Date.now();
    const prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], jobName: 'harness' });
    t.after(() => prom.stop());
    const ready = Date.now();

    const targets = await prom.waitForTargetsUp();
    t.diagnostic(`ready after ${ready - started} ms, first scrape up after ${Date.now() - started} ms`);
    assert.equal(targets.length, 1);
    assert.equal(targets[0]?.labels.job, 'harness');

    const result = await prom.query('demo_total');
    assert.equal(result.length, 1, JSON.stringify(result));
    assert.equal(result[0]?.metric.platform, 'a "quoted" name');
    assert.equal(result[0]?.value[1], '3');

    const scalar = await prom.query('1 + 1');
    assert.equal(scalar[0]?.value[1], '2');
    await assert.rejects(prom.query('sum(('), /bad_data.*parse error/);
    const viaWait = await prom.waitForQuery('up{job="harness"}', (r) => r[0]?.value[1] === '1', 5_000);
    assert.equal(viaWait.length, 1);

    await prom.stop();
    assert.throws(() => process.kill(prom.pid, 0), { code: 'ESRCH' });
    await prom.stop(); // idempotent
  });
});
