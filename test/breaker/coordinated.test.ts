// A breaker shared by replicas: it reports what can change the shared state
// and follows what its coordinator applies (the coordinator here is a plain
// recorder; the cluster's, over a real Redis, is tested in test/cluster/).
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { PlatformCircuitBreaker } from '../../src/breaker/circuit-breaker.ts';
import type { BreakerCoordinator } from '../../src/breaker/coordinator.ts';
import type { HealthMetrics } from '../../src/core/metrics.ts';
import { useFakeClock, useRealClock } from '../helpers/clock.ts';

function recorder(): BreakerCoordinator & { reports: string[] } {
  const reports: string[] = [];
  return {
    reports,
    failed: () => void reports.push('failed'),
    recovered: () => void reports.push('recovered'),
    trialEnded: (ok) => void reports.push(`trial ${ok ? 'ok' : 'failed'}`),
    trialClaimed: (ms) => void reports.push(`claimed ${ms}`),
    forced: (to) => void reports.push(`forced ${to}`),
  };
}

describe('a coordinated breaker', () => {
  let breakers: PlatformCircuitBreaker[] = [];
  const states: string[] = [];
  const metrics = { setBreakerState: (_p: string, s: string) => void states.push(s), recordPluginFailure: () => {} } as unknown as HealthMetrics;
  const make = () => {
    const breaker = new PlatformCircuitBreaker('shared', { metrics, failMax: 2, resetTimeoutMs: 1_000 });
    breakers.push(breaker);
    return breaker;
  };
  beforeEach(() => useFakeClock(1_000_000));
  afterEach(() => {
    for (const b of breakers) b.shutdown();
    breakers = [];
    states.length = 0;
    useRealClock();
  });

  it('reports its failures and never opens by itself; a success after them is reported, one with no failure costs nothing', async () => {
    const breaker = make();
    const coordinator = recorder();
    breaker.coordinate(coordinator);
    await breaker.execute(async () => 'ok');
    for (let i = 0; i < 5; i += 1) breaker.recordFailure(new Error('down'));
    assert.equal(breaker.getState().state, 'CLOSED', 'the shared state decides');
    await breaker.execute(async () => 'ok');
    await breaker.execute(async () => 'ok');
    assert.deepEqual(coordinator.reports, ['failed', 'failed', 'failed', 'failed', 'failed', 'recovered']);
  });

  it('follows the shared state: OPEN refuses, HALF_OPEN lets a trial through only where it is, and the trial\'s end is reported', () => {
    const breaker = make();
    const coordinator = recorder();
    const changes: string[] = [];
    breaker.on('transition', (c) => changes.push(`${c.from}>${c.to}${c.remote ? ' (remote)' : ''}`));
    breaker.coordinate(coordinator);
    breaker.applyShared({ state: 'OPEN', failureCount: 2, nextAttemptInMs: 5_000, resetTimeoutMs: 5_000 });
    assert.equal(breaker.tryAcquire(), undefined);
    assert.equal(breaker.getState().nextAttemptAt, Date.now() + 5_000, 'the shared wait, not its own 1 s');
    mock.timers.tick(10_000);
    assert.equal(breaker.getState().state, 'OPEN', 'it does not half-open by itself');
    breaker.applyShared({ state: 'HALF_OPEN', failureCount: 2, trialHere: false });
    assert.equal(breaker.tryAcquire(), undefined, "the trial is another replica's");
    breaker.applyShared({ state: 'HALF_OPEN', failureCount: 2, trialHere: true });
    const trial = breaker.tryAcquire()!;
    assert.equal(trial.state, 'HALF_OPEN');
    assert.equal(breaker.tryAcquire(), undefined, 'one trial');
    assert.equal(trial.success(), true);
    assert.equal(breaker.getState().state, 'CLOSED');
    assert.deepEqual(changes, ['CLOSED>OPEN (remote)', 'OPEN>HALF_OPEN (remote)', 'HALF_OPEN>CLOSED']);
    assert.deepEqual(coordinator.reports, ['claimed 30000', 'trial ok']);
    assert.deepEqual(states, ['CLOSED', 'OPEN', 'HALF_OPEN', 'CLOSED'], 'circuit_breaker_state follows');
  });

  it('decides alone again when the coordinator goes: an OPEN breaker half-opens when the shared wait is over', () => {
    const breaker = make();
    breaker.coordinate(recorder());
    breaker.applyShared({ state: 'OPEN', failureCount: 2, nextAttemptInMs: 3_000 });
    breaker.coordinate(undefined);
    mock.timers.tick(2_999);
    assert.equal(breaker.getState().state, 'OPEN');
    mock.timers.tick(1);
    assert.equal(breaker.getState().state, 'HALF_OPEN');
    breaker.recordFailure(new Error('still down'));
    breaker.recordFailure(new Error('down'));
    assert.equal(breaker.getState().state, 'OPEN', 'and counts by itself again');
  });

  it('reports forceOpen() and reset() made here', () => {
    const breaker = make();
    const coordinator = recorder();
    breaker.coordinate(coordinator);
    breaker.forceOpen();
    breaker.reset();
    assert.deepEqual(coordinator.reports, ['forced OPEN', 'forced CLOSED']);
  });
});
