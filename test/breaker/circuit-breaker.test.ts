import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { PlatformCircuitBreaker } from '../../src/breaker/circuit-breaker.ts';
import { BreakerShutdownError, CircuitOpenError } from '../../src/breaker/errors.ts';
import type { BreakerOptions } from '../../src/breaker/options.ts';
import type { BreakerStateChange } from '../../src/breaker/state.ts';
import { errorTypeOf } from '../../src/core/failure.ts';
import type { BreakerState } from '../../src/core/breaker-state.ts';
import type { HealthMetrics } from '../../src/core/metrics.ts';
import { TimeoutError } from '../../src/core/timeout-error.ts';
import type { Logger } from '../../src/common/logger.ts';
import { runNode } from '../helpers/child.ts';
import { useFakeClock, useRealClock } from '../helpers/clock.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/breaker-exit.ts', import.meta.url));

/** Records what the breaker writes to its instruments, without an SDK. */
function fakeMetrics() {
  const states: [string, BreakerState][] = [];
  const failures: [string, string][] = [];
  const metrics = {
    setBreakerState: (platform: string, state: BreakerState) => void states.push([platform, state]),
    recordPluginFailure: (platform: string, errorType: string) => void failures.push([platform, errorType]),
  } as unknown as HealthMetrics;
  return { metrics, states, failures };
}

/** A reader whose collect() the test calls itself. */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** `{ "platform/state": value }` of one instrument, from a fresh collection. */
async function collect(reader: TestReader, name: string): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const out: Record<string, number> = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints) {
        const attrs = point.attributes;
        out[`${String(attrs.platform)}/${String(attrs.state ?? attrs.error_type)}`] = point.value as number;
      }
    }
  }
  return out;
}

function tracing(): { tracer: Tracer; exporter: InMemorySpanExporter; provider: TracerProvider } {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  return { tracer: provider.getTracer('test'), exporter, provider };
}

const never = (): Promise<never> => new Promise<never>(() => {});
const ok = async (): Promise<string> => 'ok';
const boom = async (): Promise<never> => {
  throw new Error('boom');
};

describe('PlatformCircuitBreaker', () => {
  let breakers: PlatformCircuitBreaker[];
  let fake: ReturnType<typeof fakeMetrics>;

  /** A breaker with test-friendly telemetry, shut down after the test. */
  function make(options: BreakerOptions = {}, platform = 'discord'): PlatformCircuitBreaker {
    const breaker = new PlatformCircuitBreaker(platform, { metrics: fake.metrics, ...options });
    breakers.push(breaker);
    return breaker;
  }

  /** Opens a breaker the ordinary way: failMax failures in a row. */
  function open(breaker: PlatformCircuitBreaker): void {
    for (let i = 0; i < breaker.failMax; i++) breaker.recordFailure(new Error('down'));
    assert.equal(breaker.getState().state, 'OPEN');
  }

  function halfOpen(breaker: PlatformCircuitBreaker): void {
    open(breaker);
    mock.timers.tick(breaker.resetTimeoutMs);
    assert.equal(breaker.getState().state, 'HALF_OPEN');
  }

  beforeEach(() => {
    // Before any breaker exists: opossum's reset timer and the shared ticker must be fake too.
    useFakeClock(1_000_000);
    breakers = [];
    fake = fakeMetrics();
  });

  afterEach(() => {
    for (const breaker of breakers) breaker.shutdown();
    useRealClock();
  });

  describe('options', () => {
    it('uses the defaults: three failures, thirty seconds, no timeout', () => {
      const breaker = make();
      assert.equal(breaker.failMax, 3);
      assert.equal(breaker.resetTimeoutMs, 30_000);
      assert.equal(breaker.timeoutMs, 0);
    });

    it('rejects a bad failMax with an error naming the option and the value', () => {
      assert.throws(() => make({ failMax: 0 }), { name: 'RangeError', message: /"failMax".*got 0/ });
      assert.throws(() => make({ failMax: 1.5 }), { name: 'RangeError', message: /"failMax".*integer.*got 1\.5/ });
      assert.throws(() => make({ failMax: Number.NaN }), { name: 'RangeError', message: /"failMax".*got NaN/ });
      assert.throws(() => make({ failMax: '3' as unknown as number }), { name: 'TypeError', message: /"failMax".*got "3"/ });
    });

    it('rejects a bad resetTimeoutMs or timeoutMs', () => {
      assert.throws(() => make({ resetTimeoutMs: -1 }), { name: 'RangeError', message: /"resetTimeoutMs".*got -1/ });
      assert.throws(() => make({ resetTimeoutMs: Infinity }), { name: 'RangeError', message: /"resetTimeoutMs".*got Infinity/ });
      assert.throws(() => make({ resetTimeoutMs: 2 ** 31 }), { name: 'RangeError', message: /"resetTimeoutMs"/ });
      assert.throws(() => make({ timeoutMs: -5 }), { name: 'RangeError', message: /"timeoutMs".*got -5/ });
    });

    it('rejects an unknown option, a bad platform and bad collaborators', () => {
      assert.throws(() => make({ failmax: 3 } as BreakerOptions), { name: 'TypeError', message: /unknown circuit breaker option "failmax"/ });
      assert.throws(() => make({}, ''), { name: 'RangeError', message: /"platform"/ });
      assert.throws(() => make({}, 42 as unknown as string), { name: 'TypeError', message: /"platform".*got 42/ });
      assert.throws(() => make({ tracer: {} as Tracer }), { name: 'TypeError', message: /"tracer"/ });
      assert.throws(() => make({ logger: 'console' as unknown as Logger }), { name: 'TypeError', message: /"logger".*got "console"/ });
      assert.throws(() => new PlatformCircuitBreaker('x', null as unknown as BreakerOptions), { name: 'TypeError' });
    });

    it('takes defaults from the environment, but explicit options win', () => {
      const saved = [process.env.CONDUCTOR_HEALTH_FAIL_MAX, process.env.CONDUCTOR_HEALTH_RESET_TIMEOUT_MS] as const;
      const restore = (name: string, value: string | undefined): void => {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      };
      try {
        process.env.CONDUCTOR_HEALTH_FAIL_MAX = '5';
        process.env.CONDUCTOR_HEALTH_RESET_TIMEOUT_MS = '1000';
        assert.deepEqual([make().failMax, make().resetTimeoutMs], [5, 1000]);
        assert.deepEqual([make({ failMax: 2 }).failMax, make({ resetTimeoutMs: 7 }).resetTimeoutMs], [2, 7]);
        process.env.CONDUCTOR_HEALTH_FAIL_MAX = '0';
        assert.throws(() => make(), { name: 'RangeError', message: /^conductor-health: environment variable CONDUCTOR_HEALTH_FAIL_MAX must be an integer >= 1, got "0"$/ });
      } finally {
        restore('CONDUCTOR_HEALTH_FAIL_MAX', saved[0]);
        restore('CONDUCTOR_HEALTH_RESET_TIMEOUT_MS', saved[1]);
      }
    });
  });

  describe('halfOpenTimeoutMs', () => {
    it('defaults to thirty seconds and is validated like the other times', () => {
      assert.equal(make().halfOpenTimeoutMs, 30_000);
      assert.equal(make({ halfOpenTimeoutMs: 1 }).halfOpenTimeoutMs, 1);
      assert.throws(() => make({ halfOpenTimeoutMs: 0 }), { name: 'RangeError', message: /"halfOpenTimeoutMs" must be a finite number >= 1 <= 2147483647, got 0/ });
      assert.throws(() => make({ halfOpenTimeoutMs: -1 }), { name: 'RangeError', message: /"halfOpenTimeoutMs".*got -1/ });
      assert.throws(() => make({ halfOpenTimeoutMs: Number.NaN }), { name: 'RangeError', message: /"halfOpenTimeoutMs".*got NaN/ });
      assert.throws(() => make({ halfOpenTimeoutMs: 2 ** 31 }), { name: 'RangeError', message: /"halfOpenTimeoutMs"/ });
      assert.throws(() => make({ halfOpenTimeoutMs: '5' as unknown as number }), { name: 'TypeError', message: /"halfOpenTimeoutMs".*got "5"/ });
    });

    it('takes its default from CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS, and names the variable when it is bad', () => {
      const saved = process.env.CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS;
      try {
        process.env.CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS = '2500';
        assert.deepEqual([make().halfOpenTimeoutMs, make({ halfOpenTimeoutMs: 9 }).halfOpenTimeoutMs], [2500, 9]);
        process.env.CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS = '0';
        assert.throws(() => make(), { name: 'RangeError', message: /^conductor-health: environment variable CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS must be .*, got "0"$/ });
        process.env.CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS = 'soon';
        assert.throws(() => make(), { name: 'RangeError', message: /CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS must be a finite number >= 1 <= 2147483647, got "soon"/ });
      } finally {
        if (saved === undefined) delete process.env.CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS;
        else process.env.CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS = saved;
      }
    });
  });

  describe('permits (calls that overlap)', () => {
    it('a call allowed while CLOSED that succeeds after the breaker went HALF_OPEN does not close it', () => {
      const breaker = make({ failMax: 3 });
      const check = breaker.tryAcquire();
      assert.equal(check?.state, 'CLOSED');
      for (let i = 0; i < 3; i++) breaker.tryAcquire()?.failure(new Error('down'));
      mock.timers.tick(breaker.resetTimeoutMs);
      assert.equal(breaker.getState().state, 'HALF_OPEN');

      assert.equal(check?.success(), false, 'stale: its period ended when the breaker opened');
      assert.equal(breaker.getState().state, 'HALF_OPEN', 'no trial ran, so nothing closed it');
      const trial = breaker.tryAcquire();
      assert.equal(trial?.state, 'HALF_OPEN', 'the trial is still free');
      assert.equal(trial?.success(), true);
      assert.equal(breaker.getState().state, 'CLOSED');
    });

    it('with failMax 2, a late failure from an earlier CLOSED period does not count in the new one', async () => {
      const breaker = make({ failMax: 2 });
      let failLate!: (error: Error) => void;
      const late = breaker.execute(() => new Promise((_resolve, reject) => (failLate = reject)));
      await assert.rejects(breaker.execute(boom));
      await assert.rejects(breaker.execute(boom));
      assert.equal(breaker.getState().state, 'OPEN');
      mock.timers.tick(breaker.resetTimeoutMs);
      await breaker.execute(ok);
      assert.equal(breaker.getState().state, 'CLOSED');

      failLate(new Error('late'));
      await assert.rejects(late, /late/);
      assert.equal(breaker.getState().failureCount, 0, 'the late failure belongs to the first CLOSED period');
      assert.equal(fake.failures.length, 3, 'yet plugin_failure_total counts it');
      await assert.rejects(breaker.execute(boom));
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 1 }, 'one new failure does not open it');
    });

    it('a trial claimed with canExecute() and never reported re-opens the breaker after halfOpenTimeoutMs, and the next trial runs', () => {
      const breaker = make({ halfOpenTimeoutMs: 5_000 });
      halfOpen(breaker);
      assert.equal(breaker.canExecute(), true, 'claims the trial');
      assert.equal(breaker.canExecute(), false);
      mock.timers.tick(4_999);
      assert.equal(breaker.getState().state, 'HALF_OPEN');
      mock.timers.tick(1);
      const reopened = breaker.getState();
      assert.deepEqual(reopened, { platform: 'discord', state: 'OPEN', failureCount: 4, openedAt: Date.now(), nextAttemptAt: Date.now() + 30_000 });
      assert.equal(fake.failures.length, 3, 'no call is known to have failed, so none is counted');
      mock.timers.tick(breaker.resetTimeoutMs);
      assert.equal(breaker.canExecute(), true, 'a new trial, no restart needed');
      breaker.recordSuccess();
      assert.equal(breaker.getState().state, 'CLOSED');
    });

    it('expires a trial whose lease ran out while the event loop was starved, at the next look', () => {
      const breaker = make({ halfOpenTimeoutMs: 100 });
      halfOpen(breaker);
      const trial = breaker.tryAcquire();
      mock.timers.setTime(Date.now() + 100);
      assert.equal(trial?.success(), false, 'the lease had run out before the success arrived');
      assert.equal(breaker.getState().state, 'OPEN');
    });

    it('S F F F opens on the third F, and F S F F does not, when all four calls overlap', () => {
      /** Takes one permit per letter before settling any, then settles them in order; the state after each. */
      const overlapping = (sequence: string): string[] => {
        const breaker = make({}, sequence);
        const permits = [...sequence].map(() => breaker.tryAcquire());
        return [...sequence].map((verdict, i) => {
          assert.equal(verdict === 'S' ? permits[i]?.success() : permits[i]?.failure(new Error(`call ${i}`)), true, `${sequence}: call ${i} is current`);
          return breaker.getState().state;
        });
      };
      assert.deepEqual(overlapping('SFFF'), ['CLOSED', 'CLOSED', 'CLOSED', 'OPEN']);
      assert.deepEqual(overlapping('FSFF'), ['CLOSED', 'CLOSED', 'CLOSED', 'CLOSED']);
    });

    it('settles once: a second outcome on the same permit does nothing', () => {
      const breaker = make({ failMax: 2 });
      const permit = breaker.tryAcquire();
      assert.equal(permit?.settled, false);
      assert.equal(permit?.failure(new Error('down')), true);
      assert.equal(permit?.settled, true);
      assert.equal(permit?.failure(new Error('down')), false);
      assert.equal(permit?.success(), false);
      assert.equal(permit?.release(), false);
      assert.deepEqual([breaker.getState().failureCount, fake.failures.length], [1, 1]);
    });

    it('hands a released trial to the next caller, and refuses a second trial while one is out', () => {
      const breaker = make();
      halfOpen(breaker);
      const first = breaker.tryAcquire();
      assert.equal(breaker.tryAcquire(), undefined);
      assert.equal(first?.release(), true);
      const second = breaker.tryAcquire();
      assert.equal(second?.state, 'HALF_OPEN');
      assert.equal(first?.success(), false, 'already settled by its release');
      assert.equal(second?.failure(new Error('still down')), true);
      assert.equal(breaker.getState().state, 'OPEN');
    });

    it('reset() starts a new period even when CLOSED: earlier calls no longer count', () => {
      const breaker = make({ failMax: 1 });
      const permit = breaker.tryAcquire();
      breaker.reset();
      assert.equal(permit?.failure(new Error('down')), false);
      assert.equal(breaker.getState().state, 'CLOSED');
    });

    it('takes no outcome after shutdown() and grants no permit', () => {
      const breaker = make({ failMax: 1 });
      const permit = breaker.tryAcquire();
      breaker.shutdown();
      assert.equal(permit?.failure(new Error('down')), false);
      assert.equal(breaker.tryAcquire(), undefined);
      assert.equal(fake.failures.length, 0, 'a shut-down platform books nothing');
    });

    it('adds circuit_breaker.stale_outcome to the active span when an outcome arrives after its period', () => {
      const { tracer, exporter } = tracing();
      const manager = new AsyncLocalStorageContextManager().enable();
      context.setGlobalContextManager(manager);
      try {
        const breaker = make({ failMax: 1 });
        const late = breaker.tryAcquire();
        breaker.tryAcquire()?.failure(new Error('down'));
        tracer.startActiveSpan('health_check', (span) => {
          late?.success();
          span.end();
        });
      } finally {
        context.disable();
      }
      const [span] = exporter.getFinishedSpans();
      assert.deepEqual(
        span?.events.map((e) => [e.name, e.attributes]),
        [
          [
            'circuit_breaker.stale_outcome',
            { 'circuit_breaker.platform': 'discord', 'circuit_breaker.outcome': 'success', 'circuit_breaker.permit_state': 'CLOSED', 'circuit_breaker.state': 'OPEN' },
          ],
        ],
      );
    });
  });

  describe('in the CLOSED state', () => {
    it('starts closed with a count of zero and no times', () => {
      assert.deepEqual(make().getState(), { platform: 'discord', state: 'CLOSED', failureCount: 0 });
    });

    it('opens after three consecutive failures: S F F F opens on the third F', () => {
      const breaker = make();
      breaker.recordSuccess();
      breaker.recordFailure();
      breaker.recordFailure();
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 2 });
      breaker.recordFailure();
      assert.deepEqual(breaker.getState(), {
        platform: 'discord',
        state: 'OPEN',
        failureCount: 3,
        openedAt: 1_000_000,
        nextAttemptAt: 1_030_000,
      });
    });

    it('stays closed on F S F F, because a success sets the count to zero', () => {
      const breaker = make();
      breaker.recordFailure();
      breaker.recordSuccess();
      breaker.recordFailure();
      breaker.recordFailure();
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 2 });
      assert.equal(breaker.canExecute(), true);
    });

    it('opens on the first failure when failMax is 1', () => {
      const breaker = make({ failMax: 1 });
      breaker.recordFailure();
      assert.equal(breaker.getState().state, 'OPEN');
    });

    it('runs the function and passes its value through', async () => {
      const breaker = make();
      breaker.recordFailure();
      assert.equal(await breaker.execute(ok), 'ok');
      assert.equal(breaker.getState().failureCount, 0);
    });

    it('counts rejections, synchronous throws, non-Error values and non-promise returns as failures', async () => {
      const breaker = make({ failMax: 10 });
      await assert.rejects(breaker.execute(boom), { message: 'boom' });
      await assert.rejects(
        breaker.execute(() => {
          throw new RangeError('sync');
        }),
        { name: 'RangeError' },
      );
      await assert.rejects(breaker.execute(() => Promise.reject('a string')), (e) => e === 'a string');
      await assert.rejects(
        breaker.execute(() => {
          throw 42;
        }),
        (e) => e === 42,
      );
      await assert.rejects(breaker.execute((() => 'not a promise') as never), { name: 'TypeError', code: 'ENOTAPROMISE', message: /must return a promise, got "not a promise"/ });
      await assert.rejects(breaker.execute((() => undefined) as never), { name: 'TypeError', message: /got undefined/ });
      assert.equal(breaker.getState().failureCount, 6);
      assert.deepEqual(
        fake.failures.map(([, type]) => type),
        ['Error', 'RangeError', 'other', 'other', 'ENOTAPROMISE', 'ENOTAPROMISE'],
      );
    });

    it('rejects a missing function without counting it', async () => {
      const breaker = make();
      await assert.rejects(breaker.execute(undefined as never), { name: 'TypeError', message: /needs a function/ });
      assert.equal(breaker.getState().failureCount, 0);
    });

    it('hands every call that nothing can abort the same never-aborted signal', async () => {
      const breaker = make();
      const signals: AbortSignal[] = [];
      await breaker.execute(async (signal) => signals.push(signal));
      await breaker.execute(async (signal) => signals.push(signal));
      assert.equal(signals[0], signals[1]);
      assert.equal(signals[0]?.aborted, false);
    });

    it('ignores a result that arrives after the breaker left the state the call was allowed in', async () => {
      const breaker = make();
      let settle!: () => void;
      const late = breaker.execute(() => new Promise<void>((resolve) => (settle = resolve)));
      open(breaker);
      settle();
      await late;
      assert.deepEqual(breaker.getState().state, 'OPEN');
      assert.equal(breaker.getState().failureCount, 3);
    });
  });

  describe('in the OPEN state', () => {
    it('refuses calls at once with CircuitOpenError, without calling the function', async () => {
      const breaker = make();
      open(breaker);
      assert.equal(breaker.canExecute(), false);
      let called = false;
      const error = await breaker
        .execute(async () => {
          called = true;
        })
        .then(
          () => assert.fail('should reject'),
          (e: unknown) => e,
        );
      assert.equal(called, false);
      assert.ok(error instanceof CircuitOpenError);
      assert.equal(error.platform, 'discord');
      assert.equal(error.state, 'OPEN');
      assert.equal(error.code, 'ECIRCUITOPEN');
      assert.equal(error.nextAttemptAt, 1_030_000);
      assert.match(error.message, /"discord" is open; next trial at 1970-01-01T00:17:10\.000Z/);
    });

    it('changes neither state nor count on recordSuccess or recordFailure (the breaker allowed no call)', () => {
      const breaker = make();
      open(breaker);
      const before = breaker.getState();
      breaker.recordSuccess();
      breaker.recordFailure();
      breaker.recordPluginHealth({ status: 'healthy' });
      assert.deepEqual(breaker.getState(), before);
    });

    it('becomes HALF_OPEN when resetTimeoutMs has passed, not a millisecond before', () => {
      const breaker = make();
      open(breaker);
      mock.timers.tick(29_999);
      assert.equal(breaker.getState().state, 'OPEN');
      mock.timers.tick(1);
      assert.equal(breaker.getState().state, 'HALF_OPEN');
    });

    it('reports HALF_OPEN after the deadline even when a starved event loop has not run the timer', () => {
      const breaker = make();
      const changes: BreakerStateChange[] = [];
      breaker.on('transition', (c) => changes.push(c));
      open(breaker);
      // The clock moves, timers do not run: a blocked event loop.
      mock.timers.setTime(Date.now() + 30_000);
      assert.equal(breaker.getState().state, 'HALF_OPEN');
      assert.equal(breaker.canExecute(), true, 'the trial can be claimed');
      assert.equal(breaker.canExecute(), false, 'and only once');
      // When the loop catches up, the stale timer must not fire a second transition.
      mock.timers.tick(0);
      assert.deepEqual(
        changes.map((c) => `${c.from}>${c.to}`),
        ['CLOSED>OPEN', 'OPEN>HALF_OPEN'],
      );
      breaker.recordSuccess();
      assert.equal(breaker.getState().state, 'CLOSED');
    });

    it('treats resetTimeoutMs 0 as half-open straight away', () => {
      const breaker = make({ resetTimeoutMs: 0, failMax: 1 });
      breaker.recordFailure();
      assert.equal(breaker.getState().state, 'HALF_OPEN');
      assert.equal(breaker.canExecute(), true);
      breaker.recordFailure();
      assert.equal(breaker.getState().failureCount, 2);
      assert.equal(breaker.getState().state, 'HALF_OPEN');
    });
  });

  describe('in the HALF_OPEN state', () => {
    it('lets exactly one canExecute() through', () => {
      const breaker = make();
      halfOpen(breaker);
      assert.equal(breaker.canExecute(), true);
      assert.equal(breaker.canExecute(), false);
      assert.equal(breaker.canExecute(), false);
    });

    it('runs one of five concurrent calls and rejects the other four fast', async () => {
      const breaker = make();
      halfOpen(breaker);
      let calls = 0;
      let finishTrial!: (value: string) => void;
      const results = Array.from({ length: 5 }, () =>
        breaker.execute(() => {
          calls++;
          return new Promise<string>((resolve) => (finishTrial = resolve));
        }),
      );
      const settled: string[] = [];
      results.forEach((p, i) => p.then((v) => settled.push(`${i}:${v}`), (e: Error) => settled.push(`${i}:${e.name}`)));
      await Promise.resolve();
      await Promise.resolve();
      // The four are rejected while the trial is still running.
      assert.equal(calls, 1);
      assert.deepEqual(settled.sort(), ['1:CircuitOpenError', '2:CircuitOpenError', '3:CircuitOpenError', '4:CircuitOpenError']);
      const rejection: unknown = await results[1]?.catch((e: unknown) => e);
      assert.ok(rejection instanceof CircuitOpenError);
      assert.equal(rejection.state, 'HALF_OPEN');
      finishTrial('done');
      assert.equal(await results[0], 'done');
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 0 });
    });

    it('closes with a count of zero when the trial succeeds', async () => {
      const breaker = make();
      halfOpen(breaker);
      assert.equal(await breaker.execute(ok), 'ok');
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 0 });
    });

    it('re-opens and restarts the full reset timeout when the trial fails', async () => {
      const breaker = make();
      halfOpen(breaker);
      mock.timers.tick(5_000);
      await assert.rejects(breaker.execute(boom));
      assert.deepEqual(breaker.getState(), {
        platform: 'discord',
        state: 'OPEN',
        failureCount: 4,
        openedAt: 1_035_000,
        nextAttemptAt: 1_065_000,
      });
      mock.timers.tick(29_999);
      assert.equal(breaker.getState().state, 'OPEN');
      mock.timers.tick(1);
      assert.equal(breaker.getState().state, 'HALF_OPEN');
    });

    it('settles the state before recordSuccess() or recordFailure() returns', () => {
      const breaker = make();
      halfOpen(breaker);
      assert.equal(breaker.canExecute(), true);
      breaker.recordFailure(new Error('still down'));
      assert.equal(breaker.getState().state, 'OPEN');
      mock.timers.tick(30_000);
      assert.equal(breaker.canExecute(), true);
      breaker.recordSuccess();
      assert.equal(breaker.getState().state, 'CLOSED');
    });

    it('lets a record*() call without a prior canExecute() claim the trial and settle it', () => {
      const breaker = make();
      halfOpen(breaker);
      breaker.recordSuccess();
      assert.equal(breaker.getState().state, 'CLOSED');
      halfOpen(breaker);
      breaker.recordFailure();
      assert.equal(breaker.getState().state, 'OPEN');
    });

    it('hands the trial to the next caller when the caller abandons it', async () => {
      const breaker = make();
      halfOpen(breaker);
      const controller = new AbortController();
      const trial = breaker.execute(never, { signal: controller.signal });
      assert.equal(breaker.canExecute(), false);
      controller.abort(new Error('caller gave up'));
      await assert.rejects(trial, { message: 'caller gave up' });
      assert.equal(breaker.getState().state, 'HALF_OPEN');
      assert.equal(breaker.canExecute(), true);
      breaker.recordSuccess();
      assert.equal(breaker.getState().state, 'CLOSED');
    });
  });

  describe('recordPluginHealth', () => {
    it('counts healthy and degraded as a success', () => {
      for (const status of ['healthy', 'degraded'] as const) {
        const breaker = make();
        breaker.recordFailure();
        breaker.recordPluginHealth({ status });
        assert.equal(breaker.getState().failureCount, 0);
        halfOpen(breaker);
        breaker.recordPluginHealth({ status, message: 'fine' });
        assert.equal(breaker.getState().state, 'CLOSED', status);
      }
    });

    it('counts unhealthy as a failure with error_type "unhealthy"', () => {
      const breaker = make();
      for (let i = 0; i < 3; i++) breaker.recordPluginHealth({ status: 'unhealthy', message: 'token revoked' });
      assert.equal(breaker.getState().state, 'OPEN');
      assert.deepEqual(fake.failures, [
        ['discord', 'unhealthy'],
        ['discord', 'unhealthy'],
        ['discord', 'unhealthy'],
      ]);
      mock.timers.tick(30_000);
      breaker.recordPluginHealth({ status: 'unhealthy' });
      assert.equal(breaker.getState().state, 'OPEN');
    });

    it('changes nothing on unknown, and a half-open trial it answered goes to the next caller', () => {
      const breaker = make();
      breaker.recordFailure();
      breaker.recordPluginHealth({ status: 'unknown' });
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 1 });
      halfOpen(breaker);
      assert.equal(breaker.canExecute(), true);
      breaker.recordPluginHealth({ status: 'unknown' });
      assert.equal(breaker.getState().state, 'HALF_OPEN');
      assert.equal(breaker.canExecute(), true);
      assert.equal(breaker.canExecute(), false);
      assert.equal(fake.failures.length, 4, "unknown adds no failure");
    });

    it('rejects something that is not a PluginHealth', () => {
      const breaker = make();
      assert.throws(() => breaker.recordPluginHealth({ status: 'fine' } as never), { name: 'TypeError', message: /recordPluginHealth/ });
    });
  });

  describe('recordResult', () => {
    it('maps each kind of outcome to success or a typed failure', () => {
      const breaker = make({ failMax: 100 });
      const outcomes: unknown[] = [
        true,
        undefined,
        false,
        Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
        new TypeError('bad'),
        { status: 'unhealthy' },
        { status: 'healthy' },
        { status: 'unknown' },
        42,
        'yes',
        null,
        { ok: true },
      ];
      const counts = outcomes.map((outcome) => {
        // What an untyped caller can pass; the types admit only the handled kinds (see the type test below).
        breaker.recordResult(outcome as boolean);
        return breaker.getState().failureCount;
      });
      assert.deepEqual(counts, [0, 0, 1, 2, 3, 4, 0, 0, 1, 2, 3, 4]);
      assert.deepEqual(
        fake.failures.map(([, type]) => type),
        ['check_failed', 'ECONNREFUSED', 'TypeError', 'unhealthy', 'invalid_result', 'invalid_result', 'invalid_result', 'invalid_result'],
      );
    });
  });

  describe('recordResult types', () => {
    it('accept a boolean, nothing, an Error or a PluginHealth, and nothing else', () => {
      const breaker = make({ failMax: 100 });
      breaker.recordResult(true);
      breaker.recordResult(undefined);
      breaker.recordResult(new Error('x'));
      breaker.recordResult({ status: 'degraded' });
      // @ts-expect-error a string is not an outcome: recordResult('yes') must not compile
      breaker.recordResult('yes');
      // @ts-expect-error nor is a number
      breaker.recordResult(1);
      // At run time an untyped caller's string still counts as an invalid result.
      assert.equal(fake.failures.at(-1)?.[1], 'invalid_result');
    });
  });

  describe('errorTypeOf', () => {
    it('prefers a code, then timeouts, then the class name, then unhealthy, else other', () => {
      assert.equal(errorTypeOf(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'ECONNRESET');
      assert.equal(errorTypeOf(new TimeoutError('p', 10)), 'timeout');
      assert.equal(errorTypeOf(new DOMException('signal timed out', 'TimeoutError')), 'timeout');
      assert.equal(errorTypeOf(new DOMException('aborted', 'AbortError')), 'AbortError');
      assert.equal(errorTypeOf(new SyntaxError('x')), 'SyntaxError');
      assert.equal(errorTypeOf(new (class PluginCrashed extends Error {})('x')), 'PluginCrashed');
      assert.equal(errorTypeOf({ status: 'unhealthy' }), 'unhealthy');
      assert.equal(errorTypeOf('text'), 'other');
      assert.equal(errorTypeOf(undefined), 'other');
      assert.equal(errorTypeOf(Object.assign(new Error('x'), { code: 'weird code!' })), 'weird_code');
    });
  });

  describe('timeouts and signals', () => {
    it('fails a call that outlives its timeout and aborts only that call', async () => {
      const breaker = make({ failMax: 10 });
      const signals: AbortSignal[] = [];
      const slow = breaker.execute(
        (signal) => {
          signals.push(signal);
          return never();
        },
        { timeoutMs: 100 },
      );
      const fast = breaker.execute(
        (signal) => {
          signals.push(signal);
          return new Promise((resolve) => setTimeout(resolve, 50, 'fast'));
        },
        { timeoutMs: 1_000 },
      );
      mock.timers.tick(50);
      assert.equal(await fast, 'fast');
      mock.timers.tick(50);
      const error = await slow.catch((e: unknown) => e);
      assert.ok(error instanceof TimeoutError);
      assert.equal(error.code, 'ETIMEDOUT');
      assert.equal(error.name, 'TimeoutError');
      assert.equal(error.timeoutMs, 100);
      assert.equal(signals[0]?.aborted, true);
      assert.equal(signals[0]?.reason, error);
      assert.equal(signals[1]?.aborted, false, 'the other call keeps its signal');
      assert.equal(breaker.getState().failureCount, 1);
      assert.deepEqual(fake.failures, [['discord', 'timeout']]);
    });

    it('applies the breaker-wide timeoutMs to every call', async () => {
      const breaker = make({ timeoutMs: 200, failMax: 2 });
      const a = breaker.execute(never);
      const b = breaker.execute(never);
      mock.timers.tick(200);
      await assert.rejects(a, TimeoutError);
      await assert.rejects(b, TimeoutError);
      assert.equal(breaker.getState().state, 'OPEN');
    });

    it("aborts the call's signal when the caller's signal aborts, and counts nothing", async () => {
      const breaker = make();
      const controller = new AbortController();
      let seen: AbortSignal | undefined;
      const call = breaker.execute(
        (signal) => {
          seen = signal;
          return never();
        },
        { signal: controller.signal },
      );
      assert.notEqual(seen, controller.signal);
      controller.abort(new Error('client left'));
      await assert.rejects(call, { message: 'client left' });
      assert.equal(seen?.aborted, true);
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 0 });
      assert.deepEqual(fake.failures, []);
    });

    it('rejects at once, without calling the function, when the caller signal is already aborted', async () => {
      const breaker = make();
      let called = false;
      const call = breaker.execute(
        async () => {
          called = true;
        },
        { signal: AbortSignal.abort(new Error('already')) },
      );
      await assert.rejects(call, { message: 'already' });
      assert.equal(called, false);
    });

    it('removes its listener from the caller signal and clears its timer when a call ends', async () => {
      const breaker = make();
      const controller = new AbortController();
      await breaker.execute(ok, { signal: controller.signal, timeoutMs: 1_000 });
      assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
      assert.equal(breaker.getState().failureCount, 0);
      mock.timers.tick(1_000);
      assert.equal(breaker.getState().failureCount, 0, 'the cleared timer did not fire');
    });

    it('rejects bad per-call options without counting them', async () => {
      const breaker = make();
      await assert.rejects(breaker.execute(ok, { timeoutMs: -1 }), { name: 'RangeError', message: /"timeoutMs"/ });
      await assert.rejects(breaker.execute(ok, { signal: {} as AbortSignal }), { name: 'TypeError', message: /"signal"/ });
      await assert.rejects(breaker.execute(ok, { retries: 2 } as never), { name: 'TypeError', message: /unknown execute option "retries"/ });
      assert.equal(breaker.getState().failureCount, 0);
    });
  });

  describe('backoff on repeated openings (resetBackoffFactor, maxResetTimeoutMs)', () => {
    it('waits longer after each failed trial, up to the cap, and starts over after a successful one', () => {
      const { tracer, exporter } = tracing();
      const breaker = make({ resetTimeoutMs: 10_000, resetBackoffFactor: 2, maxResetTimeoutMs: 35_000, tracer });
      const waits: number[] = [];
      breaker.on('transition', (c) => c.to === 'OPEN' && waits.push(c.resetTimeoutMs!));
      open(breaker);
      for (let round = 0; round < 4; round += 1) {
        const { nextAttemptAt } = breaker.getState();
        mock.timers.tick(nextAttemptAt! - Date.now() - 1);
        assert.equal(breaker.getState().state, 'OPEN', 'not a millisecond early');
        mock.timers.tick(1);
        assert.equal(breaker.getState().state, 'HALF_OPEN');
        breaker.tryAcquire()!.failure(new Error('still down'));
      }
      assert.deepEqual(waits, [10_000, 20_000, 35_000, 35_000, 35_000]);
      mock.timers.tick(35_000);
      breaker.tryAcquire()!.success();
      open(breaker);
      assert.equal(breaker.getState().nextAttemptAt! - Date.now(), 10_000, 'a successful trial starts over');
      const opened = exporter.getFinishedSpans().flatMap((s) => s.events).filter((e) => e.attributes?.['circuit_breaker.to'] === 'OPEN');
      assert.deepEqual(opened.map((e) => e.attributes?.['circuit_breaker.reset_timeout_ms']), [10_000, 20_000, 35_000, 35_000, 35_000, 10_000]);
    });

    it('is off by default: every opening waits resetTimeoutMs', () => {
      const breaker = make({ resetTimeoutMs: 1_000 });
      open(breaker);
      for (let i = 0; i < 3; i += 1) {
        mock.timers.tick(1_000);
        breaker.tryAcquire()!.failure(new Error('down'));
        assert.equal(breaker.getState().nextAttemptAt! - Date.now(), 1_000);
      }
    });

    it('refuses a factor below 1, naming it', () => {
      assert.throws(() => make({ resetBackoffFactor: 0.5 }), { name: 'RangeError', message: /"resetBackoffFactor" must be a finite number >= 1 <= 1000, got 0\.5/ });
    });
  });

  describe('a longer lease for a caller that bounds its own call (tryAcquire({ leaseMs }))', () => {
    it('holds the trial for leaseMs when it is longer than halfOpenTimeoutMs, never shorter', () => {
      const breaker = make({ halfOpenTimeoutMs: 100 });
      halfOpen(breaker);
      const trial = breaker.tryAcquire({ leaseMs: 400 })!;
      mock.timers.tick(399);
      assert.equal(breaker.getState().state, 'HALF_OPEN', 'the lease did not end it');
      assert.equal(trial.success(), true);
      assert.equal(breaker.getState().state, 'CLOSED');
      const short = make({ halfOpenTimeoutMs: 100 });
      halfOpen(short);
      short.tryAcquire({ leaseMs: 10 });
      mock.timers.tick(100);
      assert.equal(short.getState().state, 'OPEN', 'a shorter lease is the breaker\'s own');
    });
  });

  describe('a hostile caller', () => {
    /** Errors every read of which may throw: a getter of code, name or constructor, a revoked Proxy. */
    function hostileErrors(): unknown[] {
      const throwing = (key: string) => Object.defineProperty(new Error('x'), key, { get: () => { throw new Error(`${key} getter`); } });
      const revoked = Proxy.revocable(new Error('x'), {});
      revoked.revoke();
      return [throwing('code'), throwing('name'), throwing('constructor'), revoked.proxy];
    }

    it('counts a hostile failure handed to a permit, recordFailure() or thrown by execute()\'s function, and hands the caller its own error back', async () => {
      for (const error of hostileErrors()) {
        const viaPermit = make({ failMax: 1 });
        assert.equal(viaPermit.tryAcquire()!.failure(error), true);
        const viaRecord = make({ failMax: 1 });
        viaRecord.recordFailure(error);
        const viaExecute = make({ failMax: 1 });
        // Boxed and compared by identity: resolving with a revoked Proxy reads its `then`, which it refuses.
        const rejection = (call: Promise<unknown>) => call.then(() => ({ e: 'resolved' as unknown }), (e: unknown) => ({ e }));
        assert.ok((await rejection(viaExecute.execute(() => { throw error; }))).e === error);
        const viaRejection = make({ failMax: 1, timeoutMs: 1_000 });
        assert.ok((await rejection(viaRejection.execute(() => Promise.reject(error)))).e === error);
        assert.deepEqual([viaPermit, viaRecord, viaExecute, viaRejection].map((b) => b.getState().state), ['OPEN', 'OPEN', 'OPEN', 'OPEN']);
      }
    });

    it('settles a half-open trial at once with a hostile failure, rather than leaving it claimed until the lease', () => {
      for (const error of hostileErrors()) {
        const breaker = make();
        halfOpen(breaker);
        const trial = breaker.tryAcquire()!;
        assert.equal(trial.failure(error), true);
        assert.equal(breaker.getState().state, 'OPEN');
      }
    });

    it('rejects (never throws) when the value returned has a then getter that throws, and counts the failure', async () => {
      const getterError = new Error('then getter');
      const hostile = Object.defineProperty({}, 'then', { get: () => { throw getterError; } });
      for (const options of [undefined, { timeoutMs: 1_000 }]) {
        const breaker = make({ failMax: 1 });
        let call: Promise<unknown> | undefined;
        assert.doesNotThrow(() => (call = breaker.execute(() => hostile as never, options)));
        await assert.rejects(call!, (e) => e === getterError);
        assert.equal(breaker.getState().state, 'OPEN');
      }
      const thrower = make({ failMax: 1, timeoutMs: 1_000 });
      const throwingThen = { then: () => { throw getterError; } };
      await assert.rejects(thrower.execute(() => throwingThen as never), (e) => e === getterError);
      assert.equal(thrower.getState().state, 'OPEN');
    });

    it('records a hostile result as a failure, and refuses a hostile plugin health in its own words', () => {
      const revoked = Proxy.revocable({}, {});
      revoked.revoke();
      const breaker = make({ failMax: 1 });
      assert.doesNotThrow(() => breaker.recordResult(revoked.proxy as never));
      assert.equal(breaker.getState().state, 'OPEN');
      assert.throws(() => make().recordPluginHealth(revoked.proxy as never), { name: 'TypeError', code: 'EOPTIONTYPE', message: /recordPluginHealth\(\) needs .*got an object/ });
    });
  });

  describe('forceOpen and reset', () => {
    it('forceOpen opens a closed breaker for a full reset timeout, keeping the count', () => {
      const breaker = make();
      breaker.recordFailure();
      breaker.forceOpen();
      assert.deepEqual(breaker.getState(), {
        platform: 'discord',
        state: 'OPEN',
        failureCount: 1,
        openedAt: 1_000_000,
        nextAttemptAt: 1_030_000,
      });
    });

    it('forceOpen from HALF_OPEN drops the claimed trial quietly', async () => {
      const breaker = make();
      halfOpen(breaker);
      let finish!: (v: string) => void;
      const trial = breaker.execute(() => new Promise<string>((resolve) => (finish = resolve)));
      breaker.forceOpen();
      assert.equal(breaker.getState().state, 'OPEN');
      finish('late');
      assert.equal(await trial, 'late');
      assert.equal(breaker.getState().state, 'OPEN', 'the dropped trial does not close it');
    });

    it('forceOpen does nothing when already open', () => {
      const breaker = make();
      open(breaker);
      mock.timers.tick(10_000);
      breaker.forceOpen();
      assert.equal(breaker.getState().nextAttemptAt, 1_030_000);
    });

    it('reset closes an open breaker, zeroes the count, and its old timer never fires', () => {
      const breaker = make();
      const changes: string[] = [];
      breaker.on('transition', (c) => changes.push(`${c.from}>${c.to}`));
      open(breaker);
      breaker.reset();
      assert.deepEqual(breaker.getState(), { platform: 'discord', state: 'CLOSED', failureCount: 0 });
      mock.timers.tick(60_000);
      assert.deepEqual(changes, ['CLOSED>OPEN', 'OPEN>CLOSED']);
    });

    it('reset drops a claimed half-open trial', () => {
      const breaker = make();
      halfOpen(breaker);
      assert.equal(breaker.canExecute(), true);
      breaker.reset();
      assert.equal(breaker.getState().state, 'CLOSED');
      breaker.recordFailure();
      assert.equal(breaker.getState().failureCount, 1);
    });
  });

  describe("on('transition')", () => {
    it('tells listeners the platform, both states, the count and the time, until they unsubscribe', () => {
      const breaker = make();
      const changes: BreakerStateChange[] = [];
      const unsubscribe = breaker.on('transition', (c) => changes.push(c));
      open(breaker);
      mock.timers.tick(30_000);
      breaker.recordSuccess();
      unsubscribe();
      unsubscribe();
      breaker.forceOpen();
      assert.deepEqual(changes, [
        { platform: 'discord', from: 'CLOSED', to: 'OPEN', failureCount: 3, at: 1_000_000, resetTimeoutMs: 30_000 },
        { platform: 'discord', from: 'OPEN', to: 'HALF_OPEN', failureCount: 3, at: 1_030_000 },
        { platform: 'discord', from: 'HALF_OPEN', to: 'CLOSED', failureCount: 0, at: 1_030_000 },
      ]);
    });

    it('survives a listener that throws, logs it, and still calls the others', () => {
      const warnings: object[] = [];
      const logger: Logger = { debug() {}, info() {}, warn: (obj) => void warnings.push(obj), error() {} };
      const breaker = make({ logger });
      let called = 0;
      breaker.on('transition', () => {
        throw new Error('listener bug');
      });
      breaker.on('transition', () => called++);
      open(breaker);
      assert.equal(called, 1);
      assert.equal(warnings.length, 1);
      assert.equal(breaker.getState().state, 'OPEN');
    });

    it('rejects a listener that is not a function', () => {
      assert.throws(() => make().on('transition', 'x' as never), { name: 'TypeError', message: /"listener"/ });
    });
  });

  describe('shutdown', () => {
    it('is idempotent and leaves a breaker that refuses everything', async () => {
      const breaker = make();
      breaker.shutdown();
      breaker.shutdown();
      assert.equal(breaker.canExecute(), false);
      const error = await breaker.execute(ok).catch((e: unknown) => e);
      assert.ok(error instanceof BreakerShutdownError);
      assert.equal(error.code, 'EBREAKERSHUTDOWN');
      assert.match(error.message, /breaker for platform "discord" is shut down/);
      breaker.recordFailure();
      breaker.forceOpen();
      assert.equal(breaker.getState().state, 'CLOSED');
    });

    it('aborts calls in flight that own a timer, and no transition happens afterwards', async () => {
      const breaker = make();
      const changes: string[] = [];
      breaker.on('transition', (c) => changes.push(c.to));
      let seen: AbortSignal | undefined;
      const call = breaker.execute(
        (signal) => {
          seen = signal;
          return never();
        },
        { timeoutMs: 5_000 },
      );
      open(breaker);
      breaker.shutdown();
      await assert.rejects(call, BreakerShutdownError);
      assert.equal(seen?.aborted, true);
      mock.timers.tick(60_000);
      assert.deepEqual(changes, ['OPEN']);
    });

    it('leaves no handle that keeps the process alive (a child process exits by itself)', { timeout: 30_000 }, async () => {
      // Real timers here: the child runs on its own clock.
      useRealClock();
      const { code, stdout, stderr, timedOut } = await runChild([]);
      assert.equal(timedOut, false, `the child did not exit within 20 s; stdout: ${stdout}`);
      assert.equal(stderr, '');
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), {
        states: ['OPEN', 'OPEN', 'HALF_OPEN', 'CLOSED'],
        rejections: ['BreakerShutdownError', 'BreakerShutdownError'],
      });
    });

    it('would notice a breaker left running (the exit check is not vacuous)', { timeout: 30_000 }, async () => {
      useRealClock();
      const { timedOut } = await runChild(['--leak'], 1_500);
      assert.equal(timedOut, true, 'a breaker that was not shut down keeps the child alive');
    });
  });

  describe('telemetry', () => {
    it('records a short circuit_breaker.transition span per transition when no span is active', () => {
      const { tracer, exporter } = tracing();
      const breaker = make({ tracer });
      open(breaker);
      mock.timers.tick(30_000);
      breaker.recordSuccess();
      const spans = exporter.getFinishedSpans();
      assert.deepEqual(
        spans.map((s) => s.name),
        ['circuit_breaker.transition', 'circuit_breaker.transition', 'circuit_breaker.transition'],
      );
      assert.deepEqual(
        spans.map((s) => s.events.map((e) => [e.name, e.attributes])),
        [
          [['circuit_breaker.state_change', transitionAttrs('CLOSED', 'OPEN', 3)]],
          [['circuit_breaker.state_change', transitionAttrs('OPEN', 'HALF_OPEN', 3)]],
          [['circuit_breaker.state_change', transitionAttrs('HALF_OPEN', 'CLOSED', 0)]],
        ],
      );
      assert.equal(spans[0]?.attributes['circuit_breaker.platform'], 'discord');
    });

    it('adds the state_change and rejected events to the active span instead', () => {
      const { tracer, exporter } = tracing();
      const manager = new AsyncLocalStorageContextManager().enable();
      context.setGlobalContextManager(manager);
      try {
        const breaker = make({ tracer });
        tracer.startActiveSpan('health_check', (span) => {
          open(breaker);
          assert.equal(breaker.canExecute(), false);
          span.end();
        });
        tracer.startActiveSpan('call', (span) => {
          void breaker.execute(ok).catch(() => {});
          span.end();
        });
      } finally {
        context.disable();
      }
      const spans = exporter.getFinishedSpans();
      assert.deepEqual(
        spans.map((s) => s.name),
        ['health_check', 'call'],
        'no separate transition span',
      );
      const events = (span: ReadableSpan | undefined) => span?.events.map((e) => [e.name, e.attributes]);
      assert.deepEqual(events(spans[0]), [
        ['circuit_breaker.state_change', transitionAttrs('CLOSED', 'OPEN', 3)],
        ['circuit_breaker.rejected', { 'circuit_breaker.platform': 'discord', 'circuit_breaker.state': 'OPEN' }],
      ]);
      assert.deepEqual(events(spans[1]), [['circuit_breaker.rejected', { 'circuit_breaker.platform': 'discord', 'circuit_breaker.state': 'OPEN' }]]);
    });

    it('keeps exactly one of the three circuit_breaker_state series at 1, from construction on', async () => {
      const reader = new TestReader();
      const provider = new MeterProvider({ readers: [reader] });
      const breaker = new PlatformCircuitBreaker('slack', { meter: provider.getMeter('test') });
      breakers.push(breaker);
      const ones = async (): Promise<string[]> => {
        const values = await collect(reader, 'circuit_breaker_state');
        assert.equal(Object.keys(values).length, 3, JSON.stringify(values));
        assert.deepEqual(Object.values(values).sort(), [0, 0, 1]);
        return Object.entries(values)
          .filter(([, v]) => v === 1)
          .map(([k]) => k);
      };
      assert.deepEqual(await ones(), ['slack/closed']);
      open(breaker);
      assert.deepEqual(await ones(), ['slack/open']);
      mock.timers.tick(30_000);
      assert.deepEqual(await ones(), ['slack/half_open']);
      breaker.recordFailure();
      assert.deepEqual(await ones(), ['slack/open']);
      mock.timers.setTime(Date.now() + 30_000);
      breaker.getState();
      assert.deepEqual(await ones(), ['slack/half_open']);
      breaker.recordSuccess();
      assert.deepEqual(await ones(), ['slack/closed']);
      await provider.shutdown();
    });

    it('counts failures in plugin_failure_total by platform and error type', async () => {
      const reader = new TestReader();
      const provider = new MeterProvider({ readers: [reader] });
      const breaker = new PlatformCircuitBreaker('slack', { meter: provider.getMeter('test'), failMax: 10 });
      breakers.push(breaker);
      breaker.recordFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }));
      breaker.recordFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }));
      breaker.recordResult({ status: 'unhealthy' });
      const call = breaker.execute(never, { timeoutMs: 10 });
      mock.timers.tick(10);
      await assert.rejects(call, TimeoutError);
      breaker.recordSuccess();
      assert.deepEqual(await collect(reader, 'plugin_failure_total'), {
        'slack/ECONNREFUSED': 2,
        'slack/unhealthy': 1,
        'slack/timeout': 1,
      });
      await provider.shutdown();
    });
  });
});

/** A state_change event's attributes; an opening also says how long it waits (`resetTimeoutMs` 30 s, no backoff). */
function transitionAttrs(from: string, to: string, failures: number): Record<string, unknown> {
  return {
    'circuit_breaker.platform': 'discord',
    'circuit_breaker.from': from,
    'circuit_breaker.to': to,
    'circuit_breaker.consecutive_failures': failures,
    ...(to === 'OPEN' ? { 'circuit_breaker.reset_timeout_ms': 30_000 } : {}),
  };
}

/** Runs the exit fixture; `timedOut` when it had to be killed after `limitMs`. */
async function runChild(args: string[], limitMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const { code, stdout, stderr, exitedByItself } = await runNode(FIXTURE, { args, safetyMs: limitMs });
  return { code, stdout, stderr, timedOut: !exitedByItself };
}
