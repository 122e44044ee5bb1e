import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { EXPORT_FAILURE_LOG_INTERVAL_MS, ReportingExporter, createTraceExporter, otlpTraceSettings } from '../../src/telemetry/otlp.ts';
import { maskSecrets } from '../../src/common/text.ts';
import { trace } from '@opentelemetry/api';
import { createServer as createHttp2Server, type IncomingHttpHeaders } from 'node:http2';
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
      headers: {},
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
    assert.deepEqual(got, { protocol: 'http/json', url: 'http://c:4318/v1/traces', compression: 'gzip', timeoutMillis: 1_500, headers: {} });
  });

  it('matches the protocol and compression without regard to case, as the specification says for enum values', () => {
    const got = settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/PROTOBUF', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'GZip' });
    assert.equal(got?.protocol, 'http/protobuf');
    assert.equal(got?.compression, 'gzip');
    assert.equal(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'GRPC' })?.url, 'http://c:4317', 'gRPC, so no /v1/traces');
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

describe('otlpTraceSettings: the headers variables', () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };

  it('decodes both, the traces-specific one winning key by key', () => {
    const got = settings({ ...endpoint, OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=general, x-team = sre ,', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=traces%20only,api-key=a=b;c' });
    assert.deepEqual(got?.headers, { 'x-tenant': 'traces only', 'x-team': 'sre', 'api-key': 'a=b;c' });
  });

  // Each was dropped without a word (bad encoding) or failed every export later (a control character).
  const refused: Array<[what: string, value: string, problem: RegExp]> = [
    ['a bad percent-encoding', 'x-team=sre,authorization=Bearer%zzhunter2', /the value of "authorization" is not valid percent-encoding .*; write a literal "%" as %25$/],
    ['bytes that are not UTF-8', 'authorization=hunter2%FF', /the value of "authorization" is not valid percent-encoding/],
    ['an encoded CR LF', 'authorization=hunter2%0D%0AX-Injected:%201', /the value of "authorization" holds a control character \(CR, LF, NUL or another\), which a header cannot carry; remove it$/],
    ['an encoded NUL', 'authorization=hunter2%00', /the value of "authorization" holds a control character/],
    ['a raw LF', 'authorization=hunter2\nx', /the value of "authorization" holds a control character/],
    ['a character past Latin-1', 'authorization=hunter2%E2%82%AC', /the value of "authorization" holds a character past U\+00FF/],
    ['an entry that is not key=value', 'authorization=Bearer hunter2,hunter3', /entry 2 of 2 is not key=value; give each header as name=value, and write a "," inside a value as %2C$/],
    ['a name that is not an HTTP token', 'x tenant=hunter2', /the name "x tenant" is not an HTTP header name .*; rename it$/],
  ];
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    for (const [what, value, problem] of refused) {
      it(`refuses ${what} in ${name}, naming the variable and masking every value`, () => {
        assert.throws(() => settings({ ...endpoint, [name]: value }), (error: Error & { code?: string }) => {
          assert.ok(error instanceof RangeError);
          assert.equal(error.code, 'EENVIRONMENT');
          assert.match(error.message, new RegExp(`^conductor-health: environment variable ${name} must be comma-separated key=value pairs, percent-encoded \\(such as "x-tenant=acme,authorization=Bearer%20abc"\\), got "[^"]*" \\(values masked\\): `));
          assert.match(error.message, problem);
          assert.ok(!/hunter/.test(error.message), `no value shown: ${error.message}`);
          return true;
        });
      });
    }
  }

  it('shows the keys and masks the values', () => {
    assert.throws(() => settings({ ...endpoint, OTEL_EXPORTER_OTLP_HEADERS: 'x-team=sre,authorization=Bearer%zz' }), {
      message: /got "x-team=\*\*\*,authorization=\*\*\*" \(values masked\)/,
    });
  });

  it('over gRPC, also refuses what gRPC metadata cannot carry, before grpc-js would throw quoting the value', () => {
    const grpc = { ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
    assert.deepEqual(settings({ ...grpc, OTEL_EXPORTER_OTLP_HEADERS: 'X-Tenant=acme' })?.headers, { 'X-Tenant': 'acme' });
    assert.throws(() => settings({ ...grpc, OTEL_EXPORTER_OTLP_HEADERS: 'x-key=hunter2%09' }), /the value of "x-key" holds a character gRPC metadata cannot carry \(printable ASCII only\); remove it$/);
    assert.throws(() => settings({ ...grpc, OTEL_EXPORTER_OTLP_HEADERS: 'x!key=hunter2' }), /the name "x!key" is not a gRPC metadata key/);
    assert.throws(() => settings({ ...grpc, OTEL_EXPORTER_OTLP_HEADERS: 'x-key-bin=hunter2' }), /the name "x-key-bin" ends in -bin/);
    assert.doesNotThrow(() => settings({ ...endpoint, OTEL_EXPORTER_OTLP_HEADERS: 'x!key=tab%09ok' }), 'HTTP takes both');
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
    const exporter = await createTraceExporter({ protocol: 'http/json', url: `http://user:hunter2@127.0.0.1:${port}/v1/traces`, compression: 'none', timeoutMillis: 2_000, headers: {} }, logger);
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

/** Runs `use` with `values` in process.env (startTelemetry reads the real environment), then puts it back. */
async function withEnv<T>(values: Record<string, string>, use: () => Promise<T>): Promise<T> {
  const saved = Object.keys(values).map((name) => [name, process.env[name]] as const);
  Object.assign(process.env, values);
  try {
    return await use();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** Starts telemetry exporting to `receiver`, ends one span and shuts down (which flushes it). */
async function exportOneSpan(options: Parameters<typeof startTelemetry>[0]): Promise<void> {
  const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, logger: silentLogger, ...options });
  trace.getTracer('test').startSpan('health_check').end();
  await telemetry.shutdown();
}

describe('startTelemetry on the wire: the OTLP variables reach the request', () => {
  it('sends OTEL_EXPORTER_OTLP_HEADERS (traces-specific ones winning) with gzip and the protocol’s content type', async () => {
    const receiver = await startOtlpReceiver();
    try {
      await withEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=general,x-team=sre', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=traces%20only', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }, async () => {
        for (const protocol of ['http/json', 'http/protobuf'] as const) await exportOneSpan({ otlpEndpoint: receiver.url, otlpProtocol: protocol });
      });
    } finally {
      await receiver.close();
    }
    const requests = receiver.received.filter((r) => r.path === '/v1/traces');
    assert.deepEqual(requests.map((r) => r.contentType), ['application/json', 'application/x-protobuf']);
    for (const request of requests) {
      assert.equal(request.contentEncoding, 'gzip');
      assert.equal(request.headers['x-tenant'], 'traces only');
      assert.equal(request.headers['x-team'], 'sre');
    }
  });

  it('reads the protocol and compression variables without regard to case', async () => {
    const receiver = await startOtlpReceiver();
    try {
      await withEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/JSON', OTEL_EXPORTER_OTLP_COMPRESSION: 'GZIP' }, () => exportOneSpan({ otlpEndpoint: receiver.url }));
    } finally {
      await receiver.close();
    }
    const [request] = receiver.received.filter((r) => r.path === '/v1/traces');
    assert.equal(request?.contentType, 'application/json');
    assert.equal(request?.contentEncoding, 'gzip');
  });

  it('sends the headers it parsed itself, not the exporter’s reading of the variable (which cuts a value at ";")', async () => {
    const receiver = await startOtlpReceiver();
    try {
      await withEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'api-key=abc;def' }, () => exportOneSpan({ otlpEndpoint: receiver.url, otlpProtocol: 'http/json' }));
    } finally {
      await receiver.close();
    }
    const [request] = receiver.received.filter((r) => r.path === '/v1/traces');
    assert.equal(request?.headers['api-key'], 'abc;def');
  });

  it('sends them as gRPC metadata over grpc', async () => {
    // gRPC is HTTP/2: a bare server sees the metadata as request headers and answers an empty ExportTraceServiceResponse.
    const seen: IncomingHttpHeaders[] = [];
    const server = createHttp2Server((request, response) => {
      seen.push(request.headers);
      request.resume();
      response.writeHead(200, { 'content-type': 'application/grpc' });
      response.addTrailers({ 'grpc-status': '0' });
      response.end(Buffer.alloc(5));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      await withEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'X-Tenant=acme,api-key=abc;def' }, () => exportOneSpan({ otlpEndpoint: url, otlpProtocol: 'grpc' }));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!['x-tenant'], 'acme');
    assert.equal(seen[0]!['api-key'], 'abc;def');
  });

  it('gives the exporter the settings’ headers, whatever the environment holds', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const exporter = await createTraceExporter({ protocol: 'http/json', url: receiver.tracesUrl, compression: 'none', timeoutMillis: 2_000, headers: { 'x-tenant': 'from-settings' } }, silentLogger);
      const finished = new InMemorySpanExporter();
      new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: finished })] }).getTracer('test').startSpan('health_check').end();
      await new Promise<ExportResult>((resolve) => exporter.export(finished.getFinishedSpans(), resolve));
      await exporter.shutdown();
    } finally {
      await receiver.close();
    }
    assert.equal(receiver.received.find((r) => r.path === '/v1/traces')?.headers['x-tenant'], 'from-settings');
  });

  it('refuses a bad headers variable at start, naming it, and leaves nothing running', async () => {
    await withEnv({ OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer%zzhunter2' }, async () => {
      await assert.rejects(startTelemetry({ startServer: false, hostMetrics: false, otlpEndpoint: 'http://127.0.0.1:4318', logger: silentLogger }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'EENVIRONMENT');
        assert.match(error.message, /environment variable OTEL_EXPORTER_OTLP_TRACES_HEADERS must be .* got "authorization=\*\*\*" \(values masked\): the value of "authorization" is not valid percent-encoding/);
        assert.ok(!error.message.includes('hunter2'));
        return true;
      });
    });
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, logger: silentLogger });
    await telemetry.shutdown();
  });
});
