import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CONTEXT, trace, type Context, type Tracer } from '@opentelemetry/api';
import { AlwaysOffSampler, AlwaysOnSampler, InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TracerProvider, type IdGenerator } from '@opentelemetry/sdk-trace';
import { SuccessSpanFilter, samplerFromEnv } from '../../src/telemetry/sampling.ts';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { initMetrics } from '../../src/core/metrics.ts';
import { startTelemetry } from '../../src/telemetry/start-telemetry.ts';
import type { TelemetryOptions } from '../../src/telemetry/options.ts';
import { startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { prng } from '../helpers/random.ts';

/** Trace and span ids from a seeded source, so which spans a ratio keeps is the same on every run. */
function seededIds(seed: number): IdGenerator {
  const random = prng(seed);
  const hex = (bytes: number) => Array.from({ length: bytes }, () => Math.floor(random() * 256).toString(16).padStart(2, '0')).join('');
  return { generateTraceId: () => hex(16), generateSpanId: () => hex(8) };
}

/** A tracer whose ended spans go through a SuccessSpanFilter of `ratio` into memory. */
function filtered(ratio: number): { tracer: Tracer; exported: InMemorySpanExporter } {
  const exported = new InMemorySpanExporter();
  const provider = new TracerProvider({ idGenerator: seededIds(42), spanProcessors: [new SuccessSpanFilter(new SimpleSpanProcessor({ exporter: exported }), ratio)] });
  return { tracer: provider.getTracer('test'), exported };
}

/** Ends a `health_check` span as the monitor does, with its status and events. */
function check(tracer: Tracer, status: string, events: string[] = [], parent: Context = ROOT_CONTEXT): void {
  const span = tracer.startSpan('health_check', { attributes: { 'health_check.platform': 'p' } }, parent);
  for (const event of events) span.addEvent(event, { 'circuit_breaker.from': 'HALF_OPEN', 'circuit_breaker.to': 'CLOSED' });
  span.setAttribute('health_check.status', status);
  span.end();
}

describe('SuccessSpanFilter', () => {
  it('at ratio 0 keeps every failed, timed-out and rejected check, every transition and every other span, and no plain success', () => {
    const { tracer, exported } = filtered(0);
    for (let i = 0; i < 50; i += 1) check(tracer, 'success');
    check(tracer, 'failure');
    check(tracer, 'timeout');
    check(tracer, 'rejected');
    check(tracer, 'success', ['circuit_breaker.state_change']);
    tracer.startSpan('circuit_breaker.transition').end();
    const names = exported.getFinishedSpans().map((s) => `${s.name}:${String(s.attributes['health_check.status'] ?? '')}`);
    assert.deepEqual(names, ['health_check:failure', 'health_check:timeout', 'health_check:rejected', 'health_check:success', 'circuit_breaker.transition:']);
  });

  it('keeps a successful check that runs inside a caller’s trace, so the caller’s trace stays whole', () => {
    const { tracer, exported } = filtered(0);
    const parent = tracer.startSpan('request');
    check(tracer, 'success', [], trace.setSpan(ROOT_CONTEXT, parent));
    parent.end();
    assert.deepEqual(exported.getFinishedSpans().map((s) => s.name), ['health_check', 'request']);
  });

  it('at ratio 0.01 exports about one success in a hundred, chosen by trace id', () => {
    const { tracer, exported } = filtered(0.01);
    for (let i = 0; i < 20_000; i += 1) check(tracer, 'success');
    const kept = exported.getFinishedSpans().length;
    assert.ok(kept >= 150 && kept <= 250, `${kept} of 20,000 kept at 0.01`);
  });

  it('at ratio 1 keeps everything', () => {
    const { tracer, exported } = filtered(1);
    for (let i = 0; i < 100; i += 1) check(tracer, 'success');
    assert.equal(exported.getFinishedSpans().length, 100);
  });
});

describe('samplerFromEnv (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG)', () => {
  it('leaves the SDK default when unset', () => {
    assert.equal(samplerFromEnv({}), undefined);
    assert.equal(samplerFromEnv({ OTEL_TRACES_SAMPLER: ' ' }), undefined);
  });

  it('builds each sampler the specification names', () => {
    assert.ok(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_on' }) instanceof AlwaysOnSampler);
    assert.ok(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' }) instanceof AlwaysOffSampler);
    assert.equal(String(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })), 'TraceIdRatioBased{0.25}');
    assert.equal(String(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio' })), 'TraceIdRatioBased{1}');
    for (const [name, root] of [['parentbased_always_on', 'AlwaysOnSampler'], ['parentbased_always_off', 'AlwaysOffSampler'], ['parentbased_traceidratio', 'TraceIdRatioBased{0.5}']]) {
      const sampler = samplerFromEnv({ OTEL_TRACES_SAMPLER: name, OTEL_TRACES_SAMPLER_ARG: '0.5' });
      assert.ok(sampler instanceof ParentBasedSampler, name);
      assert.match(String(sampler), new RegExp(`root=${root!.replace(/[{}.]/g, '\\$&')}`), name);
    }
  });

  it('refuses unknown samplers and bad ratios, naming the variable and quoting the value', () => {
    assert.throws(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }), /OTEL_TRACES_SAMPLER must be one of .*, got "jaeger_remote"/);
    for (const arg of ['1.5', '-0.1', '0x1', '1e-2', 'half']) {
      assert.throws(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: arg }), new RegExp(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1 .*got "${arg.replace('.', '\\.')}"`));
    }
  });
});

describe('startTelemetry: which spans leave the process', () => {
  /** Runs `body` with `env` set, restoring the variables after. */
  async function withEnv(env: Record<string, string>, body: () => Promise<void>): Promise<void> {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      await body();
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  }

  /** Starts telemetry exporting OTLP/JSON to a local receiver, ends one success and one failure span per platform, shuts down. */
  async function exportChecks(options: Partial<TelemetryOptions> = {}): Promise<ReceivedSpan[]> {
    const receiver = await startOtlpReceiver();
    try {
      const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, otlpEndpoint: receiver.url, otlpProtocol: 'http/json', logger: silentLogger, ...options });
      const monitor = new HealthMonitor({ resources: false, logger: silentLogger });
      for (let i = 0; i < 20; i += 1) {
        await monitor.checkPlatformHealth(`ok-${i}`, () => true);
        await monitor.checkPlatformHealth(`bad-${i}`, () => false);
      }
      await monitor.stop();
      await telemetry.shutdown();
    } finally {
      await receiver.close();
    }
    return receiver.spans().filter((s) => s.name === 'health_check');
  }

  it('exports every check by default', async () => {
    assert.equal((await exportChecks()).length, 40);
  });

  it('exports only failures at CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO=0, and the option wins over the variable', async () => {
    await withEnv({ CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO: '0' }, async () => {
      const spans = await exportChecks();
      assert.equal(spans.length, 20);
      assert.ok(spans.every((s) => s.attributes['health_check.status'] === 'failure'));
      assert.equal((await exportChecks({ successSpanRatio: 1 })).length, 40);
    });
  });

  it('refuses a bad CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO, naming it', async () => {
    await withEnv({ CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO: '1%' }, async () => {
      await assert.rejects(startTelemetry({ startServer: false, hostMetrics: false }), /CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO must be a ratio from 0 to 1 \(such as 0.01\), got "1%"/);
    });
  });

  it('samples with OTEL_TRACES_SAMPLER: always_off exports nothing', async () => {
    await withEnv({ OTEL_TRACES_SAMPLER: 'always_off' }, async () => {
      assert.deepEqual(await exportChecks(), []);
    });
  });

  it('with OTEL_SDK_DISABLED=true records neither spans nor metrics', async () => {
    await withEnv({ OTEL_SDK_DISABLED: 'TRUE' }, async () => {
      assert.deepEqual(await exportChecks(), []);
      const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
      try {
        initMetrics().recordHealthCheck('p', 'success', 0.1);
        assert.doesNotMatch(await telemetry.registry.metrics(), /^health_check_total/m, 'no check is counted');
        assert.equal(telemetry.exportingSpans, false);
      } finally {
        await telemetry.shutdown();
      }
    });
    await withEnv({ OTEL_SDK_DISABLED: 'yes' }, async () => {
      await assert.rejects(startTelemetry({ startServer: false, hostMetrics: false }), /OTEL_SDK_DISABLED must be one of true, false, got "yes"/);
    });
  });
});
