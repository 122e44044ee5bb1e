// Series are never lost silently: churn within maxPlatforms never overflows,
// overflow past it is logged once and counted, and every label is valid.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { getMetricsRegistry, startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { initMetrics } from '../../src/core/metrics.ts';
import { parseExposition } from '../helpers/exposition.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';
import { recordingLogger } from '../helpers/logger.ts';

let telemetry: Telemetry | undefined;
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

const scrape = async () => parseExposition(await getMetricsRegistry().metrics());


describe('series under platform churn', () => {
  it('replacing 60 % of maxPlatforms platforms between two scrapes overflows nothing and keeps every new platform', async () => {
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false, maxPlatforms: 1_000 });
    const m = initMetrics();
    for (let i = 0; i < 1_000; i += 1) m.setBreakerState(`old-${i}`, 'CLOSED');
    await scrape();
    for (let i = 0; i < 600; i += 1) m.forgetPlatform(`old-${i}`);
    for (let i = 0; i < 600; i += 1) m.setBreakerState(`new-${i}`, i % 2 === 0 ? 'CLOSED' : 'OPEN');
    const after = await scrape();
    assert.equal(after.samples.filter((s) => 'otel_metric_overflow' in s.labels).length, 0, 'no overflow series');
    for (let i = 0; i < 600; i += 1) {
      const states = after.samples.filter((s) => s.name === 'circuit_breaker_state' && s.labels.platform === `new-${i}`);
      assert.equal(states.length, 3, `new-${i} has its three state series`);
      assert.equal(states.filter((s) => s.value === '1').length, 1);
    }
    const forgotten = after.samples.filter((s) => s.name === 'circuit_breaker_state' && s.labels.platform === 'old-0');
    assert.deepEqual(forgotten.map((s) => s.value), ['0', '0', '0'], 'a forgotten platform reads 0 in every state');
  });

  it('replacing every platform at once, twice with a scrape between, overflows nothing', async () => {
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false, maxPlatforms: 500 });
    const m = initMetrics();
    for (const generation of ['a', 'b', 'c']) {
      for (let i = 0; i < 500; i += 1) m.setBreakerState(`${generation}-${i}`, 'HALF_OPEN');
      for (let i = 0; i < 500; i += 1) m.recordHealthCheck(`${generation}-${i}`, 'failure', 0.1);
      const text = await getMetricsRegistry().metrics();
      assert.doesNotMatch(text, /otel_metric_overflow/, `generation ${generation}`);
      for (let i = 0; i < 500; i += 1) m.forgetPlatform(`${generation}-${i}`);
    }
  });
});

describe('overflow past maxPlatforms', () => {
  it('is logged once, naming the instrument and the option, and is visible in health_metric_overflow', async () => {
    const logger = recordingLogger();
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false, maxPlatforms: 10, logger });
    const m = initMetrics();
    for (let i = 0; i < 25; i += 1) m.setBreakerState(`p-${i}`, 'CLOSED');
    await scrape();
    const warnings = logger.entries.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg ?? '', /circuit_breaker_state.*otel_metric_overflow.*maxPlatforms \(10\)/);
    const second = await scrape();
    assert.equal(logger.entries.filter((l) => l.level === 'warn').length, 1, 'logged once');
    const flag = second.samples.filter((s) => s.name === 'health_metric_overflow');
    assert.equal(flag.find((s) => s.labels.metric === 'circuit_breaker_state')?.value, '1');
    assert.equal(flag.find((s) => s.labels.metric === 'health_check_total')?.value, '0');
  });
});

describe('labels and limits that come from outside', () => {
  it('makes a resource attribute key that starts with a digit a valid label name', async () => {
    const saved = process.env.OTEL_RESOURCE_ATTRIBUTES;
    process.env.OTEL_RESOURCE_ATTRIBUTES = '1team=platform,9=x';
    try {
      telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
      const text = await getMetricsRegistry().metrics();
      assert.match(text, /target_info\{[^}]*_1team="platform"/);
      const lint = await promtoolCheckMetrics(text);
      assert.doesNotMatch(lint.output, /error|invalid/i, lint.output);
      assert.notEqual(lint.code, 1, 'promtool parses the scrape');
    } finally {
      if (saved === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
      else process.env.OTEL_RESOURCE_ATTRIBUTES = saved;
    }
  });

  it('initMetrics({ maxErrorTypes }) is honoured, and startTelemetry sizes the views from the same option', async () => {
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false, maxPlatforms: 2, maxErrorTypes: 30 });
    const m = initMetrics();
    for (const platform of ['a', 'b']) for (let i = 0; i < 30; i += 1) m.recordPluginFailure(platform, `E${i}`);
    const text = await getMetricsRegistry().metrics();
    assert.doesNotMatch(text, /otel_metric_overflow/);
    assert.doesNotMatch(text, /error_type="other"/, 'the 30 types of each platform are kept');
  });

  it('initMetrics refuses a maxErrorTypes other than the one its meter was set up with, rather than ignore it', () => {
    const meter = new MeterProvider().getMeter('x');
    const first = initMetrics({ meter, maxErrorTypes: 3 });
    assert.equal(initMetrics({ meter }), first);
    assert.equal(initMetrics({ meter, maxErrorTypes: 3 }), first);
    assert.throws(() => initMetrics({ meter, maxErrorTypes: 5 }), { name: 'RangeError', message: /"maxErrorTypes".*5.*already.*3/ });
    assert.equal(metrics.getMeterProvider().constructor.name, 'NoopMeterProvider');
  });
});
