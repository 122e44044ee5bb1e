import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { EXPORT_FAILURE_LOG_INTERVAL_MS, ReportingExporter, createTraceExporter, otlpTraceSettings } from '../../src/telemetry/otlp.ts';
import { maskSecrets } from '../../src/common/text.ts';
import { trace } from '@opentelemetry/api';
import { silentLogger } from '../../src/common/logger.ts';
import { startTelemetry } from '../../src/telemetry/start-telemetry.ts';
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { freePort } from '../helpers/ports.ts';
import { recordingLogger } from '../helpers/logger.ts';

const BOUND = 4_000;
const settings = (env: NodeJS.ProcessEnv, options: Parameters<typeof otlpTraceSettings>[0] = {}) => otlpTraceSettings(options, BOUND, env);

describe('otlpTraceSettings, as the OTLP exporter specification defines them', () => {
  it('exports nothing when no endpoint is set anywhere', () => {
    assert.equal(settings({}), undefined);
    assert.equal(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), undefined);
  });

  it('defaults to http/protobuf, appends /v1/traces to the general endpoint, no compression and a 10 s timeout capped by the shutdown bound', () => {
    assert.deepEqual(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), {
      protocol: 'http/protobuf',
      url: 'http://collector:4318/v1/traces',
      compression: 'none',
      timeoutMillis: BOUND,
    });
    assert.equal(otlpTraceSettings({}, 60_000, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })?.timeoutMillis, 10_000);
  });

  it('uses a traces-specific endpoint as it is, and it wins over the general one', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/custom/path' };
    assert.equal(settings(env)?.url, 'https://traces.example/custom/path');
  });

  it('uses the general endpoint as it is over grpc', () => {
    assert.deepEqual(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })?.url, 'http://collector:4317');
  });

  it('lets each traces-specific variable win over its general one', () => {
    const got = settings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
      OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '1500',
    });
    assert.deepEqual(got, { protocol: 'http/json', url: 'http://c:4318/v1/traces', compression: 'gzip', timeoutMillis: 1_500 });
  });

  it('lets values passed in code win over the environment', () => {
    const got = settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, { endpoint: 'http://code:4318', protocol: 'http/json' });
    assert.equal(got?.url, 'http://code:4318/v1/traces');
    assert.equal(got?.protocol, 'http/json');
  });

  it('refuses bad values with an error naming the variable and quoting the value', () => {
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http' }, /OTEL_EXPORTER_OTLP_PROTOCOL must be one of http\/protobuf, http\/json, grpc, got "http"/],
      [{ OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'zstd' }, /OTEL_EXPORTER_OTLP_TRACES_COMPRESSION must be one of gzip, none, got "zstd"/],
      [{ OTEL_EXPORTER_OTLP_TIMEOUT: '1e3' }, /OTEL_EXPORTER_OTLP_TIMEOUT must be an integer >= 1, got "1e3"/],
      [{ OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '0' }, /OTEL_EXPORTER_OTLP_TRACES_TIMEOUT must be .*, got "0"/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http: or https: URL, got "collector:4318"/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...env }), message);
    }
  });

  it('masks a password in a refused endpoint', () => {
    assert.throws(
      () => settings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://user:hunter2@c/' }),
      (error: Error) => !error.message.includes('hunter2') && error.message.includes('user:***@'),
    );
  });
});

describe('maskSecrets on a URL', () => {
  it('replaces the password and keeps the rest', () => {
    assert.equal(maskSecrets('https://tenant:s3cret@otlp.example:4318/v1/traces'), 'https://tenant:***@otlp.example:4318/v1/traces');
    assert.equal(maskSecrets('http://collector:4318'), 'http://collector:4318');
  });
});


/** An exporter whose next result the test decides. */
function scriptedExporter(): SpanExporter & { next: ExportResult } {
  return {
    next: { code: ExportResultCode.FAILED, error: new Error('connect ECONNREFUSED 127.0.0.1:4318') },
    export(_spans, done) {
      done(this.next);
    },
    shutdown: () => Promise.resolve(),
  };
}

describe('ReportingExporter: a collector that cannot be reached is not silent', () => {
  const spans = [{}, {}] as ReadableSpan[];

  it('warns at the first failure with the endpoint, then at most once per interval with a count, and says when it works again', () => {
    let now = 0;
    const logger = recordingLogger();
    const inner = scriptedExporter();
    const exporter = new ReportingExporter(inner, 'http/protobuf http://user:***@c:4318/v1/traces', logger, () => now);
    const results: ExportResultCode[] = [];
    const send = () => exporter.export(spans, (r) => results.push(r.code));

    send();
    assert.equal(logger.entries.length, 1);
    assert.equal(logger.entries[0]!.level, 'warn');
    assert.equal(logger.entries[0]!.obj.endpoint, 'http/protobuf http://user:***@c:4318/v1/traces');
    assert.equal(logger.entries[0]!.obj.error, 'connect ECONNREFUSED 127.0.0.1:4318');
    assert.match(logger.entries[0]!.msg!, /cannot export spans to http\/protobuf http:\/\/user:\*\*\*@c:4318/);

    for (let i = 0; i < 100; i += 1) {
      now += 100;
      send();
    }
    assert.equal(logger.entries.length, 1, 'a hundred more failures within the interval add nothing');

    now = EXPORT_FAILURE_LOG_INTERVAL_MS + 1;
    send();
    assert.equal(logger.entries.length, 2);
    assert.deepEqual([logger.entries[1]!.obj.failedExports, logger.entries[1]!.obj.droppedSpans], [101, 202]);

    inner.next = { code: ExportResultCode.SUCCESS };
    send();
    send();
    assert.equal(logger.entries.length, 3, 'one line when it recovers, none for later successes');
    assert.equal(logger.entries[2]!.level, 'info');
    assert.match(logger.entries[2]!.msg!, /works again/);
    assert.equal(results.length, 104, 'every result reaches the caller');

    inner.next = { code: ExportResultCode.FAILED, error: new Error('503') };
    send();
    assert.equal(logger.entries.length, 4, 'a new outage is reported at once');
  });

  it('names the real exporter’s endpoint with its password masked when the port is closed', async () => {
    const logger = recordingLogger();
    const port = await freePort();
    const exporter = await createTraceExporter({ protocol: 'http/json', url: `http://user:hunter2@127.0.0.1:${port}/v1/traces`, compression: 'none', timeoutMillis: 2_000 }, logger);
    const finished = new InMemorySpanExporter();
    new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: finished })] }).getTracer('test').startSpan('health_check').end();
    const result = await new Promise<ExportResult>((resolve) => exporter.export(finished.getFinishedSpans(), resolve));
    await exporter.shutdown();
    assert.equal(result.code, ExportResultCode.FAILED);
    assert.equal(logger.entries.length, 1, JSON.stringify(logger.entries));
    assert.equal(logger.entries[0]!.obj.endpoint, `http/json http://user:***@127.0.0.1:${port}/v1/traces`);
    assert.ok(!JSON.stringify(logger.entries).includes('hunter2'), 'the password is never printed');
  });
});

describe('startTelemetry on the wire: the OTLP variables reach the request', () => {
  it('sends OTEL_EXPORTER_OTLP_HEADERS (traces-specific ones winning) with gzip and the protocol’s content type', async () => {
    const names = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_COMPRESSION'];
    const saved = names.map((n) => process.env[n]);
    Object.assign(process.env, { OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=general,x-team=sre', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=traces%20only', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' });
    const receiver = await startOtlpReceiver();
    try {
      for (const protocol of ['http/json', 'http/protobuf'] as const) {
        const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, otlpEndpoint: receiver.url, otlpProtocol: protocol, logger: silentLogger });
        trace.getTracer('test').startSpan('health_check').end();
        await telemetry.shutdown();
      }
    } finally {
      await receiver.close();
      names.forEach((n, i) => (saved[i] === undefined ? delete process.env[n] : (process.env[n] = saved[i])));
    }
    const requests = receiver.received.filter((r) => r.path === '/v1/traces');
    assert.deepEqual(requests.map((r) => r.contentType), ['application/json', 'application/x-protobuf']);
    for (const request of requests) {
      assert.equal(request.contentEncoding, 'gzip');
      assert.equal(request.headers['x-tenant'], 'traces only');
      assert.equal(request.headers['x-team'], 'sre');
    }
  });
});
