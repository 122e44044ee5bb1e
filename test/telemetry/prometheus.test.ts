import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initMetrics } from '../../src/core/metrics.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';

const WEIRD = ['say "hi"', 'back\\slash', 'new\nline', 'Ünïcødé 平台 🚀'];

describe('a real Prometheus scraping the exporter', () => {
  let telemetry: Telemetry;
  let prometheus: PrometheusHandle;

  before(async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, serviceName: 'prometheus-test' });
    const m = initMetrics();
    m.recordHealthCheck('discord', 'success', 0.03);
    m.recordHealthCheck('discord', 'success', 0.03);
    m.recordHealthCheck('discord', 'timeout', 5);
    m.setBreakerState('discord', 'HALF_OPEN');
    m.recordPluginFailure('discord', 'timeout');
    m.setSystemResource('memory', 0.25);
    for (const platform of WEIRD) m.recordHealthCheck(platform, 'failure', 0.5);
    const target = new URL(telemetry.metricsUrl!).host;
    prometheus = await startPrometheus({ targets: [target] });
    await prometheus.waitForTargetsUp();
  });
  after(async () => {
    await prometheus?.stop();
    await telemetry?.shutdown();
  });

  it('serves text that promtool accepts without lint problems', async () => {
    const text = await (await fetch(telemetry.metricsUrl!)).text();
    const result = await promtoolCheckMetrics(text);
    assert.equal(result.code, 0, result.output);
  });

  it('returns the recorded series and values over PromQL', async () => {
    const value = async (promql: string) => (await prometheus.query(promql)).map((s) => s.value[1]);
    assert.deepEqual(await value('health_check_total{platform="discord",status="success"}'), ['2']);
    assert.deepEqual(await value('health_check_total{platform="discord",status="timeout"}'), ['1']);
    assert.deepEqual(await value('health_check_duration_seconds_count{platform="discord"}'), ['3']);
    assert.deepEqual(await value('health_check_duration_seconds_bucket{platform="discord",le="0.05"}'), ['2']);
    assert.deepEqual(await value('circuit_breaker_state{platform="discord",state="half_open"}'), ['1']);
    assert.deepEqual(await value('sum(circuit_breaker_state{platform="discord"})'), ['1']);
    assert.deepEqual(await value('plugin_failure_total{platform="discord",error_type="timeout"}'), ['1']);
    assert.deepEqual(await value('system_resources{resource="memory"}'), ['0.25']);
  });

  it('keeps label values with quotes, backslashes, newlines and non-ASCII intact', async () => {
    const result = await prometheus.query('health_check_total{status="failure"}');
    assert.deepEqual(result.map((s) => s.metric.platform).sort(), [...WEIRD].sort());
  });

  it('has no scope labels on the contract series, and host metrics beside them', async () => {
    const [sample] = await prometheus.query('health_check_total{platform="discord",status="success"}');
    assert.deepEqual(Object.keys(sample!.metric).sort(), ['__name__', 'instance', 'job', 'platform', 'status']);
    assert.ok((await prometheus.query('process_memory_usage')).length > 0, 'process_memory_usage');
    assert.ok((await prometheus.query('system_cpu_utilization')).length > 0, 'system_cpu_utilization');
    const [info] = await prometheus.query('target_info');
    assert.equal(info?.metric.service_name, 'prometheus-test');
  });
});
