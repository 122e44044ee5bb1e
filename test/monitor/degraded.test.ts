import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { ResourceMonitor } from '../../src/resources/resource-monitor.ts';
import type { ResourceReadings } from '../../src/resources/readings.ts';
import { advance, useFakeClock, useRealClock } from '../helpers/clock.ts';
import { find } from '../helpers/exposition.ts';
import { setupOtel, type TestOtel } from '../helpers/otel.ts';
import { recordingLogger } from '../helpers/logger.ts';

let otel: TestOtel;
before(async () => (otel = await setupOtel()));
after(() => otel.shutdown());


describe('degraded mode in the health monitor', () => {
  let readings: ResourceReadings;
  let monitor: HealthMonitor;
  let resources: ResourceMonitor;
  let logger: ReturnType<typeof recordingLogger>;
  const starts = new Map<string, number[]>();

  beforeEach(() => {
    useFakeClock();
    readings = { memory: 0.5, cpu: 0.1, disk: 0.2 };
    logger = recordingLogger();
    starts.clear();
  });
  afterEach(async () => {
    // The resource monitor is the test's: the health monitor does not stop it.
    const stopping = Promise.all([monitor.stop(), resources.stop()]);
    await advance(6_000, 1_000);
    await stopping;
    useRealClock();
  });

  function build(options: { maxConcurrent?: number; staggerMs?: number } = {}): HealthMonitor {
    resources = new ResourceMonitor({ sampler: () => readings, intervalMs: 5_000, logger });
    monitor = new HealthMonitor({ resources, logger, tracer: otel.tracer, ...options });
    return monitor;
  }

  function register(name: string, durationMs = 0): void {
    starts.set(name, []);
    monitor.register(name, () => {
      starts.get(name)!.push(Date.now());
      return durationMs === 0 ? true : new Promise<boolean>((resolve) => setTimeout(() => resolve(true), durationMs));
    });
  }

  it('doubles the interval while a resource is at or above 80 %, keeps the stagger, and restores it on recovery', async () => {
    build();
    register('a');
    register('b');
    readings = { memory: 0.85, cpu: 0.1, disk: 0.2 };
    monitor.start();
    await advance(40_000, 500);
    assert.equal(monitor.report().status, 'degraded');
    assert.match(monitor.report().reasons.join(), /degraded mode: memory at 85 % \(threshold 80 %\)/);
    // Degraded from the first sample: every 10 s, b half an interval after a.
    assert.deepEqual(starts.get('a'), [0, 10_000, 20_000, 30_000, 40_000]);
    assert.deepEqual(starts.get('b'), [5_000, 15_000, 25_000, 35_000]);

    readings = { memory: 0.5, cpu: 0.1, disk: 0.2 };
    starts.get('a')!.length = 0;
    starts.get('b')!.length = 0;
    await advance(40_000, 500);
    // Samples at 45 s and 50 s are both below 0.75: recovered at 50 s, back to every 5 s.
    assert.equal(monitor.report().status, 'healthy');
    const a = starts.get('a')!;
    const gaps = a.slice(1).map((t, i) => t - a[i]!);
    assert.deepEqual(gaps.slice(-4), [5_000, 5_000, 5_000, 5_000]);
    const b = starts.get('b')!;
    assert.equal(b.at(-1)! - a.at(-2)!, 2_500, 'b runs half an interval after a again');
  });

  it('halves the concurrency cap while degraded and restores it after', async () => {
    build({ maxConcurrent: 4, staggerMs: 0 });
    for (const name of ['a', 'b', 'c', 'd']) register(name, 1_000);
    monitor.start();
    await advance(100, 100);
    const runningAt = (t: number) => [...starts.values()].filter((s) => s.some((x) => x <= t && x + 1_000 > t)).length;
    assert.equal(runningAt(0), 4, 'all four start at once under the normal cap');
    readings = { memory: 0.1, cpu: 0.95, disk: 0.2 };
    await advance(4_900, 100); // the sample at 5 s enters degraded mode; the next slots come at 10 s
    assert.equal(monitor.report().status, 'degraded');
    await advance(5_000, 100);
    assert.equal(runningAt(10_000), 2, 'two of four start while degraded (cap 4 × 0.5)');
    await advance(1_000, 100);
    assert.equal(runningAt(11_000), 2, 'the other two start when the first two finish');

    readings = { memory: 0.1, cpu: 0.1, disk: 0.2 };
    await advance(30_000, 100);
    assert.equal(monitor.report().status, 'healthy');
    const last = Math.max(...[...starts.values()].map((s) => s.at(-1)!));
    assert.equal(runningAt(last), 4, 'all four run at once after recovery');
  });

  it('logs one warning on entry and one info on exit, with span events and the gauge', async () => {
    build();
    register('a');
    readings = { memory: 0.2, cpu: 0.2, disk: 0.92 };
    const spansBefore = otel.spans().length;
    monitor.start();
    await advance(5_000, 500);
    const degradedGauge = async () => find(await otel.scrape(), 'health_monitor_degraded')[0]?.value;
    assert.equal(await degradedGauge(), '1');
    readings = { memory: 0.2, cpu: 0.2, disk: 0.5 };
    await advance(10_000, 500);
    assert.equal(await degradedGauge(), '0');

    const entries = logger.entries.filter((l) => /degraded mode/.test(l.msg ?? ''));
    assert.deepEqual(entries.map((l) => l.level), ['warn', 'info']);
    const events = otel.spans().slice(spansBefore).flatMap((s) => s.events);
    const entered = events.find((e) => e.name === 'health_monitor.degraded');
    assert.equal(entered?.attributes?.['health_monitor.resource'], 'disk');
    assert.equal(entered?.attributes?.['health_monitor.reading'], 0.92);
    const recovered = events.find((e) => e.name === 'health_monitor.recovered');
    assert.equal(recovered?.attributes?.['health_monitor.reading.disk'], 0.5);
  });
});

