// A transition a timer fires runs in the context the timer was created in.
// Fake timers run callbacks in the caller's context, so this needs real ones:
// the waits are on a condition, bounded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { setupOtel, type TestOtel } from '../helpers/otel.ts';

/** Waits until `found` returns something, polling every 5 ms, at most `ms`. */
async function waitFor<T>(found: () => T | undefined, ms: number): Promise<T | undefined> {
  for (const end = performance.now() + ms; performance.now() < end; await sleep(5)) {
    const value = found();
    if (value !== undefined) return value;
  }
  return found();
}

describe('a transition a timer fires', () => {
  let otel: TestOtel;
  before(async () => (otel = await setupOtel()));
  after(() => otel.shutdown());

  it('is exported though the check that opened the breaker ran under an unsampled stand-in (successSpanRatio 0)', async () => {
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer, successSpanRatio: 0, breaker: { failMax: 1, resetTimeoutMs: 20 } });
    try {
      assert.equal((await monitor.checkPlatformHealth('timer', () => false)).status, 'failure');
      const toHalfOpen = await waitFor(
        () => otel.spans().find((s) => s.name === 'circuit_breaker.transition' && s.events.some((e) => e.attributes?.['circuit_breaker.to'] === 'HALF_OPEN')),
        5_000,
      );
      assert.ok(toHalfOpen, "the reset timer's OPEN → HALF_OPEN reaches the exporter");
      assert.equal(toHalfOpen.parentSpanContext, undefined, "a root, not the stand-in's unsampled child");
    } finally {
      await monitor.stop();
    }
  });
});
