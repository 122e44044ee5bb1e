// Area 4: bad input everywhere a user can give it. Options objects and config
// files with every field wrong in turn, platform names that try to break the
// exposition format, duplicate registrations, and generated input (fast-check)
// that may only ever produce the package's own clear errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { httpCheck } from '../../src/monitor/checks/http-check.ts';
import { tcpCheck } from '../../src/monitor/checks/tcp-check.ts';
import { PlatformCircuitBreaker } from '../../src/breaker/circuit-breaker.ts';
import { isConductorHealthError } from '../../src/common/errors.ts';
import { ConfigFileError, loadConfigFile, parseConfig } from '../../src/cli/config-file.ts';
import type { CommandConfig } from '../../src/cli/config-schema.ts';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { PluginManager } from '../../src/core/plugin-health.ts';
import { ResourceMonitor } from '../../src/resources/resource-monitor.ts';
import { getMetricsRegistry, startTelemetry } from '../../src/telemetry/start-telemetry.ts';
import { find, parseExposition } from '../helpers/exposition.ts';
import { setupOtel, type TestOtel } from '../helpers/otel.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';
import { watchProcess, type ProcessWatch } from './fixtures/util.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

let otel: TestOtel;
let watch: ProcessWatch;
before(async () => {
  otel = await setupOtel();
  watch = watchProcess();
});
after(async () => {
  watch.stop();
  await otel.shutdown();
  assert.deepEqual(watch.unhandled, [], 'no unhandled rejection');
  assert.deepEqual(watch.warnings, [], 'no process warning');
});

/** Asserts `error` is one of the package's own clear errors, naming `field` when given. */
function assertClearError(error: unknown, field: string | undefined, context: string): void {
  assert.ok(isConductorHealthError(error) || error instanceof ConfigFileError, `${context}: not one of the package's errors: ${String(error)}`);
  if (!(error instanceof ConfigFileError)) assert.match(error.message, /^conductor-health: /, `${context}: ${error.message}`);
  assert.ok(!error.message.includes('\n'), `${context}: one line: ${error.message}`);
  if (field !== undefined) assert.ok(error.message.includes(field), `${context}: names ${field}: ${error.message}`);
}

function expectClearError(fn: () => unknown, field: string | undefined, context: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, `${context}: accepted`);
  assertClearError(thrown, field, context);
}

// Wrong in every way a number can be: type, empty, NaN, ±Infinity.
const NOT_NUMBERS: unknown[] = ['5000', '', true, [], {}, () => 1, Number.NaN, Infinity, -Infinity];

describe('options objects, every field wrong in turn', () => {
  it('rejects each wrong HealthMonitor option with a TypeError or RangeError naming it', () => {
    const fields: Record<string, unknown[]> = {
      intervalMs: [0, -1, MAX_TIMER_MS + 1],
      timeoutMs: [0, MAX_TIMER_MS + 1],
      staggerMs: [-1, MAX_TIMER_MS + 1],
      maxConcurrent: [0, 1.5],
      maxLatenessMs: [-1, MAX_TIMER_MS + 1],
      stallMs: [-1, MAX_TIMER_MS + 1],
      stopTimeoutMs: [-1, MAX_TIMER_MS + 1],
      degradedIntervalFactor: [0.5],
      degradedConcurrencyFactor: [-0.1, 1.5],
    };
    let cases = 0;
    for (const [field, range] of Object.entries(fields)) {
      for (const bad of [...NOT_NUMBERS, ...range]) {
        expectClearError(() => new HealthMonitor({ resources: false, [field]: bad }), `"${field}"`, `${field}=${String(bad)}`);
        cases += 1;
      }
    }
    for (const [field, bad] of [['failMax', 0], ['failMax', 2.5], ['failMax', 'x'], ['resetTimeoutMs', -1], ['resetTimeoutMs', MAX_TIMER_MS + 1], ['resetTimeoutMs', Number.NaN], ['halfOpenTimeoutMs', 0], ['resetBackoffFactor', 0.9], ['maxResetTimeoutMs', MAX_TIMER_MS + 1]] as const) {
      expectClearError(() => new HealthMonitor({ resources: false, breaker: { [field]: bad } }), `"breaker.${field}"`, `breaker.${field}=${String(bad)}`);
    }
    for (const [field, bad] of [['resources', {}], ['resources', true], ['meter', 5], ['meter', {}], ['tracer', 'console'], ['logger', console.log], ['logger', {}]] as const) {
      expectClearError(() => new HealthMonitor({ [field]: bad } as never), `"${field}"`, `${field}=${String(bad)}`);
    }
    for (const unknown of ['interval', 'intervalMS', 'timeout_ms', '']) {
      expectClearError(() => new HealthMonitor({ resources: false, [unknown]: 1 } as never), `"${unknown}"`, `unknown key ${unknown}`);
    }
    // A JSON config can carry "__proto__" as an own key; it must not slip through as a prototype.
    expectClearError(() => new HealthMonitor(JSON.parse('{"resources": false, "__proto__": {"intervalMs": 0}}') as never), '"__proto__"', '__proto__ key');
    for (const notAnObject of ['fast', 5, [], null, true]) {
      expectClearError(() => new HealthMonitor(notAnObject as never), 'options must be an object', `options=${String(notAnObject)}`);
    }
    assert.ok(cases >= 80, `${cases} cases`);
  });

  it('refuses intervals and gaps longer than a timer can hold (2^31-1 ms, about 24.8 days), as README says, and runs the longest one without a 1 ms loop', async () => {
    const MONTH = 30 * 24 * 3_600_000;
    expectClearError(() => new HealthMonitor({ intervalMs: MONTH, resources: false }), '"intervalMs"', 'a 30-day interval');
    expectClearError(() => new HealthMonitor({ staggerMs: MONTH, resources: false }), '"staggerMs"', 'a 30-day gap');
    const warningsBefore = watch.warnings.length;
    // Default resources: the monitor sizes its own resource sampler from the interval too.
    const monitors = [new HealthMonitor({ intervalMs: MAX_TIMER_MS, logger: silentLogger, tracer: otel.tracer }), new HealthMonitor({ staggerMs: MAX_TIMER_MS, resources: false, logger: silentLogger, tracer: otel.tracer })];
    const calls = [0, 0];
    monitors.forEach((m, i) => {
      m.register('monthly-a', () => void (calls[i]! += 1));
      m.register('monthly-b', () => true);
      m.start();
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const m of monitors) await m.stop();
    assert.deepEqual(calls, [1, 1], 'checked once, at the start');
    assert.deepEqual(watch.warnings.slice(warningsBefore), [], 'no TimeoutOverflowWarning');
  });

  it('rejects each wrong register() argument with an error naming it, and leaves the monitor usable', async () => {
    const m = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer });
    for (const bad of [...NOT_NUMBERS, 0, -5, MAX_TIMER_MS + 1]) {
      expectClearError(() => m.register('p', () => true, { timeoutMs: bad as number }), '"timeoutMs"', `timeoutMs=${String(bad)}`);
      expectClearError(() => m.register('p', () => true, { intervalMs: bad as number }), '"intervalMs"', `intervalMs=${String(bad)}`);
    }
    expectClearError(() => m.register('p', () => true, { breaker: { failMax: 0 } }), '"breaker.failMax"', 'breaker.failMax');
    expectClearError(() => m.register('p', () => true, { retries: 3 } as never), '"retries"', 'unknown platform option');
    expectClearError(() => m.register('p', 'check' as never), '"check"', 'check not a function');
    expectClearError(() => m.register('p', () => true, 5 as never), 'options must be an object', 'options=5');
    for (const name of ['', '   ', '\n', 5, null, undefined, {}, 'x'.repeat(257)]) {
      expectClearError(() => m.register(name as string, () => true), '"platform"', `name=${JSON.stringify(name)}`);
    }
    // Nothing half-registered: the same platform registers cleanly afterwards.
    m.register('p', () => true);
    assert.equal((await m.checkPlatformHealth('p')).status, 'success');
    await m.stop();
  });

  it('rejects each wrong PlatformCircuitBreaker option with an error naming it', () => {
    for (const [field, range] of [['failMax', [0, 1.5]], ['resetTimeoutMs', [-1, MAX_TIMER_MS + 1]], ['halfOpenTimeoutMs', [0, MAX_TIMER_MS + 1]], ['timeoutMs', [-1, MAX_TIMER_MS + 1]]] as const) {
      for (const bad of [...NOT_NUMBERS, ...range]) {
        expectClearError(() => new PlatformCircuitBreaker('p', { [field]: bad }), `"${field}"`, `${field}=${String(bad)}`);
      }
    }
    for (const [field, bad] of [['meter', 1], ['metrics', {}], ['tracer', 'x'], ['logger', 'console'], ['failmax', 3]] as const) {
      expectClearError(() => new PlatformCircuitBreaker('p', { [field]: bad } as never), `"${field}"`, `${field}=${String(bad)}`);
    }
    for (const name of ['', ' ', 7, 'y'.repeat(257)]) expectClearError(() => new PlatformCircuitBreaker(name as string), '"platform"', `platform=${String(name)}`);
  });

  it('rejects each wrong ResourceMonitor option with an error naming it', () => {
    const fields: Array<[string, unknown[]]> = [
      ['intervalMs', [0, 1.5, MAX_TIMER_MS + 1]],
      ['threshold', [0, 1.5, -0.1]],
      ['recoverSamples', [0, 2.5]],
    ];
    for (const [field, range] of fields) {
      for (const bad of [...NOT_NUMBERS, ...range]) {
        expectClearError(() => new ResourceMonitor({ logger: silentLogger, [field]: bad }), `"${field}"`, `${field}=${String(bad)}`);
      }
    }
    const others: Array<[object, string]> = [
      [{ thresholds: { memory: 2 } }, '"thresholds.memory"'],
      [{ thresholds: { gpu: 0.5 } }, '"gpu"'],
      [{ thresholds: 5 }, 'thresholds'],
      [{ recoverBelow: 0.9 }, '"recoverBelow"'],
      [{ recoverBelow: 'low' }, '"recoverBelow"'],
      [{ recoverBelow: { cpu: 0.95 } }, '"recoverBelow.cpu"'],
      [{ path: '' }, '"path"'],
      [{ path: 5 }, '"path"'],
      [{ cgroupRoot: '  ' }, '"cgroupRoot"'],
      [{ sampler: 'system' }, '"sampler"'],
      [{ logger: console.log }, '"logger"'],
      [{ meter: 5 }, '"meter"'],
      [{ meter: {} }, '"meter"'],
      [{ metrics: 5 }, '"metrics"'],
      [{ interval: 5 }, '"interval"'],
    ];
    for (const [options, field] of others) {
      expectClearError(() => new ResourceMonitor({ logger: silentLogger, ...options } as never), field, JSON.stringify(options));
    }
  });

  it('rejects each wrong startTelemetry option with an error naming it, before anything is started', async () => {
    const fields: Array<[string, unknown[]]> = [
      ['serviceName', ['', '  ', 5, true, [], {}]],
      ['serviceVersion', ['', 1]],
      ['prometheusHost', ['', 127001]],
      ['prometheusPort', [...NOT_NUMBERS, -1, 65_536, 80.5]],
      ['startServer', ['yes', 1, null]],
      ['otlpEndpoint', ['', 'collector:4318', 'not a url', 'ftp://collector/', 4318]],
      ['otlpProtocol', ['http', 'HTTP/JSON', 'grpc ', 5]],
      ['successSpanRatio', [...NOT_NUMBERS, -0.1, 1.5]],
      ['maxPlatforms', [...NOT_NUMBERS, 0, 1.5]],
      ['maxQueueSize', [...NOT_NUMBERS, 0, 2.5]],
      ['shutdownTimeoutMs', [...NOT_NUMBERS, 0, MAX_TIMER_MS + 1]],
      ['hostMetrics', ['all', true, ['system.disk'], [5]]],
      ['service', ['x']],
    ];
    for (const [field, bads] of fields) {
      for (const bad of bads) {
        // A server that started would listen on 9464: startServer stays on for every field but its own,
        // so an option checked only after the server is up would show as EADDRINUSE or a leak.
        const error = await startTelemetry({ hostMetrics: false, prometheusPort: 0, [field]: bad }).then(
          async (telemetry) => {
            await telemetry.shutdown();
            return undefined;
          },
          (e: unknown) => e,
        );
        assert.ok(error !== undefined, `${field}=${String(bad)} was accepted`);
        assertClearError(error, `"${field}"`, `${field}=${String(bad)}`);
      }
    }
  });
});

/** A valid config touching every field; each case below breaks one of them. */
const BASE = {
  monitor: { intervalMs: 5_000, timeoutMs: 3_000, staggerMs: 100, maxConcurrent: 10 },
  breaker: { failMax: 3, resetTimeoutMs: 30_000 },
  resources: { threshold: 0.9, recoverBelow: 0.7, path: '/' },
  telemetry: { serviceName: 'svc', prometheusHost: '127.0.0.1', prometheusPort: 9464 },
  targets: [
    { name: 'web', type: 'http', url: 'http://127.0.0.1:8080/health', expectStatus: '200-299', bodyMatch: 'ok', intervalMs: 1_000, timeoutMs: 500, breaker: { failMax: 2, resetTimeoutMs: 1_000 } },
    { name: 'db', type: 'tcp', host: '127.0.0.1', port: 5432 },
  ],
};

/** Sets `path` (like `targets[0].breaker.failMax`) in a deep copy of `root`. */
function withValue(root: unknown, path: string, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string, unknown>;
  const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '');
  let node: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys.at(-1)!] = value;
  return copy;
}

/** What `conductor-health run` builds from a config, without starting anything. */
async function buildLikeTheCommand(config: CommandConfig): Promise<void> {
  const resources = config.resources === false ? false : new ResourceMonitor({ ...config.resources, logger: silentLogger });
  const monitor = new HealthMonitor({ ...config.monitor, breaker: config.breaker, resources, logger: silentLogger, tracer: otel.tracer });
  try {
    for (const target of config.targets) {
      const check = target.type === 'http' ? httpCheck({ url: target.url, expectStatus: target.expectStatus }) : tcpCheck({ host: target.host, port: target.port });
      monitor.register(target.name, check, {
        ...(target.intervalMs === undefined ? {} : { intervalMs: target.intervalMs }),
        ...(target.timeoutMs === undefined ? {} : { timeoutMs: target.timeoutMs }),
        ...(target.breaker === undefined ? {} : { breaker: target.breaker }),
      });
    }
  } finally {
    await monitor.stop();
  }
}

function expectConfigError(text: string, path: string | undefined, context: string): ConfigFileError {
  let thrown: unknown;
  try {
    parseConfig(text, 'conf.yaml');
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof ConfigFileError, `${context}: expected a ConfigFileError, got ${String(thrown)}`);
  assert.ok(thrown.message.startsWith('conf.yaml: '), `${context}: names the file: ${thrown.message}`);
  assert.ok(!thrown.message.includes('\n'), `${context}: one line: ${thrown.message}`);
  if (path !== undefined) assert.equal(thrown.path, path, `${context}: ${thrown.message}`);
  return thrown;
}

describe('config files, every field wrong in turn', () => {
  it('accepts the base config, and the command can build everything from it', async () => {
    await buildLikeTheCommand(parseConfig(stringify(BASE), 'conf.yaml'));
    await buildLikeTheCommand(parseConfig(JSON.stringify(BASE), 'conf.json'));
  });

  it('rejects each wrong field, in YAML and in JSON, with a ConfigFileError naming the file and the path', () => {
    const numbers: Record<string, unknown[]> = {
      'monitor.intervalMs': [0, -1],
      'monitor.timeoutMs': [0, MAX_TIMER_MS + 1],
      'monitor.staggerMs': [-1],
      'monitor.maxConcurrent': [0, 1.5],
      'breaker.failMax': [0, 2.5],
      'breaker.resetTimeoutMs': [-1, MAX_TIMER_MS + 1],
      'breaker.halfOpenTimeoutMs': [0, MAX_TIMER_MS + 1],
      'resources.threshold': [0, -0.1, 1.5],
      'resources.recoverBelow': [-0.1, 1.5, 0.95],
      'telemetry.prometheusPort': [-1, 65_536, 80.5],
      'telemetry.successSpanRatio': [-0.1, 1.5, '0.5'],
      'telemetry.maxPlatforms': [0, 1.5],
      'targets[0].intervalMs': [0],
      'targets[0].timeoutMs': [0, MAX_TIMER_MS + 1],
      'targets[0].breaker.failMax': [0],
      'targets[0].breaker.resetTimeoutMs': [-1, MAX_TIMER_MS + 1],
      'targets[1].port': [0, 65_536, 1.5],
    };
    const strings: Record<string, unknown[]> = {
      'resources.path': [],
      'telemetry.serviceName': [],
      'telemetry.prometheusHost': [],
      'targets[0].name': ['x'.repeat(257)],
      'targets[0].url': ['not a url', 'ftp://host/x', 'file:///etc/passwd', 'javascript:alert(1)'],
      'targets[0].bodyMatch': [],
      'targets[1].host': [],
      'targets[0].type': ['udp', 'HTTP'],
      'targets[0].expectStatus': ['99', '600', '300-200', 'abc', 2.5, true],
      // A duplicate registration, in a file.
      'targets[1].name': ['web'],
    };
    const cases: Array<[string, unknown]> = [];
    for (const [path, range] of Object.entries(numbers)) for (const bad of [...NOT_NUMBERS.filter((v) => typeof v !== 'function'), null, ...range]) cases.push([path, bad]);
    for (const [path, extra] of Object.entries(strings)) for (const bad of ['', '   ', 5, true, null, [], {}, ...extra]) cases.push([path, bad]);
    let checked = 0;
    for (const [path, bad] of cases) {
      const config = withValue(BASE, path, bad);
      expectConfigError(stringify(config), path, `${path}=${JSON.stringify(bad)} (YAML)`);
      if (typeof bad !== 'number' || Number.isFinite(bad)) expectConfigError(JSON.stringify(config), path, `${path}=${JSON.stringify(bad)} (JSON)`);
      checked += 1;
    }
    // Whole sections of the wrong type.
    for (const [path, bad] of [['monitor', 5], ['monitor', 'fast'], ['monitor', []], ['breaker', 3], ['resources', true], ['resources', 0.9], ['telemetry', []], ['targets', {}], ['targets', []], ['targets', 'web'], ['targets[0]', 5], ['targets[0]', null], ['targets[0]', []], ['targets[0].breaker', 2]] as const) {
      expectConfigError(stringify(withValue(BASE, path, bad)), path, `${path}=${JSON.stringify(bad)}`);
      checked += 1;
    }
    // Unknown keys at every level.
    for (const path of ['', 'monitor', 'breaker', 'resources', 'telemetry', 'targets[0]', 'targets[1]', 'targets[0].breaker']) {
      const config = path === '' ? { ...BASE, bogus: 1 } : withValue(BASE, `${path}.bogus`, 1);
      expectConfigError(stringify(config), path === '' ? 'bogus' : `${path}.bogus`, `unknown key under ${path || 'the top'}`);
      checked += 1;
    }
    // A tcp target with an http field.
    expectConfigError(stringify(withValue(BASE, 'targets[1].url', 'http://x/')), 'targets[1].url', 'url on a tcp target');
    assert.ok(checked >= 250, `${checked} cases`);
  });

  it('rejects files that are not a config at all with a ConfigFileError, never an exception from the YAML parser', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n');
    const texts: Array<[string, string]> = [
      ['an empty file', ''],
      ['only a comment', '# nothing here\n'],
      ['null', 'null'],
      ['a list', '- a\n- b\n'],
      ['a number', '42'],
      ['a string', 'hello'],
      ['broken YAML', 'targets: [\n  - name: a\n   type: http'],
      ['broken JSON', '{"targets": [}'],
      ['duplicate keys', 'monitor: {}\nmonitor: {}\ntargets: []\n'],
      ['two documents', 'targets: []\n---\ntargets: []\n'],
      ['a billion laughs', laughs],
      ['an alias to nothing', 'targets: *nowhere\n'],
      ['a merge key of an unknown anchor', 'monitor:\n  <<: *base\n'],
      ['an unknown tag', 'targets: !include other.yaml\n'],
      ['binary data', '\u0000\u0001\u0002\uFFFD\uD800'],
      ['a very long line', `targets: ${'['.repeat(10_000)}`],
    ];
    for (const [what, text] of texts) expectConfigError(text, undefined, what);
  });

  it('reports unreadable files by name: missing, a directory, invalid UTF-8', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conductor-health-bad-input-'));
    try {
      await mkdir(join(dir, 'a-directory.yaml'));
      await writeFile(join(dir, 'latin1.yaml'), Buffer.from([0x74, 0x61, 0x72, 0x67, 0x65, 0x74, 0x73, 0x3a, 0x20, 0xff, 0xfe, 0x0a]));
      for (const name of ['missing.yaml', 'a-directory.yaml', 'latin1.yaml']) {
        const file = join(dir, name);
        const error = await loadConfigFile(file).then(() => undefined, (e: unknown) => e);
        assert.ok(error instanceof ConfigFileError, `${name}: ${String(error)}`);
        assert.ok(error.message.startsWith(`${file}: `), error.message);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makes the command exit 2 with one clear line for a target name too long to be a label, not crash later', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conductor-health-bad-input-'));
    try {
      const file = join(dir, 'long.yaml');
      await writeFile(file, stringify({ resources: false, targets: [{ name: 'n'.repeat(300), type: 'tcp', host: '127.0.0.1', port: 1 }] }));
      const result = await promisify(execFile)(process.execPath, [CLI, 'run', '--config', file]).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /bad config file .*long\.yaml: targets\[0\]\.name: /);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('platform names', () => {
  const NAMES = [
    'quote"inside',
    "single'quote",
    'back\\slash',
    'new\nline',
    'carriage\rreturn',
    'tab\there',
    '{}',
    '"}\nfake_metric{a="b"} 1\n# HELP x',
    '{platform="x"}',
    'ünïcödé ☃ 日本語 العربية',
    'emoji 🚀👩‍👩‍👧',
    'zero\u200Bwidth',
    'nul\u0000byte',
    ' leading and trailing ',
    'x'.repeat(256),
    '🚀'.repeat(128),
  ];

  it('keeps every label valid, round-trips the name, and bounds its length', async () => {
    const m = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer, breaker: { failMax: 1 } });
    for (const name of NAMES) {
      m.register(name, () => true);
      await m.checkPlatformHealth(name);
      await m.checkPlatformHealth(name, () => Promise.reject(new Error('down')));
    }
    const text = await getMetricsRegistry().metrics();
    const lint = await promtoolCheckMetrics(text);
    assert.ok(lint.code === 0, `promtool accepts the exposition: ${lint.output}`);
    const scrape = parseExposition(text);
    for (const name of NAMES) {
      assert.equal(find(scrape, 'health_check_total', { platform: name, status: 'success' })[0]?.value, '1', JSON.stringify(name));
      assert.equal(find(scrape, 'circuit_breaker_state', { platform: name, state: 'open' })[0]?.value, '1', JSON.stringify(name));
      assert.equal(find(scrape, 'plugin_failure_total', { platform: name, error_type: 'Error' })[0]?.value, '1', JSON.stringify(name));
    }
    for (const sample of scrape.samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        assert.ok(value.length <= 256, `${sample.name}{${label}} is ${value.length} long`);
      }
    }
    // The injected "fake_metric" line stayed inside a label value.
    assert.equal(scrape.samples.some((s) => s.name === 'fake_metric'), false);
    const report = m.report();
    assert.equal(report.platforms.length, NAMES.length);
    for (const p of report.platforms) assert.ok(p.lastError === undefined || !/[\r\n]/.test(p.lastError));
    await m.stop();
  });

  it('rejects names that are empty, blank or over 256 characters with a RangeError naming the platform option', () => {
    const m = new HealthMonitor({ resources: false, logger: silentLogger });
    for (const name of ['', ' ', '\n\t', 'x'.repeat(257), '🚀'.repeat(129)]) {
      expectClearError(() => m.register(name, () => true), '"platform"', JSON.stringify(name).slice(0, 40));
      expectClearError(() => void m.checkPlatformHealth(name, () => true), '"platform"', JSON.stringify(name).slice(0, 40));
      expectClearError(() => void m.staggeredHealthChecks(['ok', name], () => true), '"platform"', JSON.stringify(name).slice(0, 40));
    }
    assert.equal(m.report().platforms.length, 0, 'nothing was registered half-way');
    void m.stop();
  });

  it('refuses duplicate registrations, and a plugin manager listing a platform twice registers it once', async () => {
    const m = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer });
    m.register('dup', () => true);
    expectClearError(() => m.register('dup', () => false), '"dup" is already registered', 'second register');
    const manager: PluginManager = { platforms: () => ['twice', 'twice', 'once'], checkHealth: async () => ({ status: 'healthy' }) };
    assert.deepEqual(m.attachPluginManager(manager), ['twice', 'once']);
    assert.deepEqual(m.attachPluginManager(manager), []);
    const other: PluginManager = { platforms: () => ['once'], checkHealth: async () => ({ status: 'healthy' }) };
    expectClearError(() => m.attachPluginManager(other), '"once" is already registered', 'another manager');
    expectClearError(() => m.attachPluginManager({ platforms: 5 } as never), 'attachPluginManager', 'not a manager');
    // Unregistered, it can come back; checked ad hoc first, it can still be registered.
    m.unregister('dup');
    m.register('dup', () => true);
    await m.checkPlatformHealth('adhoc', () => true);
    m.register('adhoc', () => true);
    assert.deepEqual(m.report().platforms.map((p) => p.platform).sort(), ['adhoc', 'dup', 'once', 'twice']);
    await m.stop();
  });
});

describe('generated input', () => {
  /** Anything a user could put in an options object: every JSON-ish value, special numbers, functions, nested objects. */
  const anyValue = fc.oneof(
    fc.anything({ maxDepth: 2 }),
    fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0, -1, 1.5, MAX_TIMER_MS, MAX_TIMER_MS + 1, Number.MAX_VALUE, Number.MIN_VALUE, 1e-300, '', ' ', false, true, null),
    fc.double(),
    fc.integer(),
    fc.string(),
    fc.func(fc.anything()),
  );
  /** An options object mixing known keys with unknown ones, values from {@link anyValue}. */
  const options = (known: string[], nested: Record<string, string[]> = {}) =>
    fc.dictionary(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }),
      fc.oneof(anyValue, ...Object.values(nested).map((keys) => fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })), anyValue, { maxKeys: 3 }))),
      { maxKeys: 5 },
    );
  /** The error names at least one of the keys given (or says the options are not an object). */
  const assertNamesAKey = (error: unknown, given: unknown, context: string): void => {
    assertClearError(error, undefined, context);
    const message = (error as Error).message;
    if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
      const keys = Object.keys(given);
      // A key is named as given, or quoted as a JSON string (escapes and all) when unknown.
      assert.ok(keys.some((k) => message.includes(k === '' ? '""' : k) || message.includes(JSON.stringify(k))) || /options must be an object/.test(message), `${context}: ${message} names none of ${JSON.stringify(keys)}`);
    }
  };
  const RUNS = 400;
  const counts: Record<string, number> = {};
  const count = (what: string): void => void (counts[what] = (counts[what] ?? 0) + 1);
  after(() => {
    // Printed for the README: how much generated input the suite throws at the package.
    console.log(`# generated runs: ${JSON.stringify(counts)}`);
  });

  it('HealthMonitor options: only the package\'s own clear errors', async () => {
    const known = ['intervalMs', 'timeoutMs', 'staggerMs', 'maxConcurrent', 'maxLatenessMs', 'stopTimeoutMs', 'breaker', 'degradedIntervalFactor', 'degradedConcurrencyFactor', 'resources', 'meter', 'tracer', 'logger'];
    await fc.assert(
      fc.asyncProperty(fc.oneof(options(known, { breaker: ['failMax', 'resetTimeoutMs', 'halfOpenTimeoutMs'] }), anyValue), async (given) => {
        count('HealthMonitor');
        let monitor: HealthMonitor | undefined;
        try {
          monitor = new HealthMonitor(given as never);
        } catch (error) {
          assertNamesAKey(error, given, 'HealthMonitor');
          return;
        }
        count('HealthMonitor accepted');
        await monitor.stop();
      }),
      { numRuns: RUNS, seed: 4_001 },
    );
  });

  it('register() names and options: a clear error, or a platform that checks', async () => {
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer });
    const names = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constantFrom('', ' ', 'x'.repeat(256), 'x'.repeat(257)), anyValue);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(names, fc.oneof(options(['intervalMs', 'timeoutMs', 'breaker'], { breaker: ['failMax', 'resetTimeoutMs', 'halfOpenTimeoutMs'] }), fc.constant(undefined)), async (name, given) => {
        count('register');
        // Distinct names per run: a duplicate is tested above and would mask the option errors here.
        const platform = typeof name === 'string' && name.trim() !== '' && name.length < 250 ? `${n++}:${name}` : name;
        try {
          monitor.register(platform as string, () => true, given as never);
        } catch (error) {
          assertClearError(error, undefined, `register(${JSON.stringify(platform)})`);
          return;
        }
        count('register accepted');
        assert.equal((await monitor.checkPlatformHealth(platform as string)).status, 'success');
        monitor.unregister(platform as string);
      }),
      { numRuns: RUNS, seed: 4_002 },
    );
    await monitor.stop();
  });

  it('PlatformCircuitBreaker options: only the package\'s own clear errors', () => {
    fc.assert(
      fc.property(options(['failMax', 'resetTimeoutMs', 'halfOpenTimeoutMs', 'timeoutMs', 'meter', 'metrics', 'tracer', 'logger']), (given) => {
        count('PlatformCircuitBreaker');
        let breaker: PlatformCircuitBreaker | undefined;
        try {
          breaker = new PlatformCircuitBreaker('generated', given as never);
        } catch (error) {
          assertNamesAKey(error, given, 'PlatformCircuitBreaker');
          return;
        }
        count('PlatformCircuitBreaker accepted');
        breaker.recordFailure(new Error('x'));
        breaker.shutdown();
      }),
      { numRuns: RUNS, seed: 4_003 },
    );
  });

  it('ResourceMonitor options: only the package\'s own clear errors', () => {
    const perResource = ['memory', 'cpu', 'disk'];
    fc.assert(
      fc.property(options(['sampler', 'intervalMs', 'threshold', 'thresholds', 'recoverBelow', 'recoverSamples', 'path', 'meter', 'metrics', 'logger', 'cgroupRoot'], { thresholds: perResource, recoverBelow: perResource }), (given) => {
        count('ResourceMonitor');
        try {
          new ResourceMonitor({ logger: silentLogger, ...given } as never);
          count('ResourceMonitor accepted');
        } catch (error) {
          assertNamesAKey(error, given, 'ResourceMonitor');
        }
      }),
      { numRuns: RUNS, seed: 4_004 },
    );
  });

  it('config files: only ConfigFileErrors, and every accepted file builds a monitor', async () => {
    const paths = [
      '', 'monitor', 'monitor.intervalMs', 'monitor.timeoutMs', 'monitor.staggerMs', 'monitor.maxConcurrent', 'breaker', 'breaker.failMax', 'breaker.resetTimeoutMs', 'breaker.halfOpenTimeoutMs',
      'resources', 'resources.threshold', 'resources.recoverBelow', 'resources.path', 'telemetry', 'telemetry.serviceName', 'telemetry.prometheusHost', 'telemetry.prometheusPort', 'telemetry.successSpanRatio',
      'targets', 'targets[0]', 'targets[0].name', 'targets[0].type', 'targets[0].url', 'targets[0].expectStatus', 'targets[0].bodyMatch', 'targets[0].intervalMs',
      'targets[0].timeoutMs', 'targets[0].breaker', 'targets[0].breaker.failMax', 'targets[0].breaker.resetTimeoutMs', 'targets[1].name', 'targets[1].host', 'targets[1].port',
    ];
    const jsonish = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -1, 0.5, 1, 1.5, 80, 65_535, 65_536, MAX_TIMER_MS, MAX_TIMER_MS + 1, 1e300, '', ' ', 'web', 'db', 'x'.repeat(257), '200-299', 'http://h/', 'tcp', 'http'),
      fc.double(),
      fc.integer(),
    );
    const mutated = fc.array(fc.tuple(fc.constantFrom(...paths), jsonish), { minLength: 1, maxLength: 3 }).chain((edits) =>
      fc.constantFrom('yaml', 'json').map((format) => {
        let config: unknown = BASE;
        for (const [path, value] of edits) {
          try {
            config = path === '' ? value : withValue(config, path, value);
          } catch {
            // The path no longer exists after an earlier edit: keep the config as it is.
          }
        }
        return format === 'yaml' ? stringify(config) : (JSON.stringify(config) ?? 'null');
      }),
    );
    const raw = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme-ascii', maxLength: 200 }));
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: mutated }, { weight: 1, arbitrary: raw }), async (text) => {
        count('parseConfig');
        let config: CommandConfig;
        try {
          config = parseConfig(text, 'gen.yaml');
        } catch (error) {
          assert.ok(error instanceof ConfigFileError, `not a ConfigFileError for ${JSON.stringify(text).slice(0, 300)}: ${String(error)}`);
          assert.ok(error.message.startsWith('gen.yaml: ') && !error.message.includes('\n'), error.message);
          return;
        }
        accepted += 1;
        count('parseConfig accepted');
        await buildLikeTheCommand(config);
      }),
      { numRuns: 1_000, seed: 4_006 },
    );
    assert.ok(accepted > 20, `${accepted} generated configs were accepted and built`);
  });

  // Last: startTelemetry() runs once per process, so the suite's own telemetry stops here.
  it('startTelemetry options (no server): only the package\'s own clear errors', async () => {
    await otel.shutdown();
    const known = ['serviceName', 'serviceVersion', 'prometheusHost', 'prometheusPort', 'otlpEndpoint', 'otlpProtocol', 'successSpanRatio', 'maxPlatforms', 'maxQueueSize', 'shutdownTimeoutMs', 'hostMetrics'];
    await fc.assert(
      fc.asyncProperty(options(known), async (given) => {
        count('startTelemetry');
        let telemetry;
        try {
          telemetry = await startTelemetry({ ...given, startServer: false } as never);
        } catch (error) {
          assertNamesAKey(error, given, 'startTelemetry');
          return;
        }
        count('startTelemetry accepted');
        await telemetry.shutdown();
      }),
      { numRuns: 150, seed: 4_005 },
    );
  });
});
