// Area 6: stop() under full load. On the fake clock: the bound, no timer and no
// log line left behind, nothing counted after. In a child process on real time:
// the process that ran the monitor ends by itself, and logs nothing after stop().
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runNode } from '../helpers/child.ts';
import { fileURLToPath } from 'node:url';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import type { HealthCheck } from '../../src/monitor/check-run.ts';
import type { Logger } from '../../src/common/logger.ts';
import { ResourceMonitor } from '../../src/resources/resource-monitor.ts';
import type { ResourceReadings } from '../../src/resources/readings.ts';
import { advance, countLiveTimers, settle, useFakeClock, useRealClock } from '../helpers/clock.ts';
import { setupOtel, type TestOtel } from '../helpers/otel.ts';
import { watchProcess, type ProcessWatch } from './fixtures/util.ts';

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

/** A logger that keeps every line with the fake time it was written at. */
function recordingLogger(): Logger & { lines: Array<{ level: string; msg: string | undefined; at: number }> } {
  const lines: Array<{ level: string; msg: string | undefined; at: number }> = [];
  const at = (level: string) => (_: object, msg?: string) => void lines.push({ level, msg, at: Date.now() });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('stop() under full load, on the fake clock', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => useRealClock());

  it('resolves at its bound with 1,000 checks in flight, leaves no timer, and nothing runs, counts or logs afterwards', async () => {
    const timers = countLiveTimers();
    try {
      const logger = recordingLogger();
      const STOP_TIMEOUT = 2_000;
      const m = new HealthMonitor({ intervalMs: 1_000, timeoutMs: 5_000, stopTimeoutMs: STOP_TIMEOUT, maxConcurrent: 1_000, resources: false, logger, tracer: otel.tracer });
      let calls = 0;
      let lateSettled = 0;
      const kinds: HealthCheck[] = [
        () => new Promise(() => {}),
        (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        // Ignores its signal and settles 3 s later: after stop() has given up on it.
        () => new Promise((resolve) => setTimeout(() => { lateSettled += 1; resolve(false); }, 3_000)),
        () => false,
      ];
      for (let i = 0; i < 1_000; i += 1) {
        const kind = kinds[i % kinds.length]!;
        m.register(`full-${i}`, (signal) => {
          calls += 1;
          return kind(signal);
        });
      }
      m.start();
      await advance(1_000, 10);
      assert.equal(calls, 1_000, 'every platform has been called');
      assert.ok(timers.live() >= 750, `${timers.live()} timers while 750 checks run`);

      const stoppedAt = Date.now();
      let resolvedAt: number | undefined;
      const stopping = m.stop().then(() => void (resolvedAt = Date.now()));
      await advance(STOP_TIMEOUT - 10, 10);
      assert.equal(resolvedAt, undefined, 'waits for checks that ignore their signal');
      await advance(10, 10);
      await stopping;
      assert.ok(resolvedAt !== undefined && resolvedAt - stoppedAt <= STOP_TIMEOUT, `resolved after ${resolvedAt! - stoppedAt} ms with a ${STOP_TIMEOUT} ms bound`);
      const linesAtStop = logger.lines.length;
      const callsAtStop = calls;
      const scrapeAtStop = (await otel.scrape()).samples.filter((s) => s.labels.platform?.startsWith('full-')).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).sort();
      const states = scrapeAtStop.filter((line) => line.startsWith('circuit_breaker_state'));
      assert.equal(states.length, 3_000);
      assert.ok(states.every((line) => line.endsWith(' 0')), 'stop() shut every breaker down: no state reads 1, so no alert keeps firing');

      // The checks' own timers (the late ones) are all that is left; they fire and nothing follows.
      await advance(3_600_000, 60_000);
      assert.equal(lateSettled, 250, 'the late checks did settle, after stop');
      assert.equal(timers.live(), 0, 'no timer is left: not the schedule, not a timeout, not a breaker');
      assert.equal(calls, callsAtStop, 'no check ran after stop()');
      assert.deepEqual(logger.lines.slice(linesAtStop), [], 'nothing was logged after stop()');
      assert.equal(m.report().running, false);
      const scrapeAfter = (await otel.scrape()).samples.filter((s) => s.labels.platform?.startsWith('full-')).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).sort();
      assert.deepEqual(scrapeAfter, scrapeAtStop, 'checks cut off or settling after stop() changed no metric');
    } finally {
      timers.restore();
    }
  });

  it('logs nothing after stop() even when a resource sample that was running flips degraded mode', async () => {
    const logger = recordingLogger();
    let finishSample: (readings: ResourceReadings) => void = () => {};
    const resources = new ResourceMonitor({ intervalMs: 1_000, logger, sampler: () => new Promise<ResourceReadings>((resolve) => (finishSample = resolve)) });
    const m = new HealthMonitor({ intervalMs: 1_000, resources, logger, tracer: otel.tracer });
    m.register('sampled', () => true);
    m.start();
    await advance(500, 100);
    // The first sample is still running when stop() is called; it ends above the threshold 100 ms later.
    let linesAtStop: number | undefined;
    // The resource monitor is the caller's: the caller stops it with the health monitor.
    const stopping = Promise.all([m.stop(), resources.stop()]).then(() => void (linesAtStop = logger.lines.length));
    await advance(100, 100);
    finishSample({ memory: 0.99 });
    await settle();
    await advance(5_000, 100);
    await stopping;
    assert.ok(linesAtStop !== undefined);
    await advance(60_000, 1_000);
    assert.deepEqual(logger.lines.slice(linesAtStop), [], 'nothing was logged after stop() resolved');
  });
});

describe('a process that ran the monitor under full load', () => {
  // The bounds of stop() and shutdown() are proven on the fake clock above and in
  // the telemetry tests; here, real time only reports them.
  it('stops, logs nothing after stop(), shuts telemetry down, and exits by itself', async () => {
    const { code, stdout, stderr, exitedByItself } = await runNode(fileURLToPath(new URL('./fixtures/stop-under-load.ts', import.meta.url)), {
      env: { LOG_LEVEL: 'debug' },
    });
    assert.ok(exitedByItself, 'the process exits by itself');
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '', 'nothing on stderr: no warning, no unhandled rejection');
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const stopIndex = lines.findIndex((l) => l.marker === 'stopped');
    assert.ok(stopIndex > 0, 'the monitor logged while it ran');
    const stopped = lines[stopIndex] as { stopMs: number; stopTimeoutMs: number; platforms: number };
    console.log(`# stop: ${JSON.stringify(stopped)}; ${JSON.stringify(lines.at(-1))}; ${stopIndex} log lines before stop`);
    assert.equal(stopped.platforms, 1_000);
    assert.deepEqual(lines.slice(stopIndex + 1).map((l) => l.marker ?? l.msg), ['shut down'], 'nothing was logged after stop()');
    assert.equal(typeof (lines.at(-1) as { shutdownMs?: unknown }).shutdownMs, 'number', 'telemetry shut down');
  });
});
