import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlatformCircuitBreaker } from '../../src/breaker/circuit-breaker.ts';
import type { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { advance, stepWallClock } from '../helpers/clock.ts';
import { monitorSuite } from '../helpers/monitor-suite.ts';

const HOUR = 3_600_000;
const START = 1_750_000_000_000;
const suite = monitorSuite({ now: START });

/** A running monitor of two platforms checked every second; returns the start times (wall clock) of each one's checks. */
function twoPlatforms(): { monitor: HealthMonitor; starts: Record<string, number[]> } {
  const monitor = suite.monitor({ intervalMs: 1_000 });
  const starts: Record<string, number[]> = { a: [], b: [] };
  for (const name of ['a', 'b']) {
    monitor.register(name, () => {
      starts[name]!.push(Date.now());
      return true;
    });
  }
  monitor.start();
  return { monitor, starts };
}

describe('a wall clock that steps', () => {
  it('keeps checking every platform every second when the wall clock steps back an hour', async () => {
    const { monitor, starts } = twoPlatforms();
    await advance(3_000, 100);
    assert.deepEqual([starts.a!.length, starts.b!.length], [4, 3], 'a at 0, 1, 2, 3 s; b half a second later');
    stepWallClock(-HOUR);
    await advance(3_000, 100);
    assert.equal(starts.a!.length, 7, 'a: three more checks in the three seconds after the step');
    assert.equal(starts.b!.length, 6, 'b: three more checks in the three seconds after the step');
    assert.equal(monitor.report().skippedChecks, 0);
    // Reported times are wall time, step included.
    assert.equal(starts.a!.at(-1), START - HOUR + 6_000);
    assert.equal(monitor.report().platforms[0]!.lastCheckAt, START - HOUR + 6_000);
  });

  it('records no skipped checks and runs no extra ones when the wall clock steps forward an hour', async () => {
    const { monitor, starts } = twoPlatforms();
    await advance(3_000, 100);
    stepWallClock(HOUR);
    await advance(3_000, 100);
    assert.equal(monitor.report().skippedChecks, 0);
    assert.equal(starts.a!.length, 7);
    assert.equal(starts.b!.length, 6);
  });

  it("keeps an open breaker open for its full reset timeout whichever way the wall clock steps", async () => {
    const breaker = new PlatformCircuitBreaker('stepped', { failMax: 1, resetTimeoutMs: 30_000, logger: silentLogger });
    try {
      breaker.recordFailure(new Error('down'));
      assert.equal(breaker.getState().state, 'OPEN');
      stepWallClock(HOUR);
      assert.equal(breaker.getState().state, 'OPEN', 'a step forward does not end the reset timeout');
      assert.equal(breaker.getState().nextAttemptAt, Date.now() + 30_000, 'the next trial is 30 s away, in the wall time of now');
      stepWallClock(-2 * HOUR);
      await advance(30_000, 1_000);
      assert.equal(breaker.getState().state, 'HALF_OPEN', 'a step back does not stretch it');
      assert.equal(breaker.getState().nextAttemptAt, Date.now(), 'half-open: the trial may go now, not at a time in the past');
    } finally {
      breaker.shutdown();
    }
  });

  it('keeps a half-open trial for its full lease whichever way the wall clock steps', async () => {
    const breaker = new PlatformCircuitBreaker('leased', { failMax: 1, resetTimeoutMs: 1_000, halfOpenTimeoutMs: 5_000, logger: silentLogger });
    try {
      breaker.recordFailure(new Error('down'));
      await advance(1_000);
      const trial = breaker.tryAcquire();
      assert.equal(trial?.state, 'HALF_OPEN');
      stepWallClock(HOUR);
      assert.equal(breaker.getState().state, 'HALF_OPEN', 'a step forward does not end the lease');
      stepWallClock(-2 * HOUR);
      await advance(4_999, 1_000);
      assert.equal(breaker.getState().state, 'HALF_OPEN');
      await advance(1);
      assert.equal(breaker.getState().state, 'OPEN', 'a step back does not stretch it');
      assert.equal(trial?.success(), false, 'the trial ended with its lease');
    } finally {
      breaker.shutdown();
    }
  });
});
