import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlatformCircuitBreaker } from '../../src/breaker/circuit-breaker.ts';
import type { HealthMonitorOptions } from '../../src/monitor/options.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { ResourceMonitor } from '../../src/resources/resource-monitor.ts';
import type { ResourceReadings } from '../../src/resources/readings.ts';
import { advance } from '../helpers/clock.ts';
import { find } from '../helpers/exposition.ts';
import { monitorSuite, recordingLogger } from '../helpers/monitor-suite.ts';

const suite = monitorSuite();
const monitor = (options?: HealthMonitorOptions) => suite.monitor(options);

/** A resource monitor fed from a list; the last entry repeats. `undefined` means a sample that never settles. */
function scriptedResources(script: Array<ResourceReadings | undefined>, options: { intervalMs?: number } = {}) {
  let calls = 0;
  const sampler = () => {
    const next = script[Math.min(calls, script.length - 1)];
    calls += 1;
    return next === undefined ? new Promise<ResourceReadings>(() => {}) : next;
  };
  const resources = new ResourceMonitor({ sampler, intervalMs: options.intervalMs ?? 1_000, logger: silentLogger });
  return { resources, calls: () => calls };
}

describe("the process's own resource errors", () => {
  it('does not count EMFILE, ENFILE or ENOMEM against the platform, and logs them once a minute', async () => {
    const logger = recordingLogger();
    const m = monitor({ logger, breaker: { failMax: 3 } });
    const errors = [
      Object.assign(new Error('too many open files'), { code: 'EMFILE' }),
      new TypeError('fetch failed', { cause: Object.assign(new Error('connect EMFILE'), { code: 'EMFILE' }) }),
      Object.assign(new Error('file table overflow'), { code: 'ENFILE' }),
      Object.assign(new Error('cannot allocate memory'), { code: 'ENOMEM' }),
      Object.assign(new Error('too many open files'), { code: 'EMFILE' }),
    ];
    for (const error of errors) {
      const result = await m.checkPlatformHealth('fd-starved', () => Promise.reject(error));
      assert.equal(result.status, 'failure');
      assert.match(result.errorType ?? '', /^(EMFILE|ENFILE|ENOMEM)$/);
    }
    const state = m.getBreaker('fd-starved')!.getState();
    assert.deepEqual([state.state, state.failureCount], ['CLOSED', 0]);
    const logged = logger.entries.filter((e) => e.level === 'error' && /out of a resource/.test(e.msg ?? ''));
    assert.deepEqual(logged.map((e) => e.obj.code), ['EMFILE', 'ENFILE', 'ENOMEM'], 'one line per code within the minute');
    const metrics = await suite.otel.scrape();
    assert.deepEqual(find(metrics, 'plugin_failure_total', { platform: 'fd-starved' }), [], 'no failure counted against the platform');
  });

  it('still counts the platform’s own errors', async () => {
    const m = monitor({ breaker: { failMax: 2 } });
    for (let i = 0; i < 2; i += 1) await m.checkPlatformHealth('refusing', () => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })));
    assert.equal(m.getBreaker('refusing')!.getState().state, 'OPEN');
  });
});

describe('checkPlatformHealth with a name it does not know', () => {
  it('throws and leaves no breaker and no series behind', async () => {
    const m = monitor();
    assert.throws(() => m.checkPlatformHealth('typo-platform'), /no registered check/);
    assert.equal(m.getBreaker('typo-platform'), undefined);
    const metrics = await suite.otel.scrape();
    assert.deepEqual(find(metrics, 'circuit_breaker_state', { platform: 'typo-platform' }), []);
  });
});

describe('a resource monitor the caller owns', () => {
  it('is heeded when it is degraded already as the health monitor starts', async () => {
    const { resources } = scriptedResources([{ memory: 0.95 }]);
    await resources.sample();
    assert.equal(resources.isDegraded(), true);
    const m = monitor({ resources, intervalMs: 1_000 });
    let checks = 0;
    m.register('p', () => void (checks += 1));
    m.start();
    assert.deepEqual(m.report().degraded, { resource: 'memory', value: 0.95, threshold: 0.8 });
    await advance(10_000, 100);
    assert.equal(checks, 6, 'every 2 s (the degraded interval) for 10 s: at 0, 2, 4, 6, 8 and 10 s');
    await m.stop();
    await resources.stop();
  });

  it('keeps sampling for its other users when one health monitor stops', async () => {
    const { resources, calls } = scriptedResources([{ memory: 0.1 }]);
    const first = monitor({ resources });
    const second = monitor({ resources });
    first.start();
    second.start();
    await advance(2_000, 100);
    const before = calls();
    await first.stop();
    await advance(3_000, 100);
    assert.ok(calls() >= before + 3, `sampled ${calls() - before} times after the first monitor stopped`);
    await second.stop();
    await resources.stop();
  });
});

describe('a resource sampler that never settles', () => {
  it('is cut off after sampleTimeoutMs, leaves degraded mode after recoverSamples such samples, and lets stop() resolve', async () => {
    const { resources, calls } = scriptedResources([{ memory: 0.95 }, undefined], { intervalMs: 1_000 });
    resources.start();
    await advance(0);
    assert.equal(resources.isDegraded(), true);
    await advance(10_000, 100);
    assert.equal(resources.isDegraded(), false, 'stale readings do not keep degraded mode for ever');
    assert.equal(calls(), 2, 'a sampler call that never settled is not called again');
    let stopped = false;
    const stopping = resources.stop().then(() => (stopped = true));
    await advance(5_000, 100);
    await stopping;
    assert.equal(stopped, true);
  });
});

describe('a standalone breaker', () => {
  it('leaves its state gauge at 0 in every state after shutdown()', async () => {
    const breaker = new PlatformCircuitBreaker('standalone-open', { failMax: 1 });
    breaker.recordFailure(new Error('down'));
    let metrics = await suite.otel.scrape();
    assert.equal(find(metrics, 'circuit_breaker_state', { platform: 'standalone-open', state: 'open' })[0]?.value, '1');
    breaker.shutdown();
    metrics = await suite.otel.scrape();
    for (const state of ['closed', 'open', 'half_open']) {
      assert.equal(find(metrics, 'circuit_breaker_state', { platform: 'standalone-open', state })[0]?.value, '0', state);
    }
  });
});

describe("the monitor's own half-open trial", () => {
  it('settles by the check\'s own timeout, not the lease: a check slower than halfOpenTimeoutMs closes the breaker once the platform is back', async () => {
    const logger = recordingLogger();
    const m = monitor({ intervalMs: 1_000, timeoutMs: 2_000, logger, breaker: { failMax: 1, resetTimeoutMs: 1_000, halfOpenTimeoutMs: 150 } });
    let up = false;
    m.register('slow', () => new Promise((resolve) => setTimeout(() => resolve(up), 400)));
    m.start();
    await advance(1_000, 100);
    assert.equal(m.report().platforms[0]!.breakerState, 'OPEN', 'opened by the first check, at 400 ms');
    up = true;
    await advance(4_000, 100);
    const [platform] = m.report().platforms;
    assert.equal(platform!.breakerState, 'CLOSED');
    assert.equal(platform!.lastResult, 'success');
    assert.deepEqual(logger.entries.filter((e) => /half-open trial not settled/.test(e.msg ?? '')), [], 'no lease ran out');
  });
});

describe('transitions heard in order', () => {
  it('delivers a transition a listener causes (reset() on CLOSED → OPEN) after every listener heard the one before it, and the report agrees', async () => {
    const m = monitor({ breaker: { failMax: 1 } });
    const heard: string[] = [];
    m.on('transition', (c) => {
      if (c.to === 'OPEN') m.getBreaker(c.platform)!.reset();
    });
    m.on('transition', (c) => heard.push(`${c.from}>${c.to}`));
    await m.checkPlatformHealth('p', () => false);
    assert.deepEqual(heard, ['CLOSED>OPEN', 'OPEN>CLOSED']);
    assert.deepEqual(m.report({ history: true }).transitions!.map((c) => `${c.from}>${c.to}`), ['CLOSED>OPEN', 'OPEN>CLOSED']);
    assert.equal(m.getBreaker('p')!.getState().state, 'CLOSED');
  });
});

describe('stop() with many checks in flight', () => {
  it('aborts them a slice per event-loop turn, so other work runs in between, and aborts every one', async () => {
    const m = monitor({ timeoutMs: 60_000, stopTimeoutMs: 1_000 });
    let aborted = 0;
    const checks = Array.from({ length: 1_000 }, (_, i) =>
      m.checkPlatformHealth(`p${i}`, (signal) => new Promise<boolean>((resolve) => signal.addEventListener('abort', () => (aborted += 1, resolve(false)))),
      ),
    );
    let abortedAtNextTurn: number | undefined;
    setImmediate(() => (abortedAtNextTurn = aborted));
    await m.stop();
    await Promise.all(checks);
    assert.equal(aborted, 1_000);
    assert.ok(abortedAtNextTurn !== undefined && abortedAtNextTurn < 1_000, `other work ran after ${abortedAtNextTurn} aborts, not after all of them`);
  });
});

describe('the report', () => {
  it('always has degraded (null when not degraded)', () => {
    const m = monitor();
    assert.equal(JSON.parse(JSON.stringify(m.report())).degraded, null);
  });

  it('gives an open or half-open breaker the time of the slot that runs its trial, never a time in the past', async () => {
    const m = monitor({ intervalMs: 4_000, breaker: { failMax: 1, resetTimeoutMs: 10_000 } });
    let up = false;
    m.register('p', () => up);
    m.start();
    await advance(100);
    const open = m.report().platforms[0]!;
    assert.equal(open.breakerState, 'OPEN');
    // Opened by the check at 0 s; half-open from 10 s; slots every 4 s: the trial runs at 12 s.
    assert.equal(open.nextAttemptAt, 12_000);
    await advance(10_000, 100);
    const halfOpen = m.report().platforms[0]!;
    assert.equal(halfOpen.breakerState, 'HALF_OPEN');
    assert.equal(halfOpen.nextAttemptAt, 12_000);
    assert.ok(halfOpen.nextAttemptAt >= Date.now());
    up = true;
    await advance(2_000, 100);
    assert.equal(m.report().platforms[0]!.breakerState, 'CLOSED');
  });
});
