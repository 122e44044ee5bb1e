// Model-based test: random steps applied both to a PlatformCircuitBreaker and
// to a few lines that restate the specification; any divergence fails with
// the seed. Replay one: SEED=123 node --test test/circuit-breaker-model.test.ts
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { BreakerTimeoutError, CircuitOpenError, PlatformCircuitBreaker, type BreakerSnapshot, type BreakerState } from '../src/circuit-breaker.ts';
import type { HealthMetrics } from '../src/metrics.ts';
import type { PluginHealthStatus } from '../src/plugins.ts';
import { prng } from './helpers/random.ts';

const SEED = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(process.env.SEED);
const STEPS_PER_CONFIG = 4_000;

/** The semantics of the issue, with no opossum and no timers: time is a number. */
class Model {
  state: BreakerState = 'CLOSED';
  count = 0;
  openedAt: number | undefined;
  nextAt: number | undefined;
  claimed = false;
  failuresBooked = 0;
  now: number;
  readonly failMax: number;
  readonly resetMs: number;

  constructor(failMax: number, resetMs: number, now: number) {
    this.failMax = failMax;
    this.resetMs = resetMs;
    this.now = now;
  }

  /** An OPEN breaker is HALF_OPEN from its deadline on, timer or no timer. */
  derive(): BreakerState {
    if (this.state === 'OPEN' && this.now >= (this.nextAt as number)) {
      this.state = 'HALF_OPEN';
      this.claimed = false;
    }
    return this.state;
  }

  private open(): void {
    this.state = 'OPEN';
    this.openedAt = this.now;
    this.nextAt = this.now + this.resetMs;
    this.claimed = false;
  }

  private close(): void {
    this.state = 'CLOSED';
    this.count = 0;
    this.openedAt = this.nextAt = undefined;
    this.claimed = false;
  }

  /** A call's verdict; in HALF_OPEN it is the trial's. */
  verdict(ok: boolean): void {
    const state = this.derive();
    if (state === 'OPEN') return;
    if (ok) {
      if (state === 'HALF_OPEN') this.close();
      else this.count = 0;
    } else {
      this.count++;
      if (state === 'HALF_OPEN' || this.count >= this.failMax) this.open();
    }
  }

  /** Whether a call is allowed; in HALF_OPEN the first one claims the trial. */
  admit(): boolean {
    const state = this.derive();
    if (state === 'CLOSED') return true;
    if (state === 'HALF_OPEN' && !this.claimed) return (this.claimed = true);
    return false;
  }

  /** A trial that ended without a verdict goes back to the next caller. */
  release(): void {
    if (this.derive() === 'HALF_OPEN') this.claimed = false;
  }

  forceOpen(): void {
    if (this.derive() !== 'OPEN') this.open();
  }

  reset(): void {
    this.derive();
    this.close();
  }

  snapshot(platform: string): BreakerSnapshot {
    const s: BreakerSnapshot = { platform, state: this.derive(), failureCount: this.count };
    if (this.openedAt !== undefined) s.openedAt = this.openedAt;
    if (this.nextAt !== undefined) s.nextAttemptAt = this.nextAt;
    return s;
  }
}

type Outcome = 'ok' | 'failed' | 'open' | 'timeout' | 'aborted';

describe('PlatformCircuitBreaker against a reference model', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_700_000_000_000 }));
  afterEach(() => mock.timers.reset());

  const configs = [
    { failMax: 3, resetTimeoutMs: 30_000 },
    { failMax: 1, resetTimeoutMs: 1_000 },
    { failMax: 2, resetTimeoutMs: 0 },
    { failMax: 5, resetTimeoutMs: 7 },
    { failMax: 4, resetTimeoutMs: 250 },
  ];

  for (const [index, config] of configs.entries()) {
    it(`agrees for ${STEPS_PER_CONFIG} random steps with failMax ${config.failMax}, resetTimeoutMs ${config.resetTimeoutMs}`, async () => {
      const seed = (SEED + index) >>> 0;
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      let failuresBooked = 0;
      let lastLabel = 'closed';
      const metrics = {
        setBreakerState: (_platform: string, label: string) => void (lastLabel = label),
        recordPluginFailure: () => void failuresBooked++,
      } as unknown as HealthMetrics;
      const breaker = new PlatformCircuitBreaker('model', { ...config, metrics });
      const model = new Model(config.failMax, config.resetTimeoutMs, Date.now());
      const transitions: [BreakerState, BreakerState][] = [];
      breaker.onStateChange((c) => void transitions.push([c.from, c.to]));
      const history: string[] = [];
      const where = (step: number) =>
        `seed ${seed} (replay: SEED=${SEED} node --test test/circuit-breaker-model.test.ts), step ${step}, last steps:\n  ${history.slice(-15).join('\n  ')}`;

      const advance = (ms: number, starve: boolean): void => {
        model.now += ms;
        // A starved event loop: the clock moves but no timer runs.
        if (starve) mock.timers.setTime(Date.now() + ms);
        else mock.timers.tick(ms);
      };
      const expectCall = async (label: string, call: () => Promise<unknown>, expected: Outcome, after?: () => void): Promise<void> => {
        const settled = call().then(
          () => 'ok' as Outcome,
          (e: unknown): Outcome =>
            e instanceof CircuitOpenError ? 'open' : e instanceof BreakerTimeoutError ? 'timeout' : e === ABORT ? 'aborted' : 'failed',
        );
        after?.();
        const actual = await settled;
        if (actual !== expected) assert.fail(`${label}: got ${actual}, model says ${expected}; ${where(history.length)}`);
      };
      const ABORT = new Error('caller gave up');
      const healthOf = (status: PluginHealthStatus) => ({ status });

      try {
        for (let step = 0; step < STEPS_PER_CONFIG; step++) {
          const r = random();
          let op: string;
          if (r < 0.12) {
            op = 'recordSuccess';
            breaker.recordSuccess();
            model.verdict(true);
          } else if (r < 0.24) {
            op = 'recordFailure';
            breaker.recordFailure(new Error('down'));
            model.failuresBooked++;
            model.verdict(false);
          } else if (r < 0.36) {
            op = 'canExecute';
            const actual = breaker.canExecute();
            const expected = model.admit();
            if (actual !== expected) assert.fail(`canExecute: got ${actual}, model says ${expected}; ${where(step)}`);
          } else if (r < 0.5) {
            const ms = pick([0, 1, config.resetTimeoutMs, Math.max(0, config.resetTimeoutMs - 1), Math.floor(random() * config.resetTimeoutMs * 1.5),
              model.nextAt === undefined ? 3 : Math.max(0, model.nextAt - model.now), model.nextAt === undefined ? 5 : Math.max(0, model.nextAt - model.now - 1)]);
            const starve = random() < 0.3;
            op = `${starve ? 'starve' : 'advance'} ${ms}`;
            advance(ms, starve);
          } else if (r < 0.66) {
            const kind = pick(['resolve', 'reject', 'throw', 'throwValue', 'notPromise'] as const);
            op = `execute ${kind}`;
            const allowed = model.admit();
            const success = kind === 'resolve';
            if (allowed) {
              if (!success) model.failuresBooked++;
              model.verdict(success);
            }
            await expectCall(
              op,
              () =>
                breaker.execute(() => {
                  if (kind === 'resolve') return Promise.resolve(1);
                  if (kind === 'reject') return Promise.reject(new Error('no'));
                  if (kind === 'throw') throw new TypeError('sync');
                  if (kind === 'throwValue') throw 'a string';
                  return 42 as never;
                }),
              allowed ? (success ? 'ok' : 'failed') : 'open',
            );
          } else if (r < 0.72) {
            const ms = pick([1, 5, 50]);
            op = `execute timing out after ${ms}`;
            const allowed = model.admit();
            model.now += ms;
            if (allowed) {
              model.failuresBooked++;
              model.verdict(false);
            }
            await expectCall(op, () => breaker.execute(() => new Promise(() => {}), { timeoutMs: ms }), allowed ? 'timeout' : 'open', () => mock.timers.tick(ms));
          } else if (r < 0.77) {
            op = 'execute abandoned by the caller';
            const allowed = model.admit();
            if (allowed) model.release();
            const controller = new AbortController();
            await expectCall(op, () => breaker.execute(() => new Promise(() => {}), { signal: controller.signal }), allowed ? 'aborted' : 'open', () =>
              controller.abort(ABORT),
            );
          } else if (r < 0.89) {
            const status = pick(['healthy', 'degraded', 'unhealthy', 'unknown'] as const);
            op = `recordPluginHealth ${status}`;
            breaker.recordPluginHealth(healthOf(status));
            if (status === 'unknown') model.release();
            else {
              if (status === 'unhealthy') model.failuresBooked++;
              model.verdict(status !== 'unhealthy');
            }
          } else if (r < 0.95) {
            const outcome = pick([true, false, undefined, null, 7, 'x', new RangeError('r'), healthOf('unhealthy'), healthOf('unknown'), healthOf('healthy')]);
            op = `recordResult ${outcome instanceof Error ? 'RangeError' : JSON.stringify(outcome)}`;
            breaker.recordResult(outcome);
            if (outcome === true || outcome === undefined) model.verdict(true);
            else if (typeof outcome === 'object' && outcome !== null && 'status' in outcome) {
              if (outcome.status === 'unknown') model.release();
              else {
                if (outcome.status === 'unhealthy') model.failuresBooked++;
                model.verdict(outcome.status === 'healthy');
              }
            } else {
              model.failuresBooked++;
              model.verdict(false);
            }
          } else if (r < 0.975) {
            op = 'forceOpen';
            breaker.forceOpen();
            model.forceOpen();
          } else {
            op = 'reset';
            breaker.reset();
            model.reset();
          }
          history.push(`${step}: ${op}`);
          // Not every step looks: a starved timer must also be caught up by the next action, not only by getState().
          if (random() < 0.75 || step === STEPS_PER_CONFIG - 1) {
            const expected = model.snapshot('model');
            assert.deepEqual(breaker.getState(), expected, where(step));
            const label = { CLOSED: 'closed', OPEN: 'open', HALF_OPEN: 'half_open' }[expected.state];
            assert.equal(lastLabel, label, `gauge: ${where(step)}`);
            assert.equal(failuresBooked, model.failuresBooked, `plugin_failure_total: ${where(step)}`);
            // Transitions form one chain ending in the current state.
            const last = transitions.at(-1);
            if (last !== undefined) assert.equal(last[1], expected.state, `last transition: ${where(step)}`);
          }
        }
        for (let i = 1; i < transitions.length; i++) {
          assert.equal(transitions[i]?.[0], transitions[i - 1]?.[1], `transition ${i} does not start where ${i - 1} ended; ${where(STEPS_PER_CONFIG)}`);
          assert.notEqual(transitions[i]?.[0], transitions[i]?.[1]);
        }
        assert.ok(transitions.length > 20, `only ${transitions.length} transitions: the walk barely moved (seed ${seed})`);
      } finally {
        breaker.shutdown();
      }
    });
  }
});
