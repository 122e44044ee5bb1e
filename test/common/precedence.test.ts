// Where a setting comes from: code (or the config file) wins over the
// environment, which wins over the default; an environment value is read as a
// plain decimal and a bad one is named by its variable, quoted.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getMetricsRegistry, startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { PlatformCircuitBreaker } from '../../src/breaker/circuit-breaker.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { parseOptions } from '../../src/common/option-schema.ts';
import { MONITOR_OPTIONS } from '../../src/monitor/options.ts';

const saved = new Map<string, string | undefined>();
/** Sets environment variables for one test; afterEach puts them back. */
function setEnv(values: Record<string, string>): void {
  for (const [key, value] of Object.entries(values)) {
    if (!saved.has(key)) saved.set(key, process.env[key]);
    process.env[key] = value;
  }
}
let telemetry: Telemetry | undefined;
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
  for (const [key, value] of saved) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  saved.clear();
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const monitor = () => new HealthMonitor({ resources: false, logger: silentLogger });

describe('code wins over the environment', () => {
  it('an explicit serviceName wins over OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES', async () => {
    setEnv({ OTEL_SERVICE_NAME: 'from-env', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,team=a' });
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false, serviceName: 'from-code' });
    assert.equal(telemetry.resource.attributes['service.name'], 'from-code');
    assert.equal(telemetry.resource.attributes.team, 'a', 'the rest of the environment still applies');
    assert.match(await getMetricsRegistry().metrics(), /target_info\{service_name="from-code"/);
  });

  it('OTEL_SERVICE_NAME wins over the default', async () => {
    setEnv({ OTEL_SERVICE_NAME: 'from-env' });
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    assert.equal(telemetry.resource.attributes['service.name'], 'from-env');
  });

  it('an explicit option wins over its variable; the variable wins over the default', () => {
    setEnv({ CONDUCTOR_HEALTH_INTERVAL_MS: '7000', CONDUCTOR_HEALTH_FAIL_MAX: '4' });
    assert.equal(parseOptions(MONITOR_OPTIONS, 'health monitor', { intervalMs: 1_000 }).intervalMs, 1_000);
    assert.equal(parseOptions(MONITOR_OPTIONS, 'health monitor', {}).intervalMs, 7_000);
    const breaker = new PlatformCircuitBreaker('p', { failMax: 2 });
    assert.equal(breaker.failMax, 2);
    breaker.shutdown();
    const fromEnv = new PlatformCircuitBreaker('q');
    assert.equal(fromEnv.failMax, 4);
    fromEnv.shutdown();
  });
});

describe('numbers from the environment', () => {
  for (const [variable, raw] of [
    ['CONDUCTOR_HEALTH_INTERVAL_MS', '0x10'],
    ['CONDUCTOR_HEALTH_INTERVAL_MS', '1e3'],
    ['CONDUCTOR_HEALTH_TIMEOUT_MS', 'Infinity'],
    ['CONDUCTOR_HEALTH_MAX_CONCURRENT', '0b11'],
    ['CONDUCTOR_HEALTH_MAX_CONCURRENT', '2.5'],
    ['CONDUCTOR_HEALTH_INTERVAL_MS', '-5'],
    ['CONDUCTOR_HEALTH_TIMEOUT_MS', '0'],
  ] as const) {
    it(`refuses ${variable}=${JSON.stringify(raw)} naming the variable and quoting the value`, () => {
      setEnv({ [variable]: raw });
      assert.throws(monitor, { name: 'RangeError', message: new RegExp(`^conductor-health: environment variable ${variable} must be .*, got ${escape(JSON.stringify(raw))}$`) });
    });
  }

  for (const [variable, raw] of [['CONDUCTOR_HEALTH_FAIL_MAX', '0x3'], ['CONDUCTOR_HEALTH_FAIL_MAX', '0'], ['CONDUCTOR_HEALTH_RESET_TIMEOUT_MS', '3e4']] as const) {
    it(`the breaker refuses ${variable}=${JSON.stringify(raw)} the same way`, () => {
      setEnv({ [variable]: raw });
      assert.throws(() => new PlatformCircuitBreaker('p'), { name: 'RangeError', message: new RegExp(`^conductor-health: environment variable ${variable} must be .*, got ${escape(JSON.stringify(raw))}$`) });
    });
  }

  it('reads a blank variable as unset, not as 0', () => {
    setEnv({ CONDUCTOR_HEALTH_FAIL_MAX: '  ', CONDUCTOR_HEALTH_TIMEOUT_MS: '' });
    const breaker = new PlatformCircuitBreaker('p');
    assert.equal(breaker.failMax, 3);
    breaker.shutdown();
    assert.doesNotThrow(monitor);
  });

  it('accepts plain decimals, with surrounding spaces', () => {
    setEnv({ CONDUCTOR_HEALTH_FAIL_MAX: ' 5 ', CONDUCTOR_HEALTH_RESET_TIMEOUT_MS: '1500.5' });
    const breaker = new PlatformCircuitBreaker('p');
    assert.equal(breaker.failMax, 5);
    breaker.shutdown();
  });

  it('refuses OTEL_EXPORTER_PROMETHEUS_PORT in hex or exponent form', async () => {
    for (const raw of ['0x10', '1e3', '80.5', '70000']) {
      setEnv({ OTEL_EXPORTER_PROMETHEUS_PORT: raw });
      await assert.rejects(startTelemetry({ hostMetrics: false }), { message: new RegExp(`environment variable OTEL_EXPORTER_PROMETHEUS_PORT must be .*, got ${escape(JSON.stringify(raw))}`) });
    }
  });
});

describe('a second startTelemetry()', () => {
  it('is refused with a clear error while one runs, and the first keeps its globals', async () => {
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    await assert.rejects(startTelemetry({ startServer: false, hostMetrics: false }), {
      message: /^conductor-health: startTelemetry\(\) was already called and its telemetry is running; call its shutdown\(\) first/,
    });
    assert.equal(getMetricsRegistry(), telemetry.registry, 'the first one is still registered');
    await telemetry.shutdown();
    telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
    assert.equal(getMetricsRegistry(), telemetry.registry, 'after shutdown a new one starts');
  });
});
