// Area 2: the collector down or hanging while the monitor runs flat out. Real
// timers and a real OTLP exporter (fake time cannot drive sockets); every wait is
// bounded, and the only time figures asserted are the documented bounds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import type { HealthCheckResult } from '../../src/monitor/report.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { freePort } from '../helpers/ports.ts';
import { startCollectorGate, type CollectorGate } from './fixtures/collector-gate.ts';
import { heapAfterGc, prng, watchProcess, type ProcessWatch } from './fixtures/util.ts';
import { settlesWithin, useFakeClock, useRealClock } from '../helpers/clock.ts';

const PLATFORMS = 200;
const INTERVAL_MS = 100;
const MAX_QUEUE = 256;
const SHUTDOWN_TIMEOUT_MS = 1_000;
const PHASE_MS = 4_000;
const MB = 1024 * 1024;

describe('the collector down, then hanging, then back', () => {
  let gate: CollectorGate;
  let receiver: OtlpReceiver;
  let telemetry: Telemetry;
  let monitor: HealthMonitor;
  let watch: ProcessWatch;
  const starts = new Map<string, number[]>();
  // Counters only: keeping every result would itself grow the heap being measured.
  let checkSpans = 0;
  let rejected = 0;
  let startedAt = 0;

  before(async () => {
    watch = watchProcess();
    gate = await startCollectorGate(await freePort(), 'closed');
    receiver = await startOtlpReceiver();
    telemetry = await startTelemetry({
      startServer: false,
      hostMetrics: false,
      otlpEndpoint: gate.url,
      otlpProtocol: 'http/json',
      logger: silentLogger,
      maxQueueSize: MAX_QUEUE,
      shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
    });
    monitor = new HealthMonitor({ intervalMs: INTERVAL_MS, timeoutMs: 50, resources: false, logger: silentLogger });
    const random = prng(1_206);
    for (let i = 0; i < PLATFORMS; i += 1) {
      const name = `c${i}`;
      const times: number[] = [];
      starts.set(name, times);
      // Every tenth platform is down, so breakers open and close and transition spans join the flood.
      monitor.register(name, async () => {
        times.push(Date.now());
        return i % 10 !== 0 || random() < 0.5;
      });
    }
    monitor.on('check', (r: HealthCheckResult) => {
      checkSpans += 1;
      if (r.status === 'rejected') rejected += 1;
    });
    startedAt = Date.now();
    monitor.start();
  });
  after(async () => {
    await monitor?.stop();
    await telemetry?.shutdown();
    await gate?.close();
    await receiver?.close();
    watch.stop();
  });

  const heap: Record<string, number> = {};

  it('runs or counts every slot of every platform, never in a burst, with the heap flat, while the collector port is closed, then while it hangs', async () => {
    await sleep(1_500);
    heap.warm = await heapAfterGc();
    await sleep(PHASE_MS);
    heap.down = await heapAfterGc();
    await gate.set('hang');
    await sleep(PHASE_MS);
    heap.hanging = await heapAfterGc();
    const elapsed = Date.now() - startedAt;
    assert.ok(gate.hungConnections > 0, 'the exporter did reach the hanging collector');

    const runs = [...starts.values()].reduce((sum, t) => sum + t.length, 0);
    const skipped = monitor.report().skippedChecks;
    const slots = PLATFORMS * (elapsed / INTERVAL_MS);
    console.log(`# collector: ${runs} checks run, ${rejected} rejected (${checkSpans} check spans) in ${elapsed} ms, ${skipped} skipped; heap after GC ${JSON.stringify(Object.fromEntries(Object.entries(heap).map(([k, v]) => [k, +(v / MB).toFixed(1)])))} MB`);
    // How many ran is the machine's speed (reported above); that every platform ran, and the accounting below, are the contract.
    for (const [name, times] of starts) assert.ok(times.length > 0, `${name} ran`);
    // Every slot is run, rejected by an open breaker or counted as skipped (±1 per platform: the slot at the edge of the window):
    // never more than there were slots, and — once a loaded event loop has caught up with the slots already due — none lost.
    assert.ok(runs + rejected + skipped <= slots + PLATFORMS * 2, `runs ${runs} + rejected ${rejected} + skipped ${skipped} vs ${Math.round(slots)} slots`);
    const accounted = () => [...starts.values()].reduce((sum, t) => sum + t.length, 0) + rejected + monitor.report().skippedChecks;
    for (let i = 0; i < 200 && accounted() < slots - PLATFORMS * 2; i += 1) await sleep(50);
    assert.ok(accounted() >= slots - PLATFORMS * 2, `${accounted()} slots accounted for of the ${Math.round(slots)} due`);
    // How many slots a loaded machine skips is its speed, printed above, not asserted; that each is counted is.
    // Never a burst: missed slots are skipped, never made up, so no platform ran more often than it had slots.
    // (The gap between two runs depends on how loaded the machine is; the fake-clock suite, faulty-checks.test.ts, bounds it.)
    for (const [name, times] of starts) {
      assert.ok(times.length <= Math.ceil(elapsed / INTERVAL_MS) + 1, `${name}: ${times.length} runs in ${elapsed} ms at a ${INTERVAL_MS} ms interval`);
    }
    // The BatchSpanProcessor drops past maxQueueSize: thousands of undeliverable spans cost no memory.
    assert.ok(heap.down! - heap.warm! < 8 * MB, `heap grew ${((heap.down! - heap.warm!) / MB).toFixed(1)} MB with the collector down`);
    assert.ok(heap.hanging! - heap.warm! < 8 * MB, `heap grew ${((heap.hanging! - heap.warm!) / MB).toFixed(1)} MB with the collector hanging`);
  });

  it('delivers new spans once the collector answers again, having kept at most a queue of old ones', async () => {
    const resumedNs = BigInt(Date.now()) * 1_000_000n;
    await gate.set('forward', Number(new URL(receiver.url).port));
    const spans = await receiver.waitForSpans((s) => s.some((span) => span.name === 'health_check' && BigInt(span.startTimeUnixNano) > resumedNs), 10_000);
    const old = spans.filter((span) => BigInt(span.startTimeUnixNano) <= resumedNs).length;
    console.log(`# collector: after resuming, ${old} spans from the outage and ${spans.length - old} new ones arrived`);
    // Of the ~16,000 spans made during the outage, only what the queue held could still be sent.
    assert.ok(old <= 2 * MAX_QUEUE, `${old} spans from the outage were delivered; the queue holds ${MAX_QUEUE}`);
    assert.ok(spans.some((span) => span.name === 'health_check' && span.attributes['health_check.platform'] === 'c1'));
  });

  it('shuts down within shutdownTimeoutMs with a full queue and a hanging collector, and nothing was printed', async () => {
    await gate.set('hang');
    await sleep(500);
    await monitor.stop();
    useFakeClock();
    try {
      assert.ok(await settlesWithin(telemetry.shutdown(), SHUTDOWN_TIMEOUT_MS, 50), `shutdown() resolved by its ${SHUTDOWN_TIMEOUT_MS} ms bound (fake clock)`);
    } finally {
      useRealClock();
    }
    assert.deepEqual(watch.unhandled, []);
    assert.deepEqual(watch.warnings, []);
  });
});

describe('shutdown with the collector port closed', () => {
  it('returns within shutdownTimeoutMs with spans still queued', async () => {
    const port = await freePort();
    const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, otlpEndpoint: `http://127.0.0.1:${port}`, logger: silentLogger, maxQueueSize: 64, shutdownTimeoutMs: 500 });
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger });
    for (let i = 0; i < 2_000; i += 1) await monitor.checkPlatformHealth(`closed-${i % 50}`, () => i % 7 !== 0);
    await monitor.stop();
    useFakeClock();
    try {
      assert.ok(await settlesWithin(telemetry.shutdown(), 500, 25), 'shutdown() resolved by its 500 ms bound (fake clock)');
    } finally {
      useRealClock();
    }
  });
});
