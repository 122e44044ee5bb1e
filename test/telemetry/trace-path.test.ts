/**
 * The real trace path, end to end on loopback: the command (`node dist/cli/main.js
 * run`) → the OpenTelemetry Collector running the shipped otel-collector.yaml →
 * Jaeger v2, read back through Jaeger's query API. Both peers are the binaries
 * .ci/peers.sh builds; nothing here is a stand-in.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startCommand, type RunningCommand } from '../helpers/command.ts';
import { find, parseExposition } from '../helpers/exposition.ts';
import { COLLECTOR_CONFIG, collectorEnv, peerBinaries, startCollector, startJaeger, type Collector, type Jaeger, type JaegerSpan } from '../helpers/peers.ts';
import { freePort } from '../helpers/ports.ts';
import { spawnServer, type ServerProcess } from '../helpers/server-process.ts';

const execFileAsync = promisify(execFile);
const DEMO_PLATFORM = fileURLToPath(new URL('./fixtures/demo-platform.ts', import.meta.url));

/** A config with one traced healthy platform and one that is down, checked often enough for a breaker to open within seconds. */
function config(healthyUrl: string, downPort: number): string {
  return [
    'monitor: { intervalMs: 250, timeoutMs: 1000 }',
    'breaker: { failMax: 2, resetTimeoutMs: 1000 }',
    'resources: false',
    'targets:',
    `  - { name: healthy, type: http, url: "${healthyUrl}" }`,
    `  - { name: down, type: tcp, host: 127.0.0.1, port: ${downPort} }`,
  ].join('\n');
}

const checks = (spans: JaegerSpan[], platform: string, status?: string): JaegerSpan[] =>
  spans.filter((s) => s.name === 'health_check' && s.tags['health_check.platform'] === platform && (status === undefined || s.tags['health_check.status'] === status));

const transitions = (spans: JaegerSpan[]) => spans.flatMap((s) => s.events.filter((e) => e.name === 'circuit_breaker.state_change'));

describe('the Collector loads the shipped otel-collector.yaml', () => {
  it('validates it with its own `validate` command, with and without the variables set', async () => {
    const { otelcol } = await peerBinaries();
    for (const env of [{}, await collectorEnv('127.0.0.1:4317')]) {
      const { stdout, stderr } = await execFileAsync(otelcol, ['validate', `--config=${COLLECTOR_CONFIG}`], { env: { ...process.env, ...env } });
      assert.equal(`${stdout}${stderr}`.trim(), '', 'validate prints nothing for a valid file');
    }
  });

  it('refuses a file with a typo, naming the key (so validate is a real check)', async () => {
    const { otelcol } = await peerBinaries();
    const broken = `yaml:exporters::otlp_grpc/jaeger::endpont: jaeger:4317`;
    await assert.rejects(execFileAsync(otelcol, ['validate', `--config=${COLLECTOR_CONFIG}`, `--config=${broken}`]), (error: { stderr: string }) => {
      assert.match(error.stderr, /endpont/);
      return true;
    });
  });
});

describe('command → Collector → Jaeger', () => {
  let jaeger: Jaeger;
  let collector: Collector;
  let platform: ServerProcess;
  let healthyUrl: string;
  let downPort: number;
  const commands: RunningCommand[] = [];

  before(async () => {
    jaeger = await startJaeger();
    collector = await startCollector(jaeger.otlpGrpcEndpoint);
    platform = await spawnServer('demo-platform', process.execPath, [DEMO_PLATFORM, collector.otlpHttpUrl]);
    healthyUrl = await platform.waitFor('platform URL', async () => /"healthyUrl":"([^"]+)"/.exec(platform.logs())?.[1]);
    downPort = await freePort();
  });

  after(async () => {
    for (const command of commands) await command.stop();
    await platform?.stop();
    await collector?.stop();
    await jaeger?.stop();
  });

  /** Starts the command exporting as `service`, with more variables in `env`. */
  async function run(service: string, env: Record<string, string> = {}): Promise<RunningCommand> {
    const command = await startCommand(config(healthyUrl, downPort), { OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttpUrl, ...env });
    commands.push(command);
    return command;
  }

  describe('with the defaults (OTLP http/protobuf)', () => {
    let spans: JaegerSpan[];

    before(async () => {
      await run('ch-default');
      spans = await jaeger.waitForSpans('ch-default', 'a success, a failure with its transition, and the platform side', (found) => {
        const opened = transitions(checks(found, 'down')).some((e) => e.fields['circuit_breaker.from'] === 'CLOSED' && e.fields['circuit_breaker.to'] === 'OPEN');
        const halfOpened = transitions(found.filter((s) => s.name === 'circuit_breaker.transition')).some((e) => e.fields['circuit_breaker.to'] === 'HALF_OPEN');
        const joined = found.some((s) => s.service === 'demo-platform');
        return checks(found, 'healthy', 'success').length > 0 && opened && halfOpened && joined;
      });
    });

    it('stores health_check spans with their attributes and the service name', () => {
      const [span] = checks(spans, 'healthy', 'success');
      assert.ok(span);
      assert.equal(span.service, 'ch-default');
      assert.equal(span.tags['circuit_breaker.state'], 'CLOSED');
      assert.equal(span.tags['health_check.timeout_ms'], undefined, 'the bound is on timed-out checks only');
      assert.equal(span.tags['span.kind'], 'internal');
      assert.equal(span.tags['otel.status_code'], undefined, 'a success has no error status');
    });

    it('stores a failing check with ERROR status and an exception event', () => {
      const [span] = checks(spans, 'down', 'failure');
      assert.ok(span, 'a failed check of the down platform');
      assert.equal(span.tags['otel.status_code'], 'ERROR');
      assert.equal(span.tags.error, true);
      const exception = span.events.find((e) => e.name === 'exception');
      assert.ok(exception, 'an exception event');
      assert.match(String(exception.fields['exception.message']), /ECONNREFUSED/);
    });

    it('stores circuit_breaker.state_change events with from and to: on the check that opened the breaker, and on a span of its own for the timer’s half-open', () => {
      const opened = transitions(checks(spans, 'down')).find((e) => e.fields['circuit_breaker.from'] === 'CLOSED');
      assert.ok(opened, 'the failing check that opened the breaker carries the event');
      assert.equal(opened.fields['circuit_breaker.to'], 'OPEN');
      assert.equal(opened.fields['circuit_breaker.platform'], 'down');
      assert.equal(opened.fields['circuit_breaker.consecutive_failures'], 2);
      const timer = spans.find((s) => s.name === 'circuit_breaker.transition' && transitions([s]).some((e) => e.fields['circuit_breaker.to'] === 'HALF_OPEN'));
      assert.ok(timer, 'the reset timer’s transition has its own span');
      assert.equal(transitions([timer])[0]!.fields['circuit_breaker.from'], 'OPEN');
      assert.equal(timer.tags['circuit_breaker.platform'], 'down');
    });

    it('joins the platform’s own span to the check’s trace through traceparent', () => {
      const serverSpan = spans.find((s) => s.service === 'demo-platform');
      assert.ok(serverSpan, 'the platform exported its span');
      assert.equal(serverSpan.tags['span.kind'], 'server');
      assert.equal(serverSpan.tags['http.response.status_code'], 200);
      const check = spans.find((s) => s.spanId === serverSpan.parentSpanId);
      assert.ok(check, 'its parent is in the same trace');
      assert.equal(check.name, 'health_check');
      assert.equal(check.service, 'ch-default');
      assert.equal(check.traceId, serverSpan.traceId, 'one trace holds both spans');
      assert.equal(check.tags['health_check.platform'], 'healthy');
    });
  });

  it('exports over http/json, and over grpc with gzip and headers, to the same Collector', async () => {
    await Promise.all([
      run('ch-json', { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
      run('ch-grpc', {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpGrpcUrl,
        OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=e2e',
      }),
      run('ch-protobuf-gzip', { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip' }),
    ]);
    for (const service of ['ch-json', 'ch-grpc', 'ch-protobuf-gzip']) {
      const spans = await jaeger.waitForSpans(service, `checks from ${service}`, (found) => checks(found, 'healthy', 'success').length > 0 && checks(found, 'down', 'failure').length > 0);
      assert.ok(spans.every((s) => s.service === service || s.service === 'demo-platform'), service);
    }
  });

  it('keeps every failure and transition but no successful check at CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO=0, while the metrics count every check', async () => {
    const command = await run('ch-ratio', { CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO: '0' });
    const spans = await jaeger.waitForSpans('ch-ratio', 'failures and a transition', (found) =>
      checks(found, 'down').some((s) => s.events.some((e) => e.name === 'circuit_breaker.state_change')) && checks(found, 'down', 'rejected').length > 0,
    );
    const text = await (await fetch(command.metricsUrl)).text();
    const successes = find(parseExposition(text), 'health_check_total', { platform: 'healthy', status: 'success' });
    assert.ok(successes.length === 1 && Number(successes[0]!.value) > 0, 'the metric counts the successful checks');
    assert.deepEqual(checks(spans, 'healthy', 'success'), [], 'none of them is exported');
    assert.ok(checks(spans, 'down', 'failure').length > 0, 'failures are');
  });
});
