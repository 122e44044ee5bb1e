import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { metrics, type Meter } from '@opentelemetry/api';
import { BREAKER_STATES } from '../../src/core/breaker-state.ts';
import {
  DURATION_BUCKETS_SECONDS,
  HEALTH_CHECK_STATUSES,
  initMetrics,
  sanitizeErrorType,
  type HealthMetrics,
} from '../../src/core/metrics.ts';
import { getMetricsRegistry, startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { find, parseExposition, type Exposition } from '../helpers/exposition.ts';

const CONTRACT = {
  health_check_total: { type: 'counter', labels: ['platform', 'status'] },
  health_check_duration_seconds: { type: 'histogram', labels: ['platform'] },
  circuit_breaker_state: { type: 'gauge', labels: ['platform', 'state'] },
  plugin_failure_total: { type: 'counter', labels: ['error_type', 'platform'] },
  system_resources: { type: 'gauge', labels: ['resource'] },
} as const;

describe('the five instruments as Prometheus scrapes them', () => {
  let telemetry: Telemetry;
  let m: HealthMetrics;
  let fromRegistry: Exposition;
  let fromHttp: Exposition;
  let httpText: string;
  let contentType: string | null;

  before(async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    m = initMetrics();
    m.recordHealthCheck('discord', 'success', 0.003);
    m.recordHealthCheck('discord', 'success', 0.2);
    m.recordHealthCheck('discord', 'failure', 7);
    m.recordHealthCheck('discord', 'timeout', 5);
    m.recordHealthCheck('discord', 'rejected');
    m.setBreakerState('discord', 'CLOSED');
    m.setBreakerState('discord', 'OPEN');
    m.recordPluginFailure('discord', 'ECONNREFUSED');
    m.recordPluginFailure('discord', 'ECONNREFUSED');
    m.setSystemResource('memory', 0.42);
    m.setSystemResource('cpu', 0.9);
    m.setSystemResource('disk', 0);
    fromRegistry = parseExposition(await getMetricsRegistry().metrics());
    const response = await fetch(telemetry.metricsUrl!);
    contentType = response.headers.get('content-type');
    httpText = await response.text();
    fromHttp = parseExposition(httpText);
  });
  after(() => telemetry.shutdown());

  it('serves the same families over HTTP as the registry returns', () => {
    assert.deepEqual([...fromHttp.types], [...fromRegistry.types]);
    assert.equal(contentType, getMetricsRegistry().contentType);
  });

  it('names every instrument with its exact type, description and label set', () => {
    for (const [name, { type, labels }] of Object.entries(CONTRACT)) {
      assert.equal(fromHttp.types.get(name), type, `TYPE of ${name}`);
      assert.ok((fromHttp.help.get(name) ?? '').length > 20, `HELP of ${name}`);
      const sampleName = type === 'histogram' ? `${name}_count` : name;
      const samples = find(fromHttp, sampleName);
      assert.ok(samples.length > 0, `samples of ${name}`);
      for (const s of samples) assert.deepEqual(Object.keys(s.labels).sort(), [...labels].sort(), `labels of ${sampleName}`);
    }
  });

  it('carries no otel_scope labels and no overflow series', () => {
    assert.doesNotMatch(httpText, /otel_scope_/);
    assert.doesNotMatch(httpText, /otel_metric_overflow/);
  });

  it('counts checks by platform and status', () => {
    const value = (status: string) => find(fromHttp, 'health_check_total', { platform: 'discord', status })[0]?.value;
    assert.equal(value('success'), '2');
    assert.equal(value('failure'), '1');
    assert.equal(value('timeout'), '1');
    assert.equal(value('rejected'), '1');
  });

  it('observes durations in seconds with the contract buckets, and none for rejected checks', () => {
    const buckets = find(fromHttp, 'health_check_duration_seconds_bucket', { platform: 'discord' });
    assert.deepEqual(buckets.map((b) => b.labels.le), [...DURATION_BUCKETS_SECONDS.map(String), '+Inf']);
    assert.deepEqual(buckets.map((b) => b.value), ['1', '1', '1', '1', '1', '2', '2', '2', '2', '3', '4']);
    assert.equal(find(fromHttp, 'health_check_duration_seconds_count', { platform: 'discord' })[0]?.value, '4');
    assert.equal(find(fromHttp, 'health_check_duration_seconds_sum', { platform: 'discord' })[0]?.value, '12.203');
  });

  it('writes 1 to the current breaker state and 0 to the other two', () => {
    const states = find(fromHttp, 'circuit_breaker_state', { platform: 'discord' });
    assert.deepEqual(
      Object.fromEntries(states.map((s) => [s.labels.state, s.value])),
      { closed: '0', open: '1', half_open: '0' },
    );
  });

  it('counts plugin failures by error type and reports resources as ratios', () => {
    assert.equal(find(fromHttp, 'plugin_failure_total', { platform: 'discord', error_type: 'ECONNREFUSED' })[0]?.value, '2');
    const resources = find(fromHttp, 'system_resources');
    assert.deepEqual(Object.fromEntries(resources.map((s) => [s.labels.resource, s.value])), { memory: '0.42', cpu: '0.9', disk: '0' });
  });
});

describe('label values and bounds', () => {
  it('keeps quotes, backslashes, newlines and non-ASCII text intact', async () => {
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    try {
      const weird = ['say "hi"', 'back\\slash', 'new\nline', 'Ünïcødé 平台 🚀', '{}', "it's"];
      const m = initMetrics();
      for (const platform of weird) m.recordHealthCheck(platform, 'success', 0.01);
      const parsed = parseExposition(await getMetricsRegistry().metrics());
      const platforms = find(parsed, 'health_check_total').map((s) => s.labels.platform);
      assert.deepEqual(platforms.sort(), [...weird].sort());
    } finally {
      await telemetry.shutdown();
    }
  });

  it('counts a check at the next collection, keeps a platform that left at its last count, and counts on when it comes back', async () => {
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    try {
      const m = initMetrics();
      const scrape = async () => parseExposition(await getMetricsRegistry().metrics());
      const count = async (platform: string) => find(await scrape(), 'health_check_total', { platform, status: 'success' })[0]?.value;
      for (let i = 0; i < 3; i += 1) m.recordHealthCheck('returning', 'success', 0.01);
      assert.equal(await count('returning'), '3');
      m.recordHealthCheck('returning', 'success', 0.2);
      m.forgetPlatform('returning');
      assert.equal(await count('returning'), '4', 'what waited is counted when the platform leaves');
      assert.equal(find(await scrape(), 'health_check_duration_seconds_count', { platform: 'returning' })[0]?.value, '4');
      m.recordHealthCheck('returning', 'success', 0.01);
      assert.equal(await count('returning'), '5', 'not a counter reset');
    } finally {
      await telemetry.shutdown();
    }
  });

  it('holds at most 10,000 checks between collections, handing them over when full (nobody may ever collect)', () => {
    let added = 0;
    let recorded = 0;
    const instrument = { add: (n: number) => void (added += n), record: () => void (recorded += 1), addCallback: () => {} };
    const meter = { createCounter: () => instrument, createHistogram: () => instrument, createGauge: () => instrument, createObservableGauge: () => instrument };
    const m = initMetrics({ meter: meter as unknown as Meter });
    for (let i = 0; i < 9_999; i += 1) m.recordHealthCheck(`held-${i % 10}`, 'success', 0.01);
    assert.deepEqual([added, recorded], [0, 0], 'waiting for a collection');
    m.recordHealthCheck('held-0', 'success', 0.01);
    assert.deepEqual([added, recorded], [10_000, 10_000], 'handed over at the bound');
  });

  it('sanitises error types and caps them per platform, then counts the rest as other', async () => {
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    try {
      const m = initMetrics({ meter: metrics.getMeter('capped'), maxErrorTypes: 2 });
      for (const t of ['E1', 'E2', 'E3', 'E4', 'E1']) m.recordPluginFailure('p', t);
      m.recordPluginFailure('q', 'E3');
      const parsed = parseExposition(await getMetricsRegistry().metrics());
      const byType = (platform: string) =>
        Object.fromEntries(find(parsed, 'plugin_failure_total', { platform }).map((s) => [s.labels.error_type, s.value]));
      assert.deepEqual(byType('p'), { E1: '2', E2: '1', other: '2' });
      assert.deepEqual(byType('q'), { E3: '1' });
    } finally {
      await telemetry.shutdown();
    }
    assert.equal(sanitizeErrorType('Error: boom\nat x.js:1'), 'Error_boom_at_x_js_1');
    assert.equal(sanitizeErrorType('x'.repeat(100)).length, 40);
    assert.equal(sanitizeErrorType('!!!'), 'other');
    assert.equal(sanitizeErrorType(42), 'other');
  });

  it('produces no overflow series for 10,000 platforms with every status and state', async () => {
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, maxPlatforms: 10_000 });
    try {
      const m = initMetrics();
      for (let i = 0; i < 10_000; i += 1) {
        const platform = `platform-${i}`;
        for (const status of HEALTH_CHECK_STATUSES) m.recordHealthCheck(platform, status, status === 'rejected' ? undefined : 0.01);
        m.setBreakerState(platform, BREAKER_STATES[i % 3]!);
        m.recordPluginFailure(platform, 'timeout');
      }
      const text = await getMetricsRegistry().metrics();
      assert.doesNotMatch(text, /otel_metric_overflow/);
      const parsed = parseExposition(text);
      assert.equal(find(parsed, 'health_check_total').length, 40_000);
      assert.equal(find(parsed, 'circuit_breaker_state', { state: 'open' }).length, 10_000);
      assert.equal(find(parsed, 'health_check_duration_seconds_count').length, 10_000);
      assert.equal(find(parsed, 'plugin_failure_total').length, 10_000);
    } finally {
      await telemetry.shutdown();
    }
  });
});

describe('helper input errors', () => {
  it('names the field and the value', async () => {
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    try {
      const m = initMetrics();
      assert.throws(() => m.recordHealthCheck('p', 'ok' as never, 1), { name: 'RangeError', message: /"status".*"ok"/ });
      assert.throws(() => m.recordHealthCheck('', 'success', 1), { message: /"platform".*""/ });
      assert.throws(() => m.recordHealthCheck('p', 'success', -1), { name: 'RangeError', message: /"seconds".*-1/ });
      assert.throws(() => m.recordHealthCheck('p', 'success', Number.NaN), { message: /"seconds".*NaN/ });
      for (const odd of ['5', null, true]) assert.throws(() => m.recordHealthCheck('p', 'success', odd as never), { message: /"seconds"/ }, String(odd));
      assert.throws(() => m.setBreakerState('p', 'half_open' as never), { message: /"state".*"half_open"/ });
      assert.throws(() => m.setSystemResource('gpu' as never, 0.1), { message: /"resource".*"gpu"/ });
      assert.throws(() => m.setSystemResource('cpu', 1.5), { name: 'RangeError', message: /"ratio".*1\.5/ });
      assert.throws(() => initMetrics({ maxErrorTypes: -1 }), { message: /"maxErrorTypes".*-1/ });
      assert.throws(() => initMetrics({ meterr: 1 } as never), { code: 'EUNKNOWNOPTION', message: /unknown metrics option "meterr"; did you mean "meter"\?/ });
    } finally {
      await telemetry.shutdown();
    }
  });
});
