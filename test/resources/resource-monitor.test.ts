import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { countLiveTimers } from '../helpers/clock.ts';
import { recordingLogger } from '../helpers/logger.ts';
import { parseCfsQuota, parseCgroupMemory, parseCpuMax, parseMeminfo, parseProcCgroup, readCgroup } from '../../src/resources/cgroup.ts';
import type { ResourceMonitorOptions } from '../../src/resources/options.ts';
import type { DegradedChange, ResourceReadings } from '../../src/resources/readings.ts';
import { ResourceMonitor } from '../../src/resources/resource-monitor.ts';
import { createSystemSampler } from '../../src/resources/system-sampler.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/cgroup/', import.meta.url));
const fixture = (path: string): string => readFileSync(FIXTURES + path, 'utf8');
const MiB = 1024 * 1024;


class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** A monitor fed from a queue of readings, with its changes and logs captured. */
function scripted(options: ResourceMonitorOptions = {}) {
  const queue: unknown[] = [];
  const changes: DegradedChange[] = [];
  const logger = recordingLogger();
  const sampler = mock.fn((): ResourceReadings => {
    const next = queue.shift();
    if (next instanceof Error) throw next;
    return next as ResourceReadings;
  });
  const monitor = new ResourceMonitor({ sampler, logger, meter: new MeterProvider().getMeter('t'), ...options });
  monitor.on('change', (change) => changes.push(change));
  const feed = async (...readings: unknown[]): Promise<void> => {
    for (const r of readings) {
      queue.push(r);
      await monitor.sample();
    }
  };
  return { monitor, changes, logger, sampler, feed };
}

// setImmediate is not faked, so this lets pending promise callbacks run without waiting on a clock.
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('degraded mode with an injected sampler', () => {
  it('enters degraded mode when a resource reaches its threshold and names that resource', async () => {
    const { monitor, changes, feed } = scripted();
    await feed({ memory: 0.5, cpu: 0.79, disk: 0.1 });
    assert.equal(monitor.isDegraded(), false);
    await feed({ cpu: 0.8 });
    assert.equal(monitor.isDegraded(), true);
    assert.deepEqual(monitor.reason(), { resource: 'cpu', value: 0.8, threshold: 0.8 });
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.degraded, true);
    assert.deepEqual(changes[0]?.readings, { memory: 0.5, cpu: 0.8, disk: 0.1 });
    assert.equal(typeof changes[0]?.at, 'number');
  });

  it('flips at most once while a reading oscillates between 0.79 and 0.81', async () => {
    const { monitor, changes, feed } = scripted();
    for (let i = 0; i < 20; i++) await feed({ memory: i % 2 === 0 ? 0.79 : 0.81 });
    assert.equal(changes.length, 1);
    assert.equal(monitor.isDegraded(), true);
  });

  it('leaves degraded mode only after two consecutive samples below 0.75', async () => {
    const { monitor, changes, feed } = scripted();
    await feed({ memory: 0.9 }, { memory: 0.7 }, { memory: 0.76 }, { memory: 0.7 });
    assert.equal(monitor.isDegraded(), true, 'a sample between the levels restarts the count');
    await feed({ memory: 0.74 });
    assert.equal(monitor.isDegraded(), false);
    assert.equal(monitor.reason(), undefined);
    assert.deepEqual(changes.map((c) => c.degraded), [true, false]);
    assert.deepEqual(changes[1], { degraded: false, reason: undefined, readings: { memory: 0.74 }, at: changes[1]?.at });
  });

  it('honours recoverSamples', async () => {
    const { monitor, feed } = scripted({ recoverSamples: 3 });
    await feed({ disk: 0.95 }, { disk: 0.1 }, { disk: 0.1 });
    assert.equal(monitor.isDegraded(), true);
    await feed({ disk: 0.1 });
    assert.equal(monitor.isDegraded(), false);
  });

  it('applies per-resource thresholds and recovery levels', async () => {
    const { monitor, feed } = scripted({ thresholds: { disk: 0.95 }, recoverBelow: { disk: 0.9 } });
    await feed({ disk: 0.94, memory: 0.1, cpu: 0.1 });
    assert.equal(monitor.isDegraded(), false, 'disk is judged against its own 0.95');
    await feed({ disk: 0.95 });
    assert.deepEqual(monitor.reason(), { resource: 'disk', value: 0.95, threshold: 0.95 });
    await feed({ disk: 0.89 }, { disk: 0.89 });
    assert.equal(monitor.isDegraded(), false, 'disk recovers below its own 0.9, not 0.75');
  });

  it('derives a lower default recovery level when the threshold is at or below 0.75', async () => {
    const { monitor, feed } = scripted({ threshold: 0.5 });
    await feed({ cpu: 0.5 }, { cpu: 0.46 }, { cpu: 0.46 });
    assert.equal(monitor.isDegraded(), true, '0.46 is not below 0.45');
    await feed({ cpu: 0.44 }, { cpu: 0.44 });
    assert.equal(monitor.isDegraded(), false);
  });

  it('names the resource furthest over its threshold as the reason', async () => {
    const { monitor, feed } = scripted({ thresholds: { memory: 0.5 } });
    await feed({ memory: 0.7, cpu: 0.9, disk: 0.85 });
    assert.deepEqual(monitor.reason(), { resource: 'memory', value: 0.7, threshold: 0.5 });
  });

  it('holds recovery back while a resource missing from recent samples was last seen high', async () => {
    const { monitor, feed } = scripted();
    await feed({ memory: 0.9, cpu: 0.1 }, { cpu: 0.1 }, { cpu: 0.1 });
    assert.equal(monitor.isDegraded(), true);
    assert.deepEqual(monitor.lastReadings(), { memory: 0.9, cpu: 0.1 });
  });

  it('stops calling a listener once it unsubscribes, and survives a listener that throws', async () => {
    const { monitor, feed, logger } = scripted();
    const seen: boolean[] = [];
    monitor.on('change', () => { throw new Error('listener bug'); });
    const off = monitor.on('change', (c) => seen.push(c.degraded));
    await feed({ cpu: 0.9 });
    off();
    await feed({ cpu: 0.1 }, { cpu: 0.1 });
    assert.deepEqual(seen, [true]);
    assert.equal(monitor.isDegraded(), false);
    assert.ok(logger.entries.some((e) => e.level === 'error' && /listener threw/.test(e.msg ?? '')));
  });
});

describe('a sampler that fails or returns nonsense', () => {
  const bad: [string, unknown][] = [
    ['throws', new Error('boom')],
    ['returns NaN', { memory: NaN }],
    ['returns a negative ratio', { cpu: -0.1 }],
    ['returns a ratio above 1', { disk: 1.5 }],
    ['returns a string', { memory: '0.9' }],
    ['returns an unknown resource', { gpu: 0.99 }],
    ['returns a non-object', 0.9],
    ['returns a string instead of readings', 'memory=0.9'],
    ['returns null', null],
  ];
  for (const [what, value] of bad) {
    it(`changes nothing and logs a warning when it ${what}`, async () => {
      const { monitor, changes, logger, feed } = scripted();
      await feed({ memory: 0.9, cpu: 0.1, disk: 0.1 }, { memory: 0.1 });
      const warnings = logger.entries.filter((e) => e.level === 'warn').length;
      await feed(value, value, value);
      assert.equal(monitor.isDegraded(), true);
      assert.deepEqual(monitor.lastReadings(), { memory: 0.1, cpu: 0.1, disk: 0.1 });
      assert.equal(changes.length, 1);
      assert.ok(logger.entries.filter((e) => e.level === 'warn').length >= warnings + 3);
    });
  }

  it('does not reject out of sample() when the sampler rejects', async () => {
    const logger = recordingLogger();
    const monitor = new ResourceMonitor({ sampler: () => Promise.reject(new Error('nope')), logger, meter: new MeterProvider().getMeter('t') });
    assert.deepEqual(await monitor.sample(), {});
    assert.equal(logger.entries[0]?.level, 'warn');
    assert.equal((logger.entries[0]?.obj as { err: Error }).err.message, 'nope');
  });

  it('keeps the valid readings of a sample that also holds invalid ones', async () => {
    const { monitor, logger, feed } = scripted();
    await feed({ memory: 0.85, cpu: NaN, disk: 'full' });
    assert.equal(monitor.isDegraded(), true);
    assert.deepEqual(monitor.lastReadings(), { memory: 0.85 });
    const invalid = logger.entries.filter((e) => /invalid resource reading/.test(e.msg ?? ''));
    assert.deepEqual(invalid.map((e) => e.obj), [{ resource: 'cpu', value: 'NaN' }, { resource: 'disk', value: '"full"' }]);
  });
});

describe('metrics', () => {
  it('records system_resources per resource and health_monitor_degraded on start and every change', async () => {
    const reader = new TestReader();
    const meter = new MeterProvider({ readers: [reader] }).getMeter('test');
    const queue: ResourceReadings[] = [{ memory: 0.42, cpu: 0.9, disk: 0.1 }, { cpu: 0.1 }, { cpu: 0.2 }];
    const monitor = new ResourceMonitor({ sampler: () => queue.shift() ?? {}, meter, logger: recordingLogger() });
    const collect = async () => {
      const { resourceMetrics } = await reader.collect();
      const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const points = (name: string) => all.find((m) => m.descriptor.name === name)?.dataPoints ?? [];
      return {
        resources: Object.fromEntries(points('system_resources').map((p) => [p.attributes.resource, p.value])),
        degraded: points('health_monitor_degraded').map((p) => p.value),
      };
    };
    monitor.start();
    monitor.stop();
    await monitor.sample();
    assert.deepEqual(await collect(), { resources: { memory: 0.42, cpu: 0.9, disk: 0.1 }, degraded: [1] });
    await monitor.sample();
    assert.deepEqual((await collect()).degraded, [1]);
    await monitor.sample();
    assert.deepEqual(await collect(), { resources: { memory: 0.42, cpu: 0.2, disk: 0.1 }, degraded: [0] });
  });

  it('writes 0 to health_monitor_degraded when started healthy', async () => {
    const reader = new TestReader();
    const meter = new MeterProvider({ readers: [reader] }).getMeter('test');
    const monitor = new ResourceMonitor({ sampler: () => new Promise(() => {}), meter, logger: recordingLogger() });
    monitor.start();
    monitor.stop();
    const { resourceMetrics } = await reader.collect();
    const degraded = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'health_monitor_degraded');
    assert.deepEqual(degraded?.dataPoints.map((p) => p.value), [0]);
  });
});

describe('options', () => {
  const meter = new MeterProvider().getMeter('t');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ intervall: 5 }, /unknown resource monitor option "intervall"/],
    [{ intervalMs: 0 }, /"intervalMs".*got 0/],
    [{ intervalMs: 1.5 }, /"intervalMs".*got 1\.5/],
    [{ threshold: 0 }, /"threshold".*got 0/],
    [{ threshold: 1.2 }, /"threshold".*got 1\.2/],
    [{ thresholds: { cpu: 'high' } }, /"thresholds\.cpu".*got "high"/],
    [{ thresholds: { gpu: 0.5 } }, /unknown thresholds option "gpu"/],
    [{ recoverBelow: 0.8 }, /"recoverBelow" must be below the memory threshold 0\.8, got 0\.8/],
    [{ recoverBelow: { disk: -1 } }, /"recoverBelow\.disk".*got -1/],
    [{ recoverBelow: 'low' }, /"recoverBelow".*got "low"/],
    [{ recoverSamples: 0 }, /"recoverSamples".*got 0/],
    [{ path: '' }, /"path".*got ""/],
    [{ sampler: 'host' }, /"sampler".*got "host"/],
    [{ logger: console.log }, /"logger".*got a function/],
  ];
  for (const [options, message] of cases) {
    it(`rejects ${JSON.stringify(options, (_k, v: unknown) => (typeof v === 'function' ? 'a function' : v))} naming the option and the value`, () => {
      assert.throws(() => new ResourceMonitor({ meter, logger: recordingLogger(), ...options } as ResourceMonitorOptions), message);
    });
  }

  it('declares createSystemSampler() options once too: a typo names the option it meant, a bad value names the option', () => {
    assert.throws(() => createSystemSampler({ pth: '/' } as never), { code: 'EUNKNOWNOPTION', message: 'conductor-health: unknown system sampler option "pth"; did you mean "path"?' });
    assert.throws(() => createSystemSampler({ path: 5 } as never), { name: 'TypeError', message: 'conductor-health: option "path" must be a non-empty string, got 5' });
  });

  it('accepts a threshold of exactly 1 with a recovery level of 0', () => {
    assert.doesNotThrow(() => new ResourceMonitor({ meter, logger: recordingLogger(), threshold: 1, recoverBelow: 0, sampler: () => ({}) }));
  });
});

describe('cgroup and /proc parsing', () => {
  it('reads MemTotal and MemAvailable in bytes from /proc/meminfo', () => {
    assert.deepEqual(parseMeminfo(fixture('v2/proc/meminfo')), { total: 8 * 1024 * MiB, available: 6 * 1024 * MiB });
  });

  it('reports no MemAvailable for a kernel that predates it, and nothing for garbage', () => {
    assert.deepEqual(parseMeminfo(fixture('v1/proc/meminfo')), { total: 4 * 1024 * MiB, available: undefined });
    assert.equal(parseMeminfo('not meminfo'), undefined);
  });

  it('subtracts inactive file cache from cgroup v2 memory usage', () => {
    const dir = 'v2/sys/fs/cgroup/';
    assert.deepEqual(
      parseCgroupMemory({ limit: fixture(`${dir}memory.max`), usage: fixture(`${dir}memory.current`), stat: fixture(`${dir}memory.stat`) }),
      { limit: 512 * MiB, used: 256 * MiB },
    );
  });

  it('uses the hierarchical total_inactive_file for cgroup v1', () => {
    const dir = 'v1/sys/fs/cgroup/memory/docker/abc123/';
    assert.deepEqual(
      parseCgroupMemory({ limit: fixture(`${dir}memory.limit_in_bytes`), usage: fixture(`${dir}memory.usage_in_bytes`), stat: fixture(`${dir}memory.stat`) }),
      { limit: 1024 * MiB, used: 512 * MiB },
    );
  });

  it('treats "max" and the v1 near-2^63 sentinel as no limit', () => {
    assert.deepEqual(parseCgroupMemory({ limit: 'max\n', usage: '100' }), { limit: undefined, used: 100 });
    assert.deepEqual(parseCgroupMemory({ limit: '9223372036854771712', usage: '100' }), { limit: undefined, used: 100 });
    assert.equal(parseCgroupMemory({ limit: 'max', usage: '' }), undefined);
  });

  it('turns cpu.max and the v1 CFS quota into cores, with no quota as undefined', () => {
    assert.equal(parseCpuMax(fixture('v2/sys/fs/cgroup/cpu.max')), 1.5);
    assert.equal(parseCpuMax(fixture('v2-max/sys/fs/cgroup/cpu.max')), undefined);
    assert.equal(parseCfsQuota(fixture('v1/sys/fs/cgroup/cpu/cpu.cfs_quota_us'), fixture('v1/sys/fs/cgroup/cpu/cpu.cfs_period_us')), 0.5);
    assert.equal(parseCfsQuota('-1', '100000'), undefined);
  });

  it('maps each controller of /proc/self/cgroup to its path', () => {
    const paths = parseProcCgroup(fixture('v1/proc/self/cgroup'));
    assert.equal(paths.get('memory'), '/docker/abc123');
    assert.equal(paths.get('cpuacct'), '/docker/abc123');
    assert.equal(paths.get('systemd'), '/docker/abc123');
    assert.equal(parseProcCgroup('0::/\n').get(''), '/');
  });

  it('reads a cgroup v2 tree with limits', async () => {
    assert.deepEqual(await readCgroup(FIXTURES + 'v2'), {
      version: 2, memory: { limit: 512 * MiB, used: 256 * MiB }, cpuQuotaCores: 1.5, cpuUsageUs: 123456789,
    });
  });

  it('reads a cgroup v2 tree without limits', async () => {
    assert.deepEqual(await readCgroup(FIXTURES + 'v2-max'), {
      version: 2, memory: { limit: undefined, used: 256 * MiB }, cpuQuotaCores: undefined, cpuUsageUs: 123456789,
    });
  });

  it('reads a cgroup v1 tree, following the process path and falling back to the mount point', async () => {
    assert.deepEqual(await readCgroup(FIXTURES + 'v1'), {
      version: 1, memory: { limit: 1024 * MiB, used: 512 * MiB }, cpuQuotaCores: 0.5, cpuUsageUs: 5_000_000,
    });
  });

  it('finds no cgroup under a root that has none', async () => {
    assert.deepEqual(await readCgroup(FIXTURES + 'missing'), { version: undefined, memory: undefined, cpuQuotaCores: undefined, cpuUsageUs: undefined });
  });

  it('measures memory against the container limit when set and against the host otherwise', async () => {
    assert.equal((await createSystemSampler({ cgroupRoot: FIXTURES + 'v2' })()).memory, 0.5);
    assert.equal((await createSystemSampler({ cgroupRoot: FIXTURES + 'v1' })()).memory, 0.5);
    assert.equal((await createSystemSampler({ cgroupRoot: FIXTURES + 'v2-max' })()).memory, 0.75);
  });
});

describe('the real sampler on this machine', () => {
  it('returns memory, cpu and disk ratios within [0, 1]', async () => {
    const sampler = createSystemSampler();
    let readings = await sampler();
    // CPU time is accounted in kernel ticks; repeat until at least one has passed since creation.
    for (let i = 0; i < 10_000 && readings.cpu === undefined; i++) readings = await sampler();
    assert.deepEqual(Object.keys(readings).sort(), ['cpu', 'disk', 'memory']);
    for (const value of Object.values(readings)) assert.ok(value >= 0 && value <= 1, `${value} is a ratio`);
  });

  it('leaves disk out and logs when the path cannot be read', async () => {
    const logger = recordingLogger();
    const readings = await createSystemSampler({ path: FIXTURES + 'does-not-exist', logger })();
    assert.equal(readings.disk, undefined);
    assert.equal(typeof readings.memory, 'number');
    assert.equal(logger.entries[0]?.level, 'debug');
  });

  it('is what a monitor without a sampler uses', async () => {
    const monitor = new ResourceMonitor({ meter: new MeterProvider().getMeter('t'), logger: recordingLogger() });
    const readings = await monitor.sample();
    assert.ok(readings.memory !== undefined && readings.disk !== undefined);
  });
});

describe('start and stop', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] }));
  afterEach(() => mock.timers.reset());

  it('samples at once, then every intervalMs, and stop leaves no timer behind', async () => {
    // Restored before afterEach puts the real timers back, or the fake ones would stay installed.
    const timers = countLiveTimers();
    try {
      const { monitor, sampler } = scripted({ intervalMs: 1_000 });
      const always = mock.fn(() => ({ memory: 0.1 }));
      sampler.mock.mockImplementation(always);
      monitor.start();
      monitor.start();
      assert.equal(sampler.mock.callCount(), 1);
      for (let i = 0; i < 3; i++) {
        await settle();
        mock.timers.tick(1_000);
      }
      assert.equal(sampler.mock.callCount(), 4);
      assert.ok(timers.live() > 0, 'a sampling timer runs while started');
      monitor.stop();
      assert.equal(timers.live(), 0, 'stop() cleared every timer it set');
      mock.timers.tick(1_000_000);
      await settle();
      assert.equal(sampler.mock.callCount(), 4);
    } finally {
      timers.restore();
    }
  });

  it('never overlaps samples: a tick or call during a slow sample joins it', async () => {
    let finish: (r: ResourceReadings) => void = () => {};
    const { monitor, sampler } = scripted({ intervalMs: 100 });
    sampler.mock.mockImplementation(() => new Promise<ResourceReadings>((resolve) => { finish = resolve; }) as never);
    monitor.start();
    const joined = monitor.sample();
    mock.timers.tick(500);
    assert.equal(sampler.mock.callCount(), 1);
    finish({ cpu: 0.3 });
    assert.deepEqual(await joined, { cpu: 0.3 });
    mock.timers.tick(100);
    assert.equal(sampler.mock.callCount(), 2);
    monitor.stop();
  });

  it('stamps each change with the current time', async () => {
    mock.timers.setTime(1_700_000_000_000);
    const { changes, feed } = scripted();
    await feed({ memory: 0.99 });
    assert.equal(changes[0]?.at, 1_700_000_000_000);
  });
});
