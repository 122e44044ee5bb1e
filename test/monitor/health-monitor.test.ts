import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { SpanStatusCode } from '@opentelemetry/api';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import type { HealthCheck } from '../../src/monitor/check-run.ts';
import type { HealthCheckResult } from '../../src/monitor/report.ts';
import type { HealthMonitorOptions } from '../../src/monitor/options.ts';
import type { PluginManager } from '../../src/core/plugin-health.ts';
import { runNode } from '../helpers/child.ts';
import { advance, countLiveTimers, settle, useFakeClock, useRealClock } from '../helpers/clock.ts';
import { find } from '../helpers/exposition.ts';
import { monitorSuite } from '../helpers/monitor-suite.ts';

const suite = monitorSuite();
const monitor = (options?: HealthMonitorOptions) => suite.monitor(options);

describe('checkPlatformHealth', () => {
  it('counts true, nothing and healthy or degraded plugin health as success', async () => {
    const m = monitor();
    for (const value of [true, undefined, { status: 'healthy' }, { status: 'degraded', message: 'slow' }] as const) {
      const result = await m.checkPlatformHealth('p', () => value);
      assert.equal(result.status, 'success', JSON.stringify(value));
    }
    const asyncResult = await m.checkPlatformHealth('p', async () => true);
    assert.equal(asyncResult.status, 'success');
    assert.equal(asyncResult.breakerState, 'CLOSED');
  });

  it('counts throws, rejections of any value, false, unhealthy and nonsense as failures, never rejecting', async () => {
    const checks: Array<[string, HealthCheck, string]> = [
      ['sync throw', () => { throw new TypeError('bad'); }, 'TypeError'],
      ['rejects with a string', () => Promise.reject('nope'), 'other'],
      ['rejects with undefined', () => Promise.reject(undefined), 'other'],
      ['rejects with an object', () => Promise.reject({ weird: true }), 'other'],
      ['rejects with a coded error', () => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED'],
      ['returns false', () => false, 'check_failed'],
      ['returns unhealthy', () => ({ status: 'unhealthy', message: 'token expired' }), 'unhealthy'],
      ['returns a number', (() => 42) as unknown as HealthCheck, 'invalid_result'],
      ['returns a string', (async () => 'ok') as unknown as HealthCheck, 'invalid_result'],
      ['returns null', (() => null) as unknown as HealthCheck, 'invalid_result'],
    ];
    for (const [name, check, errorType] of checks) {
      const m = monitor({ breaker: { failMax: 100 } });
      const result = await m.checkPlatformHealth('p', check);
      assert.equal(result.status, 'failure', name);
      assert.equal(result.errorType, errorType, name);
      assert.ok(result.error && !result.error.includes('\n') && result.error.length <= 200, `${name}: short message ${result.error}`);
    }
    await settle();
  });

  it('ends a check that never settles as a timeout at 5 s, with its signal aborted', async () => {
    const m = monitor();
    let signal: AbortSignal | undefined;
    const pending = m.checkPlatformHealth('hang', (s) => {
      signal = s;
      return new Promise(() => {});
    });
    const seen: { result?: HealthCheckResult } = {};
    void pending.then((r) => (seen.result = r));
    await advance(4_999);
    assert.equal(seen.result, undefined);
    assert.equal(signal?.aborted, false);
    await advance(1);
    const result = seen.result as HealthCheckResult | undefined; // TS keeps the narrowing above
    assert.equal(result?.status, 'timeout');
    assert.equal(result?.durationSeconds, 5);
    assert.equal(result?.errorType, 'timeout');
    assert.equal(signal?.aborted, true);
    assert.equal(m.report().abandonedChecks, 1);
    const span = suite.otel.spans().findLast((s) => s.name === 'health_check' && s.attributes['health_check.platform'] === 'hang');
    assert.equal(span?.attributes['health_check.status'], 'timeout');
    assert.equal(span?.attributes['health_check.timeout_ms'], 5_000, 'a timed-out span names the bound it ran into');
  });

  it('opens the breaker after three failures, rejects without calling the check for 30 s, then lets one trial run', async () => {
    const m = monitor();
    let calls = 0;
    let healthy = false;
    const check = () => {
      calls += 1;
      return healthy;
    };
    for (let i = 0; i < 3; i += 1) await m.checkPlatformHealth('p', check);
    assert.equal(m.getBreaker('p')?.getState().state, 'OPEN');
    const rejected = await m.checkPlatformHealth('p', check);
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.durationSeconds, 0);
    assert.equal(calls, 3);
    await advance(29_999);
    assert.equal((await m.checkPlatformHealth('p', check)).status, 'rejected');
    assert.equal(calls, 3);
    await advance(1);
    healthy = true;
    const trial = await m.checkPlatformHealth('p', check);
    assert.equal(trial.status, 'success');
    assert.equal(trial.breakerState, 'CLOSED');
    assert.equal(calls, 4);
  });

  it('records a span per check with its status, breaker state and transitions as events', async () => {
    const m = monitor();
    const before = suite.otel.spans().length;
    await m.checkPlatformHealth('spanned', () => true);
    for (let i = 0; i < 3; i += 1) await m.checkPlatformHealth('spanned', () => Promise.reject(new RangeError('down')));
    await m.checkPlatformHealth('spanned', () => true);
    const spans = suite.otel.spans().slice(before).filter((s) => s.name === 'health_check');
    assert.equal(spans.length, 5);
    const [ok, , , third, rejected] = spans;
    assert.equal(ok!.attributes['health_check.platform'], 'spanned');
    assert.equal(ok!.attributes['health_check.status'], 'success');
    assert.equal(ok!.attributes['health_check.timeout_ms'], undefined, 'the bound is on timed-out checks only');
    assert.equal(ok!.attributes['circuit_breaker.state'], 'CLOSED');
    assert.equal(ok!.status.code, SpanStatusCode.UNSET);
    assert.equal(third!.status.code, SpanStatusCode.ERROR);
    assert.equal(third!.status.message, 'down');
    assert.ok(third!.events.some((e) => e.name === 'exception' && e.attributes?.['exception.type'] === 'RangeError'));
    const change = third!.events.find((e) => e.name === 'circuit_breaker.state_change');
    assert.equal(change?.attributes?.['circuit_breaker.from'], 'CLOSED');
    assert.equal(change?.attributes?.['circuit_breaker.to'], 'OPEN');
    assert.equal(third!.attributes['circuit_breaker.state'], 'OPEN');
    assert.equal(rejected!.attributes['health_check.status'], 'rejected');
    assert.ok(rejected!.events.some((e) => e.name === 'circuit_breaker.rejected'));
  });

  it('records the metrics of every check: count, duration, failures by type', async () => {
    const m = monitor();
    await m.checkPlatformHealth('metered', () => true);
    await m.checkPlatformHealth('metered', () => false);
    const hang = m.checkPlatformHealth('metered', () => new Promise(() => {}));
    await advance(5_000);
    await hang;
    await m.checkPlatformHealth('metered', () => false);
    await m.checkPlatformHealth('metered', () => true);
    await m.checkPlatformHealth('metered', () => true);
    const scraped = await suite.otel.scrape();
    const count = (status: string) => find(scraped, 'health_check_total', { platform: 'metered', status })[0]?.value;
    assert.equal(count('success'), '1');
    assert.equal(count('failure'), '2');
    assert.equal(count('timeout'), '1');
    assert.equal(count('rejected'), '2');
    assert.equal(find(scraped, 'health_check_duration_seconds_count', { platform: 'metered' })[0]?.value, '4');
    assert.equal(find(scraped, 'health_check_duration_seconds_bucket', { platform: 'metered', le: '2.5' })[0]?.value, '3');
    assert.equal(find(scraped, 'health_check_duration_seconds_bucket', { platform: 'metered', le: '5' })[0]?.value, '4');
    assert.equal(find(scraped, 'plugin_failure_total', { platform: 'metered', error_type: 'check_failed' })[0]?.value, '2');
    assert.equal(find(scraped, 'plugin_failure_total', { platform: 'metered', error_type: 'timeout' })[0]?.value, '1');
    assert.equal(find(scraped, 'circuit_breaker_state', { platform: 'metered', state: 'open' })[0]?.value, '1');
  });
});

describe('a breaker shared with the conductor\'s own calls', () => {
  it('does not close on a check that started while CLOSED and succeeds after the conductor\'s failures made it HALF_OPEN', async () => {
    const m = monitor({ timeoutMs: 60_000 });
    const before = suite.otel.spans().length;
    let answer!: (healthy: boolean) => void;
    const checking = m.checkPlatformHealth('shared', () => new Promise<boolean>((resolve) => (answer = resolve)));
    const breaker = m.getBreaker('shared')!;
    for (let i = 0; i < 3; i += 1) await breaker.execute(() => Promise.reject(new Error('conductor call failed'))).catch(() => {});
    assert.equal(breaker.getState().state, 'OPEN');
    await advance(30_000);
    assert.equal(breaker.getState().state, 'HALF_OPEN');

    answer(true);
    const result = await checking;
    assert.equal(result.status, 'success', 'the check itself succeeded, and counts as such');
    assert.equal(result.breakerState, 'HALF_OPEN', 'but no trial ran, so the breaker stays half-open');
    const span = suite.otel.spans().slice(before).find((s) => s.name === 'health_check');
    const stale = span?.events.find((e) => e.name === 'circuit_breaker.stale_outcome');
    assert.deepEqual(stale?.attributes, {
      'circuit_breaker.platform': 'shared',
      'circuit_breaker.outcome': 'success',
      'circuit_breaker.permit_state': 'CLOSED',
      'circuit_breaker.state': 'HALF_OPEN',
    });
    const trial = await m.checkPlatformHealth('shared', () => true);
    assert.equal(trial.breakerState, 'CLOSED', 'the next check is the trial, and closes it');
  });

  it('recovers on its own when the conductor claims a trial with canExecute() and never reports it', async () => {
    const m = monitor({ breaker: { failMax: 1, resetTimeoutMs: 1_000, halfOpenTimeoutMs: 2_000 } });
    await m.checkPlatformHealth('wedge', () => false);
    await advance(1_000);
    const breaker = m.getBreaker('wedge')!;
    assert.equal(breaker.canExecute(), true, 'the conductor claims the trial, then crashes or forgets it');
    let calls = 0;
    const check = () => ++calls > 0;
    assert.equal((await m.checkPlatformHealth('wedge', check)).status, 'rejected');
    await advance(1_999);
    assert.equal((await m.checkPlatformHealth('wedge', check)).status, 'rejected');
    await advance(1);
    assert.equal(breaker.getState().state, 'OPEN', 'the lost trial counted as a failed one');
    await advance(1_000);
    const trial = await m.checkPlatformHealth('wedge', check);
    assert.deepEqual([trial.status, trial.breakerState, calls], ['success', 'CLOSED', 1]);
  });
});

describe('staggeredHealthChecks', () => {
  it('checks test1, test2 and test3 with () => true and returns three successes in order', async () => {
    const m = monitor();
    const pending = m.staggeredHealthChecks(['test1', 'test2', 'test3'], () => true);
    await advance(5_000, 100);
    const results = await pending;
    assert.deepEqual(results.map((r) => [r.platform, r.status]), [['test1', 'success'], ['test2', 'success'], ['test3', 'success']]);
  });

  it('starts platform i of 10 at i × 500 ms', async () => {
    const m = monitor();
    const starts: number[] = [];
    const platforms = Array.from({ length: 10 }, (_, i) => `p${i}`);
    const pending = m.staggeredHealthChecks(platforms, () => {
      starts.push(Date.now());
      return true;
    });
    await advance(5_000, 100);
    assert.equal((await pending).length, 10);
    assert.deepEqual(starts, platforms.map((_, i) => i * 500));
  });
});

describe('the health check loop', () => {
  it('checks each of 10 platforms every 5 s, 500 ms apart, with zero drift after 1,000 cycles', async () => {
    const m = monitor();
    const starts = new Map<string, number[]>();
    for (let i = 0; i < 10; i += 1) {
      const name = `p${i}`;
      starts.set(name, []);
      m.register(name, () => {
        starts.get(name)!.push(Date.now());
        return true;
      });
    }
    m.start();
    // Up to just before cycle 1,001 begins.
    await advance(999 * 5_000 + 4_500, 500);
    for (let i = 0; i < 10; i += 1) {
      const times = starts.get(`p${i}`)!;
      assert.equal(times.length, 1_000, `p${i} ran every cycle`);
      assert.equal(times[0], i * 500, `p${i} first start`);
      assert.equal(times[999], i * 500 + 999 * 5_000, `p${i} start of cycle 1,000: no drift`);
      assert.ok(times.every((t, k) => t === i * 500 + k * 5_000));
    }
    assert.equal(m.report().skippedChecks, 0);
  });

  it('starts the next cycle on time after a check that never settles times out', async () => {
    const m = monitor({ breaker: { failMax: 100 } });
    const starts: number[] = [];
    const signals: AbortSignal[] = [];
    m.register('hang', (signal) => {
      starts.push(Date.now());
      signals.push(signal);
      return new Promise(() => {});
    });
    const results: HealthCheckResult[] = [];
    m.on('check', (r) => results.push(r));
    m.start();
    await advance(15_000, 500);
    assert.deepEqual(starts, [0, 5_000, 10_000, 15_000]);
    assert.deepEqual(results.map((r) => r.status), ['timeout', 'timeout', 'timeout']);
    assert.deepEqual(signals.map((s) => s.aborted), [true, true, true, false]);
    assert.equal(m.report().skippedChecks, 0);
  });

  it('rejects checks of an open breaker in the loop and runs one trial after 30 s', async () => {
    const m = monitor();
    let calls = 0;
    m.register('down', () => {
      calls += 1;
      return false;
    });
    const statuses: string[] = [];
    m.on('check', (r) => statuses.push(r.status));
    m.start();
    await advance(40_000, 500);
    // 0, 5, 10 s fail and open; 15–35 s are rejected; the trial at 40 s fails and reopens.
    assert.deepEqual(statuses, ['failure', 'failure', 'failure', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected', 'failure']);
    assert.equal(calls, 4);
    assert.equal(m.getBreaker('down')?.getState().state, 'OPEN');
  });

  it('skips slots missed while the process stalled instead of bursting them', async () => {
    const m = monitor();
    const starts: number[] = [];
    m.register('solo', () => {
      starts.push(Date.now());
      return true;
    });
    m.start();
    await advance(5_000, 500); // runs at 0 and 5,000
    // A stall: the clock jumps 12 s with no timer running in between.
    mock.timers.setTime(Date.now() + 12_000);
    await advance(500, 500);
    await advance(10_000, 500);
    // The tick at 17,000 finds the 10,000 slot a whole interval late and the
    // 15,000 slot 2 s late (past maxLatenessMs, 1 s): both are skipped, not run.
    assert.deepEqual(starts, [0, 5_000, 20_000, 25_000]);
    assert.equal(m.report().skippedChecks, 2);
  });

  it('never starts a platform check while its previous one is still running', async () => {
    const m = monitor({ timeoutMs: 12_000, breaker: { failMax: 100 } });
    let running = 0;
    let maxRunning = 0;
    const finishers: Array<() => void> = [];
    m.register('slow', () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      return new Promise<boolean>((resolve) => finishers.push(() => { running -= 1; resolve(true); }));
    });
    m.start();
    await advance(11_000, 500);
    assert.equal(finishers.length, 1, 'the 5 s and 10 s slots were skipped as busy');
    finishers[0]!();
    await advance(4_000, 500);
    assert.equal(finishers.length, 2, 'the 15 s slot ran');
    assert.equal(maxRunning, 1);
    assert.equal(m.report().skippedChecks, 2);
  });

  it('limits the checks in flight to maxConcurrent', async () => {
    const m = monitor({ maxConcurrent: 2, staggerMs: 0, breaker: { failMax: 100 } });
    let running = 0;
    let maxRunning = 0;
    for (let i = 0; i < 5; i += 1) {
      m.register(`c${i}`, async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 100));
        running -= 1;
        return true;
      });
    }
    const results: HealthCheckResult[] = [];
    m.on('check', (r) => results.push(r));
    m.start();
    await advance(400, 50);
    assert.equal(maxRunning, 2);
    assert.equal(results.length, 5);
  });

  it('runs every check of 5,000 platforms due at the same moment, losing none', async () => {
    const m = monitor({ staggerMs: 0, maxConcurrent: 10_000 });
    let runs = 0;
    for (let i = 0; i < 5_000; i += 1) m.register(`burst-${i}`, () => void (runs += 1));
    const results: HealthCheckResult[] = [];
    m.on('check', (r) => results.push(r));
    m.start();
    await advance(0);
    assert.equal(runs, 5_000);
    assert.equal(results.length, 5_000);
    assert.equal(m.report().skippedChecks, 0);
  });

  it('keeps a slot that fell due just before a re-plan', async () => {
    const m = monitor();
    const seen: Array<[string, number]> = [];
    m.register('a', () => void seen.push(['a', Date.now()]));
    m.start();
    mock.timers.setTime(3); // a's slot at 0 is due, but its timer has not run yet
    m.register('b', () => void seen.push(['b', Date.now()]));
    await advance(0);
    assert.deepEqual(seen[0], ['a', 3]);
    assert.equal(m.report().skippedChecks, 0);
  });

  it('accounts for every slot when checks queue behind the concurrency cap', async () => {
    const m = monitor({ intervalMs: 100, maxConcurrent: 1, maxLatenessMs: 100_000, breaker: { failMax: 1_000 } });
    let runs = 0;
    for (const name of ['a', 'b']) {
      m.register(name, () => {
        runs += 1;
        return new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 250));
      });
    }
    m.start();
    await advance(2_000, 50);
    // Slots of a at 0, 100, …, 2,000 and of b at 50, 150, …, 1,950: 41 in all.
    const { skippedChecks } = m.report();
    assert.equal(runs + skippedChecks, 41, `${runs} runs + ${skippedChecks} skips`);
  });

  it('cancels an ad hoc check too when its platform is unregistered, and records nothing after', async () => {
    const m = monitor({ intervalMs: 100, timeoutMs: 10_000 });
    const signals: AbortSignal[] = [];
    m.register('p', (signal) => {
      signals.push(signal);
      return new Promise(() => {});
    });
    m.start();
    await advance(0);
    const adHoc = m.checkPlatformHealth('p');
    await advance(50, 50);
    const events: HealthCheckResult[] = [];
    m.on('check', (r) => events.push(r));
    m.unregister('p');
    assert.equal(signals.length, 2);
    assert.ok(signals.every((s) => s.aborted), 'both the scheduled and the ad hoc check are aborted');
    assert.equal((await adHoc).errorType, 'cancelled');
    await advance(1_000, 100);
    assert.deepEqual(events, []);
  });

  it('clears the pending starts of staggeredHealthChecks on stop()', async () => {
    const m = monitor();
    let calls = 0;
    const pending = m.staggeredHealthChecks(['s1', 's2', 's3', 's4'], () => void (calls += 1));
    await m.stop();
    const results = await pending;
    assert.deepEqual(results.map((r) => r.errorType ?? r.status), ['success', 'cancelled', 'cancelled', 'cancelled']);
    assert.equal(calls, 1);
  });

  it('plans platforms registered while running, and forgets unregistered ones', async () => {
    const m = monitor();
    const seen: string[] = [];
    m.register('a', () => void seen.push('a'));
    m.start();
    await advance(500, 500);
    m.register('b', () => void seen.push('b'));
    await advance(10_000, 500);
    m.unregister('a');
    await advance(10_000, 500);
    assert.equal(seen.filter((s) => s === 'a').length, 3);
    assert.equal(seen.filter((s) => s === 'b').length, 4);
    assert.equal(m.getBreaker('a'), undefined);
    assert.deepEqual(m.report().platforms.map((p) => p.platform), ['b']);
    // The SDK cannot drop a series: the gone platform's breaker states all read 0, so no alert stays firing.
    const states = find(await suite.otel.scrape(), 'circuit_breaker_state', { platform: 'a' }).map((s) => s.value);
    assert.deepEqual(states, ['0', '0', '0']);
  });

  it('registers every platform of a plugin manager with its checkHealth', async () => {
    const m = monitor();
    const asked: string[] = [];
    const manager: PluginManager = {
      platforms: () => ['discord', 'twitch'],
      checkHealth: async (platform) => {
        asked.push(platform);
        return platform === 'discord' ? { status: 'healthy' } : { status: 'unhealthy', message: 'stream key revoked' };
      },
    };
    assert.deepEqual(m.attachPluginManager(manager), ['discord', 'twitch']);
    assert.deepEqual(m.attachPluginManager(manager), []);
    m.start();
    await advance(5_000, 500);
    assert.deepEqual(asked, ['discord', 'twitch', 'discord']);
    const report = m.report();
    assert.equal(report.platforms.find((p) => p.platform === 'twitch')?.lastError, 'stream key revoked');
    assert.equal(report.platforms.find((p) => p.platform === 'twitch')?.lastHealth, 'unhealthy');
  });

  it('stops: aborts in-flight checks, resolves within its bound, and leaves no timer', async () => {
    // Restored before afterEach puts the real timers back, or the fake ones would stay installed.
    const timers = countLiveTimers();
    try {
      const m = monitor({ stopTimeoutMs: 1_000 });
      const signals: AbortSignal[] = [];
      m.register('stuck', (signal) => {
        signals.push(signal);
        return new Promise(() => {});
      });
      m.register('polite', (signal) => {
        signals.push(signal);
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      });
      const loop = m.healthCheckLoop();
      await advance(2_500, 500);
      assert.equal(signals.length, 2);
      let stopped = false;
      const stopping = m.stop().then(() => (stopped = true));
      await settle();
      assert.ok(signals.every((s) => s.aborted));
      assert.equal(stopped, false, 'waits for the check that ignores its signal');
      await advance(1_000);
      await stopping;
      await loop;
      assert.equal(stopped, true);
      await advance(0); // the test's in-memory span exporter answers on a 0 ms timer
      assert.equal(timers.live(), 0, 'no timer is left: not the schedule, not a check timeout, not a breaker');
      assert.throws(() => m.register('late', () => true), /was stopped/);
      const count = (await suite.otel.scrape()).samples.filter(
        (s) => s.name === 'health_check_total' && (s.labels.platform === 'stuck' || s.labels.platform === 'polite'),
      );
      assert.deepEqual(count, [], 'checks cut off by stop() are not counted as failures');
    } finally {
      timers.restore();
    }
  });
});

describe('report', () => {
  it('is healthy with all breakers closed, degraded with one failing or open, unhealthy only when a critical one opens', async () => {
    const m = monitor();
    assert.equal(m.report().status, 'healthy');
    m.register('a', () => true);
    m.register('b', () => true);
    m.register('db', () => true, { critical: true });
    for (const p of ['a', 'b', 'db']) await m.checkPlatformHealth(p);
    assert.equal(m.report().status, 'healthy');
    await m.checkPlatformHealth('b', () => false);
    assert.equal(m.report().status, 'degraded');
    await m.checkPlatformHealth('b', () => false);
    await m.checkPlatformHealth('b', () => false);
    await m.checkPlatformHealth('a', () => false);
    await m.checkPlatformHealth('a', () => false);
    await m.checkPlatformHealth('a', () => false);
    let report = m.report();
    assert.equal(report.status, 'degraded', 'two of three breakers open, none critical');
    const b = report.platforms.find((p) => p.platform === 'b');
    assert.equal(b?.breakerState, 'OPEN');
    assert.equal(b?.critical, false);
    assert.equal(b?.consecutiveFailures, 3);
    assert.equal(b?.lastError, 'check returned false');
    assert.equal(b?.nextAttemptAt, 30_000);
    for (let i = 0; i < 3; i += 1) await m.checkPlatformHealth('db', () => false);
    report = m.report();
    assert.equal(report.status, 'unhealthy');
    assert.equal(report.platforms.find((p) => p.platform === 'db')?.critical, true);
    assert.match(report.reasons[0]!, /critical platform breaker not closed: "db" \(OPEN\)/);
  });
});

describe('report history', () => {
  it('keeps the last historySize checks per platform and the last transitionHistorySize transitions, only when asked', async () => {
    const m = monitor({ historySize: 4, transitionHistorySize: 3, breaker: { failMax: 1, resetTimeoutMs: 0 } });
    m.register('a', () => true);
    assert.equal(m.report().platforms[0]!.history, undefined, 'the plain report stays small');
    assert.equal(m.report().transitions, undefined);
    const outcomes = [true, false, true, false, true, false, true];
    for (const ok of outcomes) {
      await m.checkPlatformHealth('a', () => ok);
      await advance(1_000);
    }
    const report = m.report({ history: true });
    const history = report.platforms[0]!.history!;
    assert.deepEqual(history.map((h) => h.status), ['failure', 'success', 'failure', 'success'], 'the newest four, oldest first');
    assert.deepEqual(history.map((h) => h.at), [3_000, 4_000, 5_000, 6_000]);
    assert.ok(history.every((h) => h.durationSeconds >= 0));
    // failMax 1 and no reset wait: each failure opens, each good trial closes (via HALF_OPEN).
    assert.equal(report.transitions!.length, 3);
    assert.deepEqual(report.transitions!.at(-1), { platform: 'a', from: 'HALF_OPEN', to: 'CLOSED', failureCount: 0, at: 6_000 });
    assert.throws(() => ((report.transitions![0] as { to: string }).to = 'x'), TypeError, 'history entries are frozen');
  });

  it('rejects history sizes that are not whole numbers from 1, naming the option', () => {
    assert.throws(() => monitor({ historySize: 0 }), /"historySize".*0/);
    assert.throws(() => monitor({ transitionHistorySize: 2.5 }), /"transitionHistorySize".*2\.5/);
  });
});

describe('liveness and readiness', () => {
  it('is live before start and while running, whatever the platforms; not live once stopping', async () => {
    const m = monitor({ intervalMs: 1_000 });
    m.register('down', () => false, { critical: true });
    assert.deepEqual(m.liveness(), { ok: true, reasons: [] }, 'not started is not dead');
    m.start();
    await advance(5_000, 100);
    assert.equal(m.getBreaker('down')?.getState().state, 'OPEN');
    assert.deepEqual(m.liveness(), { ok: true, reasons: [] }, 'an open critical breaker never fails liveness');
    const stopping = m.stop();
    assert.deepEqual(m.liveness(), { ok: false, reasons: ['stopping'] });
    await stopping;
    assert.deepEqual(m.liveness(), { ok: false, reasons: ['stopping'] });
  });

  it('is not live while a scheduling pass is overdue by more than stallMs, and live again once it ran', async () => {
    // A stall: the clock jumps 120 ms with no timer running in between.
    const m = monitor({ intervalMs: 10, stallMs: 50 });
    m.register('a', () => true);
    m.start();
    mock.timers.setTime(Date.now() + 120);
    const stalled = m.liveness();
    assert.equal(stalled.ok, false);
    assert.match(stalled.reasons[0]!, /^scheduler stalled: a scheduling pass is \d+ ms overdue \(bound 50 ms\)$/);
    await advance(0);
    assert.deepEqual(m.liveness(), { ok: true, reasons: [] });
  });

  it('is ready only once started, while running and while every critical breaker is closed', async () => {
    const m = monitor({ intervalMs: 1_000, breaker: { resetTimeoutMs: 10_000 } });
    let dbUp = true;
    m.register('db', () => dbUp, { critical: true });
    m.register('chat', () => false);
    assert.deepEqual(m.readiness(), { ok: false, reasons: ['not started'] });
    m.start();
    await advance(5_000, 100);
    assert.equal(m.getBreaker('chat')?.getState().state, 'OPEN');
    assert.deepEqual(m.readiness(), { ok: true, reasons: [] }, 'a platform that is not critical never affects readiness');
    dbUp = false;
    await advance(5_000, 100);
    assert.deepEqual(m.readiness(), { ok: false, reasons: ['critical platform "db": breaker is OPEN'] });
    dbUp = true;
    await advance(12_000, 100);
    assert.deepEqual(m.readiness(), { ok: true, reasons: [] }, 'ready again once the half-open trial closed it');
    const stopping = m.stop();
    assert.deepEqual(m.readiness(), { ok: false, reasons: ['stopping'] });
    await stopping;
  });

  it('rejects a critical option that is not a boolean, naming it', () => {
    const m = monitor();
    assert.throws(() => m.register('x', () => true, { critical: 'yes' as never }), /option "critical" must be a boolean, got "yes"/);
  });
});

describe('options', () => {
  it('rejects bad options with errors naming the option and the value', () => {
    const cases: Array<[object, RegExp]> = [
      [{ intervalMs: 0 }, /"intervalMs".*0/],
      [{ intervalMs: Number.NaN }, /"intervalMs".*NaN/],
      [{ timeoutMs: -5 }, /"timeoutMs".*-5/],
      [{ timeoutMs: Infinity }, /"timeoutMs".*Infinity/],
      [{ maxConcurrent: 1.5 }, /"maxConcurrent".*1\.5/],
      [{ staggerMs: '100' }, /"staggerMs".*"100"/],
      [{ breaker: { failMax: 0 } }, /"breaker\.failMax".*0/],
      [{ breaker: { resetTimeoutMs: -1 } }, /"breaker\.resetTimeoutMs".*-1/],
      [{ breaker: { halfOpenTimeoutMs: 0 } }, /"breaker\.halfOpenTimeoutMs".*0/],
      [{ breaker: { fail_max: 3 } }, /unknown breaker option "fail_max"/],
      [{ resources: {} }, /"resources"/],
      [{ intervalMS: 5000 }, /unknown health monitor option "intervalMS"/],
    ];
    for (const [options, message] of cases) assert.throws(() => new HealthMonitor(options as never), { message }, JSON.stringify(options));
  });

  it('rejects empty and duplicate platform names', () => {
    const m = monitor();
    assert.throws(() => m.register('', () => true), /"platform".*""/);
    m.register('x', () => true);
    assert.throws(() => m.register('x', () => true), /"x" is already registered/);
    assert.throws(() => m.register('y', 'not a function' as never), /"check".*"not a function"/);
  });
});

describe('a process running the monitor', () => {
  it('exits by itself after stop() with checks in flight', async () => {
    useRealClock();
    try {
      await runExitFixture();
    } finally {
      useFakeClock();
    }
  });
});

/** Runs test/fixtures/monitor-exit.ts and asserts the process ends by itself. */
async function runExitFixture(): Promise<void> {
  const { code, stdout, stderr, exitedByItself } = await runNode(fileURLToPath(new URL('./fixtures/monitor-exit.ts', import.meta.url)), { safetyMs: 20_000 });
  assert.ok(exitedByItself, `the process exits by itself: ${stdout}${stderr}`);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /stopped with 3 checks in flight/);
}

