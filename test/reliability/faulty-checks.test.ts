// Area 1: faulty checks. Every case runs on the fake clock: a "2 s stall" is the
// clock jumping 2 s inside a check, exactly what a blocked event loop looks like
// to the timers that come due after it.
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import type { HealthCheck } from '../../src/monitor/check-run.ts';
import type { HealthCheckResult } from '../../src/monitor/report.ts';
import type { HealthMonitorOptions } from '../../src/monitor/options.ts';
import { advance, settle } from '../helpers/clock.ts';
import { find, type Exposition } from '../helpers/exposition.ts';
import { monitorSuite } from '../helpers/monitor-suite.ts';
import { heapAfterGc, prng } from './fixtures/util.ts';

const suite = monitorSuite();
const monitor = (options: HealthMonitorOptions = {}): HealthMonitor => suite.monitor(options);

const value = (scrape: Exposition, name: string, labels: Record<string, string>): number =>
  find(scrape, name, labels).reduce((sum, s) => sum + Number(s.value), 0);

const STATUSES = ['success', 'failure', 'timeout', 'rejected'] as const;

/** Every way a check can misbehave short of never being called, cycled through on each call. */
function nonsenseValues(): Array<[string, () => unknown]> {
  return [
    ['a number', () => 42],
    ['NaN', () => Number.NaN],
    ['a string', () => 'ok'],
    ['null', () => null],
    ['a symbol', () => Symbol('healthy')],
    ['a bigint', () => 10n],
    ['a function', () => () => true],
    ['an array', () => [true]],
    ['an empty object', () => ({})],
    ['a null-prototype object', () => Object.create(null) as unknown],
    ['an unknown plugin status', () => ({ status: 'fine' })],
    ['an unhealthy status with a number for a message', () => ({ status: 'unhealthy', message: 12_345 })],
    ['an unhealthy status with an object for a message', () => ({ status: 'unhealthy', message: { reason: 'x' } })],
    ['a promise of a string', () => Promise.resolve('yes')],
    ['a thenable whose then throws', () => ({ then() { throw new Error('broken then'); } })],
    ['an object whose then getter throws', () => ({ get then() { throw new Error('broken getter'); } })],
    ['an object whose status getter throws', () => ({ get status() { throw new Error('broken status'); } })],
    ['a thenable that resolves twice and rejects', () => ({ then(ok: (v: unknown) => void, fail: (e: unknown) => void) { ok(true); ok(false); fail(new Error('late')); } })],
    ['a thenable that never calls back', () => ({ then() {} })],
  ];
}

const THROWN: unknown[] = [new Error('boom'), new TypeError('bad type'), 'a string', undefined, null, 0, { code: 42 }, Symbol('thrown'), [], 10n];

describe('faulty checks in the schedule', () => {
  it('keeps every platform on its slots and accounts for every slot while checks hang, settle late, throw, reject with non-Errors, return nonsense and stall the loop', async () => {
    const INTERVAL = 1_000;
    const TIMEOUT = 300;
    const MAX_LATENESS = INTERVAL / 5;
    const SECONDS = 120;
    const random = prng(1);
    const nonsense = nonsenseValues();
    const invocations = new Map<string, number[]>();
    let lateSettled = 0;
    let politeSettled = 0;
    let stalls = 0;

    const checks: Record<string, HealthCheck> = {
      healthy: () => true,
      'async-healthy': async () => true,
      hangs: () => new Promise(() => {}),
      // Ignores its signal and resolves 100 ms after its timeout.
      late: () => new Promise((resolve) => setTimeout(() => { lateSettled += 1; resolve(true); }, TIMEOUT + 100)),
      // Honours its signal: settles as soon as the timeout aborts it.
      polite: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => { politeSettled += 1; reject(signal.reason); })),
      throws: () => { throw THROWN[(invocations.get('f-throws')!.length - 1) % THROWN.length]; },
      rejects: () => Promise.reject(THROWN[(invocations.get('f-rejects')!.length - 1) % THROWN.length]),
      nonsense: (() => nonsense[(invocations.get('f-nonsense')!.length - 1) % nonsense.length]![1]()) as HealthCheck,
      flaps: () => random() < 0.5,
      // Every fifth call blocks "the event loop" for 2 s.
      stalls: () => {
        if (invocations.get('f-stalls')!.length % 5 === 0) {
          stalls += 1;
          mock.timers.setTime(Date.now() + 2_000);
        }
        return true;
      },
    };
    const m = monitor({ intervalMs: INTERVAL, timeoutMs: TIMEOUT });
    const names = Object.keys(checks).map((k) => `f-${k}`);
    for (const [key, check] of Object.entries(checks)) {
      const name = `f-${key}`;
      invocations.set(name, []);
      // The flapping platform keeps the default breaker (3 failures open it, so some slots are
      // rejected); the others must reach every faulty value, so their breakers never open.
      const options = key === 'flaps' ? {} : { breaker: { failMax: 1_000_000 } };
      m.register(name, (signal) => {
        invocations.get(name)!.push(Date.now());
        return check(signal);
      }, options);
    }
    const results: HealthCheckResult[] = [];
    m.on('check', (r) => results.push(r));
    m.start();
    // Ten platforms spread over 1 s: slots fall on multiples of 100 ms.
    await advance(SECONDS * 1_000, 100);
    const end = Date.now();
    const scrape = await suite.otel.scrape();
    const report = m.report();

    assert.ok(stalls >= 5, `the loop stalled ${stalls} times`);
    let totalSkipped = 0;
    names.forEach((name, index) => {
      const offset = (index * INTERVAL) / names.length;
      const starts = invocations.get(name)!;
      const byStatus = Object.fromEntries(STATUSES.map((s) => [s, value(scrape, 'health_check_total', { platform: name, status: s })]));
      const events = Object.fromEntries(STATUSES.map((s) => [s, results.filter((r) => r.platform === name && r.status === s).length]));
      assert.deepEqual(byStatus, events, `${name}: health_check_total agrees with the check events`);
      const skipped = value(scrape, 'health_check_skipped_total', { platform: name });
      totalSkipped += skipped;
      const finished = byStatus.success! + byStatus.failure! + byStatus.timeout!;
      const inFlight = starts.length - finished;
      assert.ok(inFlight === 0 || inFlight === 1, `${name}: every invocation but the running one is counted (${starts.length} calls, ${finished} counted)`);
      const slots = Math.floor((end - offset) / INTERVAL) + 1;
      assert.equal(starts.length + byStatus.rejected! + skipped, slots, `${name}: slots = runs + rejected + skipped`);
      // No burst: each run belongs to its own slot, started at most maxLatenessMs after it.
      const slotOf = starts.map((t) => Math.floor((t - offset) / INTERVAL));
      assert.equal(new Set(slotOf).size, starts.length, `${name}: never two runs for one slot`);
      starts.forEach((t, i) => assert.ok(t - (offset + slotOf[i]! * INTERVAL) <= MAX_LATENESS, `${name}: run ${i} at ${t} is within maxLatenessMs of its slot`));
      for (let i = 1; i < starts.length; i += 1) {
        assert.ok(starts[i]! - starts[i - 1]! >= INTERVAL - MAX_LATENESS, `${name}: runs ${i - 1} and ${i} are an interval apart`);
      }
    });
    assert.ok(totalSkipped > 0, 'the stalls skipped slots');
    assert.ok(value(scrape, 'health_check_total', { platform: 'f-flaps', status: 'rejected' }) > 0, 'the flapping platform was rejected at times');
    assert.ok(invocations.get('f-nonsense')!.length > nonsense.length && invocations.get('f-throws')!.length > THROWN.length, 'every faulty value was returned');
    assert.equal(report.skippedChecks, totalSkipped, 'report().skippedChecks = Σ health_check_skipped_total');
    assert.ok(value(scrape, 'health_check_skipped_total', { reason: 'missed' }) > 0);

    // Abandoned: timed-out checks whose promise has not settled (yet).
    const timeouts = results.filter((r) => r.status === 'timeout').length;
    assert.ok(timeouts > 0);
    assert.equal(report.abandonedChecks, timeouts - lateSettled - politeSettled, 'abandoned = timeouts not settled since');
    assert.ok(report.abandonedChecks > 0);
    // Stalls aside, the healthy platforms never missed a slot.
    for (const name of ['f-healthy', 'f-async-healthy']) {
      assert.equal(value(scrape, 'health_check_total', { platform: name, status: 'success' }), invocations.get(name)!.length);
    }
    assert.equal(value(scrape, 'health_check_total', { platform: 'f-hangs', status: 'success' }), 0);
    for (const r of results) {
      if (r.error !== undefined) assert.ok(!/[\r\n]/.test(r.error) && r.error.length <= 200, `short error: ${r.error}`);
    }
  });

  it('skips the slots a 2 s stall missed, counts them, and runs no platform twice within an interval afterwards', async () => {
    const m = monitor({ intervalMs: 1_000 });
    const starts = new Map<string, number[]>();
    for (let i = 0; i < 10; i += 1) {
      const name = `stall-${i}`;
      starts.set(name, []);
      m.register(name, () => {
        starts.get(name)!.push(Date.now());
        // Platform 3's fourth run blocks the loop for 2 s.
        if (i === 3 && starts.get(name)!.length === 4) mock.timers.setTime(Date.now() + 2_000);
        return true;
      });
    }
    m.start();
    await advance(10_000, 100);
    const scrape = await suite.otel.scrape();
    const skipped = [...starts.keys()].reduce((sum, platform) => sum + value(scrape, 'health_check_skipped_total', { platform }), 0);
    // The stall at 3.3 s ends at 5.3 s: the 3.4–4.9 s slots of the other nine and
    // 4.3 s of platform 3 fell inside it, plus slots due in the same pass that were late.
    assert.ok(skipped >= 10, `skipped ${skipped}`);
    assert.equal(m.report().skippedChecks, skipped);
    for (const [name, times] of starts) {
      for (let k = 1; k < times.length; k += 1) {
        assert.ok(times[k]! - times[k - 1]! >= 800, `${name} ran at ${times[k - 1]} and ${times[k]}: a burst`);
      }
      const after = times.filter((t) => t >= 5_300);
      assert.ok(after.length >= 4, `${name} is back on schedule after the stall: ${times.join(', ')}`);
    }
  });
});

describe('one faulty check at a time', () => {
  it('counts a check that resolves after its timeout once, as a timeout, and stops calling it abandoned when it settles', async () => {
    const m = monitor();
    const seen: HealthCheckResult[] = [];
    m.on('check', (r) => seen.push(r));
    let resolveLate: (v: boolean) => void = () => {};
    const pending = m.checkPlatformHealth('late-once', () => new Promise<boolean>((resolve) => (resolveLate = resolve)));
    await advance(5_000, 1_000);
    const result = await pending;
    assert.equal(result.status, 'timeout');
    assert.equal(m.report().abandonedChecks, 1);
    resolveLate(true);
    await settle();
    assert.equal(m.report().abandonedChecks, 0, 'no longer abandoned once it settled');
    assert.deepEqual(seen.map((r) => r.status), ['timeout'], 'the late value is not a second result');
    const scrape = await suite.otel.scrape();
    assert.equal(value(scrape, 'health_check_total', { platform: 'late-once', status: 'timeout' }), 1);
    assert.equal(value(scrape, 'health_check_total', { platform: 'late-once', status: 'success' }), 0);
  });

  it('resolves every check whatever it throws, rejects with or returns: one failure each, with a bounded error type and a one-line message', async () => {
    const m = monitor({ breaker: { failMax: 1_000 } });
    const cases: Array<[string, HealthCheck]> = [
      ...THROWN.map((t, i): [string, HealthCheck] => [`throws #${i}`, () => { throw t; }]),
      ...THROWN.map((t, i): [string, HealthCheck] => [`rejects #${i}`, () => Promise.reject(t)]),
      ...nonsenseValues()
        .filter(([name]) => !name.includes('resolves twice') && !name.includes('never calls'))
        .map(([name, fn]): [string, HealthCheck] => [name, fn as HealthCheck]),
      ['rejects with a Proxy that throws on every read', () => Promise.reject(new Proxy({}, { get() { throw new Error('trap'); }, getPrototypeOf() { throw new Error('trap'); } }))],
    ];
    for (const [name, check] of cases) {
      const result = await m.checkPlatformHealth('odd', check);
      assert.equal(result.status, 'failure', name);
      assert.match(result.errorType ?? '', /^[A-Za-z0-9_]{1,40}$/, `${name}: error type ${result.errorType}`);
      assert.ok(result.error !== undefined && !/[\r\n]/.test(result.error) && result.error.length <= 200, `${name}: ${result.error}`);
    }
    const scrape = await suite.otel.scrape();
    assert.equal(value(scrape, 'health_check_total', { platform: 'odd', status: 'failure' }), cases.length, 'exactly one count per check');
    assert.equal(value(scrape, 'plugin_failure_total', { platform: 'odd' }), cases.length);
  });

  it('forgets abandoned checks: a thousand never-settling checks leave nothing behind but their count', async () => {
    const m = monitor({ intervalMs: 1_000, timeoutMs: 500, breaker: { failMax: 1_000_000 } });
    const refs: WeakRef<object>[] = [];
    m.register('black-hole', (signal) => {
      // A big closure per check, so a leak would show in the heap as well.
      const ballast = new Array(1_000).fill(signal);
      const promise = new Promise<boolean>(() => void ballast);
      refs.push(new WeakRef(promise));
      return promise;
    });
    m.start();
    await advance(1_000 * 1_000, 500);
    // Slots at 0, 1, …, 1,000 s: the last check is still running (and referenced); every earlier one timed out.
    assert.equal(refs.length, 1_001);
    assert.equal(m.report().abandonedChecks, 1_000);
    await heapAfterGc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.ok(alive <= 1, `${alive} abandoned check promises are still reachable`);
  });
});
