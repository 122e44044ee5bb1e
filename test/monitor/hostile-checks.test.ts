import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HealthCheck } from '../../src/monitor/check-run.ts';
import type { HealthMonitorOptions } from '../../src/monitor/options.ts';
import { silentLogger, type Logger } from '../../src/common/logger.ts';
import { advance } from '../helpers/clock.ts';
import { find } from '../helpers/exposition.ts';
import { monitorSuite, recordingLogger } from '../helpers/monitor-suite.ts';

const suite = monitorSuite();
const monitor = (options?: HealthMonitorOptions) => suite.monitor(options);

/** An Error whose `field` reads normally once, then throws on every later read. */
function errorThrowingOnSecondRead(field: 'message' | 'stack'): Error {
  const error = new Error('first read is fine');
  let reads = 0;
  Object.defineProperty(error, field, {
    get() {
      reads += 1;
      if (reads > 1) throw new Error(`${field} read twice`);
      return 'first read is fine';
    },
  });
  return error;
}

describe('a check that hands back something hostile', () => {
  it('times out normally when its own abort listeners throw, and the process carries on', async () => {
    const logger = recordingLogger();
    const m = monitor({ timeoutMs: 1_000, logger });
    const check: HealthCheck = (signal) => {
      signal.addEventListener('abort', () => {
        throw new Error('listener bug');
      });
      signal.addEventListener('abort', { handleEvent: () => { throw new Error('object listener bug'); } });
      signal.onabort = () => {
        throw new Error('onabort bug');
      };
      return new Promise(() => {});
    };
    const result = m.checkPlatformHealth('p', check);
    await advance(1_000);
    assert.equal((await result).status, 'timeout');
    await advance(0);
    assert.equal(logger.entries.filter((e) => e.level === 'warn' && /abort listener/.test(e.msg ?? '')).length, 1, 'logged once, rate-limited');
  });

  it('still lets a check remove its own abort listener', async () => {
    const m = monitor({ timeoutMs: 1_000 });
    let calls = 0;
    const result = m.checkPlatformHealth('p', (signal) => {
      const listener = () => (calls += 1);
      signal.addEventListener('abort', listener);
      signal.removeEventListener('abort', listener);
      return new Promise(() => {});
    });
    await advance(1_000);
    assert.equal((await result).status, 'timeout');
    assert.equal(calls, 0);
  });

  for (const field of ['message', 'stack'] as const) {
    it(`keeps every platform on schedule when a check throws an Error whose ${field} throws on a later read`, async () => {
      const m = monitor({ intervalMs: 1_000, breaker: { failMax: 100 } });
      m.register('hostile', () => {
        throw errorThrowingOnSecondRead(field);
      });
      m.register(`good-${field}`, () => true);
      m.start();
      await advance(5_000, 100);
      const report = m.report();
      assert.equal(report.running, true);
      const byName = Object.fromEntries(report.platforms.map((p) => [p.platform, p]));
      assert.equal(byName.hostile?.lastResult, 'failure');
      assert.equal(byName.hostile?.consecutiveFailures, 6, 'a failure every second');
      assert.equal(byName[`good-${field}`]?.lastCheckAt, 4_500, 'the other platform still checked every second');
      const metrics = await suite.otel.scrape();
      assert.equal(find(metrics, 'health_check_total', { platform: `good-${field}`, status: 'success' })[0]?.value, '5');
    });

    it(`records a failure, not an unhandled rejection, when a check rejects with an Error whose ${field} throws on a later read`, async () => {
      const m = monitor();
      const result = await m.checkPlatformHealth('p', () => Promise.reject(errorThrowingOnSecondRead(field)));
      assert.equal(result.status, 'failure');
      assert.equal(result.error, 'first read is fine');
    });
  }

  it('records a failure when a check returns a PluginHealth whose status getter throws on a later read', async () => {
    const m = monitor();
    let reads = 0;
    const health = {
      get status() {
        reads += 1;
        if (reads > 1) throw new Error('status read twice');
        return 'unhealthy';
      },
    };
    const result = await m.checkPlatformHealth('p', (() => health) as unknown as HealthCheck);
    assert.equal(result.status, 'failure');
    assert.equal(result.errorType, 'unhealthy');
  });

  it('records an invalid result when a check returns an object whose status is no health status and throws on a later read', async () => {
    const m = monitor();
    let reads = 0;
    const odd = {
      get status() {
        reads += 1;
        if (reads > 1) throw new Error('status read twice');
        return 'weird';
      },
    };
    const result = await m.checkPlatformHealth('p', (() => odd) as unknown as HealthCheck);
    assert.equal(result.status, 'failure');
    assert.equal(result.errorType, 'invalid_result');
    assert.equal(reads, 1, 'read once');
  });

  it('records a failure when a check returns a revoked Proxy', async () => {
    const m = monitor();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const result = await m.checkPlatformHealth('p', (() => proxy) as unknown as HealthCheck);
    assert.equal(result.status, 'failure');
  });

  it('puts one line of at most 200 characters and a bounded stack into the span, whatever the check threw', async () => {
    const m = monitor();
    const error = new Error(`${'x'.repeat(10_000)}\nsecond line`);
    error.stack = `Error: ${'y'.repeat(10_000)}\n${'    at frame (file.js:1:1)\n'.repeat(500)}`;
    await m.checkPlatformHealth('bounded', () => {
      throw error;
    });
    const span = suite.otel.spans().findLast((s) => s.attributes['health_check.platform'] === 'bounded')!;
    assert.ok(span.status.message !== undefined && span.status.message.length <= 200 && !span.status.message.includes('\n'));
    const exception = span.events.find((e) => e.name === 'exception')!;
    const message = String(exception.attributes?.['exception.message']);
    assert.equal(message.length, 200);
    assert.ok(!message.includes('\n'));
    const stack = String(exception.attributes?.['exception.stacktrace']).split('\n');
    assert.ok(stack.length <= 11, `${stack.length} stack lines`);
    assert.ok(stack.every((line) => line.length <= 200));
  });
});

describe('platform names from outside', () => {
  it('refuses a name with a lone surrogate, naming the field and quoting the value escaped', () => {
    const m = monitor();
    assert.throws(() => m.register('a\ud800b', () => true), (error: Error) => {
      assert.ok(error instanceof RangeError);
      assert.equal(error.message, 'conductor-health: option "platform" must be well-formed Unicode (no lone surrogates), got "a\\ud800b"');
      return true;
    });
    assert.doesNotThrow(() => m.register('emoji 😀', () => true), 'a surrogate pair is fine');
  });

  it('logs a name without its control characters and bidi overrides', async () => {
    const lines: string[] = [];
    const logger: Logger = { ...silentLogger, info: (o) => void lines.push(JSON.stringify(o)), warn: (o) => void lines.push(JSON.stringify(o)) };
    const m = monitor({ logger, breaker: { failMax: 1 } });
    await m.checkPlatformHealth('evil\u009b2J\u202eexe', () => false);
    assert.ok(lines.some((l) => l.includes('"platform":"evil?2J?exe"')), lines.join('\n'));
    assert.ok(lines.every((l) => !/[\u0080-\u009f\u202a-\u202e]/.test(l)));
  });
});
