import { after, afterEach, before, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import type { HealthMonitorOptions } from '../../src/monitor/options.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { advance, useFakeClock, useRealClock } from './clock.ts';
import { setupOtel, type TestOtel } from './otel.ts';

/** What {@link monitorSuite} hands a test file. */
export interface MonitorSuite {
  /** Telemetry kept in memory (set once the suite's `before` hook ran). */
  readonly otel: TestOtel;
  /** A monitor without resource sampling, logging to `logger` (default silent); stopped after the test. */
  monitor(options?: HealthMonitorOptions): HealthMonitor;
}

/**
 * The hooks a test file of monitors needs: in-memory telemetry, the fake
 * clock starting at `now` around each test, every monitor stopped after it
 * (on the fake clock), and a failure when anything reached the process — an
 * unhandled rejection, an uncaught exception or a process warning.
 */
export function monitorSuite({ now = 0 }: { now?: number } = {}): MonitorSuite {
  let otel: TestOtel | undefined;
  let monitors: HealthMonitor[] = [];
  const escaped: unknown[] = [];
  const warnings: string[] = [];
  const onEscape = (reason: unknown) => void escaped.push(reason);
  const onWarning = (warning: Error) => void warnings.push(`${warning.name}: ${warning.message}`);
  before(async () => {
    otel = await setupOtel();
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);
    process.on('warning', onWarning);
  });
  after(async () => {
    process.off('unhandledRejection', onEscape);
    process.off('uncaughtException', onEscape);
    process.off('warning', onWarning);
    await otel?.shutdown();
  });
  beforeEach(() => useFakeClock(now));
  afterEach(async () => {
    // stop() waits (on the fake clock) for checks that ignore their signal.
    const stopping = Promise.all(monitors.map((m) => m.stop()));
    await advance(10_000, 1_000);
    await stopping;
    monitors = [];
    useRealClock();
    assert.deepEqual(escaped.splice(0), [], 'nothing reached the process');
    assert.deepEqual(warnings.splice(0), [], 'no process warning');
  });
  return {
    get otel() {
      if (!otel) throw new Error('monitorSuite: telemetry is set up in the before hook');
      return otel;
    },
    monitor(options = {}) {
      const m = new HealthMonitor({ resources: false, logger: silentLogger, tracer: this.otel.tracer, ...options });
      monitors.push(m);
      return m;
    },
  };
}

export { recordingLogger } from './logger.ts';
