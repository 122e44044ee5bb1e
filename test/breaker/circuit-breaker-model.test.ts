// Concurrent model test: random programs of overlapping calls run against a
// PlatformCircuitBreaker and against a few lines that restate the
// specification (periods and permits, time as a number). Calls are acquired
// and settled in any order, with the fake clock moving in between, so an
// outcome can arrive after its period ended. After every step the two must
// agree on the state, the count, the times, the transitions, the failures
// counted and what every permit call returned.
//
// fast-check generates the programs from a fixed seed and shrinks a failing
// one to the shortest it can find. Replay: SEED=123 node --test test/circuit-breaker-model.test.ts
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PlatformCircuitBreaker } from '../../src/breaker/circuit-breaker.ts';
import { BreakerShutdownError, CircuitOpenError } from '../../src/breaker/errors.ts';
import type { BreakerPermit } from '../../src/breaker/permit.ts';
import type { BreakerSnapshot } from '../../src/breaker/state.ts';
import type { BreakerState } from '../../src/core/breaker-state.ts';
import type { HealthMetrics } from '../../src/core/metrics.ts';
import { useFakeClock, useRealClock } from '../helpers/clock.ts';

const SEED = process.env.SEED === undefined ? 20_261_128 : Number(process.env.SEED);
const RUNS = 10_000;
const MAX_STEPS = 40;

type Verdict = 'success' | 'failure' | 'release';
type Transition = [BreakerState, BreakerState, number];

/** A permit as the specification sees it: its period, and whether it holds the trial. */
interface ModelPermit {
  generation: number;
  trial: boolean;
  settled: boolean;
}

/** The specification, with no opossum and no timers. */
class Model {
  state: BreakerState = 'CLOSED';
  count = 0;
  openedAt: number | undefined;
  nextAt: number | undefined;
  /** The period: a new one at every transition and at reset(). */
  generation = 0;
  /** Who holds the half-open trial: a permit, or a canExecute() caller. */
  trialHolder: ModelPermit | 'anonymous' | undefined;
  trialDeadline = 0;
  shut = false;
  failures = 0;
  transitions: Transition[] = [];
  now: number;
  /** Openings in a row since the last close: the backoff's exponent. */
  openings = 0;
  readonly failMax: number;
  readonly resetMs: number;
  readonly leaseMs: number;
  readonly factor: number;
  readonly capMs: number;

  constructor(config: Config, now: number) {
    this.failMax = config.failMax;
    this.resetMs = config.resetTimeoutMs;
    this.leaseMs = config.halfOpenTimeoutMs;
    this.factor = config.resetBackoffFactor;
    this.capMs = config.maxResetTimeoutMs;
    this.now = now;
  }

  /** Time-driven changes, whether a timer ran or not: a trial past its lease fails, an OPEN breaker past its reset time is HALF_OPEN. */
  derive(): BreakerState {
    if (this.shut) return this.state;
    if (this.trialHolder !== undefined && this.now >= this.trialDeadline) this.verdict(false);
    if (this.state === 'OPEN' && this.now >= (this.nextAt as number)) this.enter('HALF_OPEN');
    return this.state;
  }

  private enter(to: BreakerState): void {
    if (to === 'OPEN') {
      this.openings++;
      this.openedAt = this.now;
      // The n-th opening in a row waits reset × factor^(n-1), capped, never under reset.
      this.nextAt = this.now + Math.max(this.resetMs, Math.min(this.capMs, this.resetMs * this.factor ** (this.openings - 1)));
    } else if (to === 'CLOSED') {
      this.count = 0;
      this.openings = 0;
      this.openedAt = this.nextAt = undefined;
    }
    this.transitions.push([this.state, to, this.count]);
    this.state = to;
    this.generation++;
    this.trialHolder = undefined;
  }

  /** A verdict on the current period: CLOSED counts, HALF_OPEN decides the trial. */
  private verdict(ok: boolean): void {
    if (this.state === 'CLOSED') {
      if (ok) this.count = 0;
      else if (++this.count >= this.failMax) this.enter('OPEN');
    } else if (this.state === 'HALF_OPEN') {
      if (ok) this.enter('CLOSED');
      else {
        this.count++;
        this.enter('OPEN');
      }
    }
  }

  private claim(holder: ModelPermit | 'anonymous', leaseMs = 0): boolean {
    if (this.state !== 'HALF_OPEN' || this.trialHolder !== undefined) return false;
    this.trialHolder = holder;
    this.trialDeadline = this.now + Math.max(this.leaseMs, leaseMs);
    return true;
  }

  acquire(leaseMs?: number): ModelPermit | undefined {
    if (this.shut) return undefined;
    const state = this.derive();
    const permit: ModelPermit = { generation: this.generation, trial: state === 'HALF_OPEN', settled: false };
    if (state === 'CLOSED' || this.claim(permit, leaseMs)) return permit;
    return undefined;
  }

  settle(permit: ModelPermit, verdict: Verdict): boolean {
    if (permit.settled) return false;
    permit.settled = true;
    if (this.shut) return false;
    if (verdict === 'failure') this.failures++;
    if (permit.trial) this.derive();
    const current = permit.generation === this.generation && (!permit.trial || this.trialHolder === permit);
    if (!current) return false;
    if (verdict === 'release') {
      if (permit.trial) this.trialHolder = undefined;
    } else {
      this.verdict(verdict === 'success');
    }
    return true;
  }

  canExecute(): boolean {
    if (this.shut) return false;
    const state = this.derive();
    return state === 'CLOSED' || this.claim('anonymous');
  }

  /** recordSuccess()/recordFailure(): no identity, so it applies to the period the breaker is in now. */
  record(ok: boolean): void {
    if (this.shut) return;
    if (!ok) this.failures++;
    const state = this.derive();
    if (state === 'HALF_OPEN' && this.trialHolder === undefined) this.claim('anonymous');
    this.verdict(ok);
  }

  /** recordPluginHealth({ status: 'unknown' }): hands the trial, whoever holds it, to the next caller. */
  unknownHealth(): void {
    if (this.shut) return;
    if (this.derive() === 'HALF_OPEN') this.trialHolder = undefined;
  }

  forceOpen(): void {
    if (this.shut || this.derive() === 'OPEN') return;
    this.enter('OPEN');
  }

  reset(): void {
    if (this.shut) return;
    const state = this.derive();
    this.count = 0;
    if (state !== 'CLOSED') this.enter('CLOSED');
    else this.generation++;
    this.trialHolder = undefined;
  }

  snapshot(platform: string): BreakerSnapshot {
    const s: BreakerSnapshot = { platform, state: this.derive(), failureCount: this.count };
    if (this.openedAt !== undefined) s.openedAt = this.openedAt;
    // HALF_OPEN: a trial may go (or is going) now; the next trial is never in the past.
    if (this.nextAt !== undefined) s.nextAttemptAt = s.state === 'HALF_OPEN' ? this.now : this.nextAt;
    return s;
  }
}

interface Config {
  failMax: number;
  resetTimeoutMs: number;
  halfOpenTimeoutMs: number;
  resetBackoffFactor: number;
  maxResetTimeoutMs: number;
}

/** How far a step moves the clock: symbolic, so programs hit the edges (a deadline, one ms before it). */
type Delay = 'zero' | 'one' | 'reset' | 'reset-1' | 'lease' | 'lease-1' | 'to-next-attempt' | 'to-lease-end' | 'long';

type Step =
  | { op: 'acquire'; leaseMs?: number }
  | { op: 'execute'; abortable: boolean }
  | { op: 'settle'; call: number; verdict: Verdict }
  | { op: 'advance'; delay: Delay; starve: boolean }
  | { op: 'canExecute' }
  | { op: 'record'; ok: boolean }
  | { op: 'health'; status: 'healthy' | 'unhealthy' | 'unknown' }
  | { op: 'forceOpen' }
  | { op: 'reset' }
  | { op: 'shutdown' }
  | { op: 'getState' };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ op: 'acquire' as const }) },
  // A caller that bounds its own call holds the trial for its bound (the monitor, its check timeout).
  { weight: 1, arbitrary: fc.record({ op: fc.constant('acquire' as const), leaseMs: fc.constantFrom(1, 3_000) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('execute' as const), abortable: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ op: fc.constant('settle' as const), call: fc.nat(MAX_STEPS - 1), verdict: fc.constantFrom<Verdict>('success', 'failure', 'release') }) },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      delay: fc.constantFrom<Delay>('zero', 'one', 'reset', 'reset-1', 'lease', 'lease-1', 'to-next-attempt', 'to-lease-end', 'long'),
      starve: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'canExecute' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('record' as const), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('health' as const), status: fc.constantFrom('healthy' as const, 'unhealthy' as const, 'unknown' as const) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'forceOpen' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'shutdown' as const }) },
  // getState() catches up with a starved timer itself, so it is a step of its own: comparing after
  // every step would hide an operation that forgets to catch up.
  { weight: 4, arbitrary: fc.constant({ op: 'getState' as const }) },
);

const configArbitrary: fc.Arbitrary<Config> = fc.record({
  failMax: fc.constantFrom(1, 2, 3),
  resetTimeoutMs: fc.constantFrom(0, 7, 1_000),
  halfOpenTimeoutMs: fc.constantFrom(1, 5, 2_000),
  resetBackoffFactor: fc.constantFrom(1, 1, 2, 3),
  maxResetTimeoutMs: fc.constantFrom(0, 2_500, 100_000),
});

function describeStep(step: Step): string {
  switch (step.op) {
    case 'acquire':
      return step.leaseMs === undefined ? 'acquire' : `acquire (lease ${step.leaseMs} ms)`;
    case 'execute':
      return `execute${step.abortable ? ' (with a signal)' : ''}`;
    case 'acquire':
      return step.leaseMs === undefined ? 'acquire' : `acquire (lease ${step.leaseMs} ms)`;
    case 'settle':
      return `settle call #${step.call} (mod the calls so far): ${step.verdict}`;
    case 'advance':
      return `${step.starve ? 'starve (clock moves, no timer runs)' : 'advance'} ${step.delay}`;
    case 'record':
      return step.ok ? 'recordSuccess()' : 'recordFailure()';
    case 'health':
      return `recordPluginHealth(${step.status})`;
    default:
      return step.op;
  }
}

/** One call made by the program: a permit, or an execute() whose function the program settles. */
type Call =
  | { kind: 'permit'; permit: BreakerPermit; model: ModelPermit }
  | {
      kind: 'execute';
      model: ModelPermit;
      resolve: () => void;
      reject: (error: Error) => void;
      controller: AbortController | undefined;
      outcome: Promise<string>;
      expected: string | undefined;
    };

const ABORTED = new Error('caller gave up');
const outcomeOf = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'ok',
    (e: unknown) => (e instanceof CircuitOpenError ? 'open' : e instanceof BreakerShutdownError ? 'shutdown' : e === ABORTED ? 'aborted' : 'failed'),
  );

/** Runs one program against a fresh breaker and the model; throws at the first disagreement. */
async function runProgram(config: Config, program: Step[], model = new Model(config, Date.now())): Promise<void> {
  let failures = 0;
  let label = 'CLOSED';
  const metrics = {
    setBreakerState: (_platform: string, state: string) => void (label = state),
    recordPluginFailure: () => void failures++,
  } as unknown as HealthMetrics;
  const breaker = new PlatformCircuitBreaker('model', { ...config, metrics });
  const transitions: Transition[] = [];
  breaker.on('transition', (c) => void transitions.push([c.from, c.to, c.failureCount]));
  const calls: Call[] = [];
  const fail = (index: number, what: string): never => {
    throw new Error(`step ${index} (${index < program.length ? describeStep(program[index] as Step) : 'after the last step'}): ${what}`);
  };
  const same = (index: number, what: string, actual: unknown, expected: unknown): void => {
    try {
      assert.deepEqual(actual, expected);
    } catch {
      fail(index, `${what}: breaker ${JSON.stringify(actual)}, model ${JSON.stringify(expected)}`);
    }
  };

  try {
    for (const [index, step] of program.entries()) {
      switch (step.op) {
        case 'acquire': {
          const permit = breaker.tryAcquire(step.leaseMs === undefined ? undefined : { leaseMs: step.leaseMs });
          const expected = model.acquire(step.leaseMs);
          same(index, 'permit granted', permit !== undefined, expected !== undefined);
          if (permit !== undefined && expected !== undefined) {
            same(index, 'permit state', permit.state, expected.trial ? 'HALF_OPEN' : 'CLOSED');
            calls.push({ kind: 'permit', permit, model: expected });
          }
          break;
        }
        case 'execute': {
          let resolve!: () => void;
          let reject!: (error: Error) => void;
          const controller = step.abortable ? new AbortController() : undefined;
          const promise = breaker.execute(
            () =>
              new Promise<void>((res, rej) => {
                resolve = res;
                reject = rej;
              }),
            controller === undefined ? undefined : { signal: controller.signal },
          );
          const outcome = outcomeOf(promise);
          const expected = model.acquire();
          if (expected === undefined) {
            same(index, 'refused call', await outcome, model.shut ? 'shutdown' : 'open');
          } else {
            calls.push({ kind: 'execute', model: expected, resolve, reject, controller, outcome, expected: undefined });
          }
          break;
        }
        case 'settle': {
          if (calls.length === 0) break;
          const call = calls[step.call % calls.length] as Call;
          if (call.kind === 'permit') {
            const took = step.verdict === 'success' ? call.permit.success() : step.verdict === 'failure' ? call.permit.failure(new Error('down')) : call.permit.release();
            same(index, `${step.verdict}() returned`, took, model.settle(call.model, step.verdict));
            same(index, 'permit settled', call.permit.settled, true);
            break;
          }
          // An execute() settles once, and only a call with a signal can be abandoned.
          if (call.expected !== undefined || (step.verdict === 'release' && call.controller === undefined)) break;
          call.expected = step.verdict === 'success' ? 'ok' : step.verdict === 'failure' ? 'failed' : 'aborted';
          model.settle(call.model, step.verdict);
          if (step.verdict === 'success') call.resolve();
          else if (step.verdict === 'failure') call.reject(new Error('down'));
          else call.controller?.abort(ABORTED);
          same(index, 'execute() outcome', await call.outcome, call.expected);
          break;
        }
        case 'advance': {
          const ms = delayOf(step.delay, config, model);
          model.now += ms;
          if (step.starve) mock.timers.setTime(Date.now() + ms);
          else {
            mock.timers.tick(ms);
            // Timers that were due ran at the end of the tick: the model catches up at the same time.
            model.derive();
          }
          break;
        }
        case 'canExecute':
          same(index, 'canExecute()', breaker.canExecute(), model.canExecute());
          break;
        case 'record':
          if (step.ok) breaker.recordSuccess();
          else breaker.recordFailure(new Error('down'));
          model.record(step.ok);
          break;
        case 'health':
          breaker.recordPluginHealth({ status: step.status });
          if (step.status === 'unknown') model.unknownHealth();
          else model.record(step.status === 'healthy');
          break;
        case 'forceOpen':
          breaker.forceOpen();
          model.forceOpen();
          break;
        case 'reset':
          breaker.reset();
          model.reset();
          break;
        case 'getState':
          same(index, 'getState()', breaker.getState(), model.snapshot('model'));
          break;
        case 'shutdown':
          breaker.shutdown();
          model.shut = true;
          // Calls that own a signal are cancelled; the others settle as their function does, counting nothing.
          for (const call of calls) {
            if (call.kind === 'execute' && call.expected === undefined && call.controller !== undefined) {
              call.expected = 'shutdown';
              call.model.settled = true;
              same(index, 'execute() cancelled by shutdown()', await call.outcome, 'shutdown');
            }
          }
          break;
      }
      same(index, 'transitions', transitions, model.transitions);
      same(index, 'plugin_failure_total', failures, model.failures);
      if (!model.shut) same(index, 'circuit_breaker_state', label, model.state);
    }
    same(program.length, 'getState() at the end', breaker.getState(), model.snapshot('model'));
  } finally {
    breaker.shutdown();
  }
}

function delayOf(delay: Delay, config: Config, model: Model): number {
  switch (delay) {
    case 'zero':
      return 0;
    case 'one':
      return 1;
    case 'reset':
      return config.resetTimeoutMs;
    case 'reset-1':
      return Math.max(0, config.resetTimeoutMs - 1);
    case 'lease':
      return config.halfOpenTimeoutMs;
    case 'lease-1':
      return config.halfOpenTimeoutMs - 1;
    case 'to-next-attempt':
      return model.nextAt === undefined ? 3 : Math.max(0, model.nextAt - model.now);
    case 'to-lease-end':
      return model.trialHolder === undefined ? 2 : Math.max(0, model.trialDeadline - model.now);
    case 'long':
      return config.resetTimeoutMs + config.halfOpenTimeoutMs + 1;
  }
}

describe('PlatformCircuitBreaker against a reference model of periods and permits', () => {
  it(`agrees on ${RUNS.toLocaleString('en')} random programs of up to ${MAX_STEPS} overlapping steps (seed ${SEED})`, async () => {
    useFakeClock(1_700_000_000_000);
    try {
      const property = fc.asyncProperty(configArbitrary, fc.array(stepArbitrary, { maxLength: MAX_STEPS, size: 'max' }), (config, program) => runProgram(config, program));
      const details = await fc.check(property, { seed: SEED, numRuns: RUNS });
      if (details.failed) {
        const [config, program] = details.counterexample ?? [];
        const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        assert.fail(
          [
            `seed ${SEED} (replay: SEED=${SEED} node --test test/circuit-breaker-model.test.ts), shrunk ${details.numShrinks} times`,
            `config: ${JSON.stringify(config)}`,
            'shortest failing program:',
            ...(program ?? []).map((step, i) => `  ${i}: ${describeStep(step)}`),
            error,
          ].join('\n'),
        );
      }
      assert.equal(details.numRuns, RUNS);
    } finally {
      useRealClock();
    }
  });

  it('would notice a breaker whose outcomes carry no call identity (the comparison is not vacuous)', async () => {
    /** The old semantics: every outcome applies to the period the breaker is in when it arrives. */
    class NoIdentity extends Model {
      override settle(permit: ModelPermit, verdict: Verdict): boolean {
        if (permit.settled) return false;
        permit.settled = true;
        if (verdict === 'release') this.unknownHealth();
        else this.record(verdict === 'success');
        return true;
      }
    }
    useFakeClock(1_700_000_000_000);
    try {
      const config = { failMax: 1, resetTimeoutMs: 7, halfOpenTimeoutMs: 5, resetBackoffFactor: 1, maxResetTimeoutMs: 0 };
      // A call allowed while CLOSED succeeds after another call's failure opened the breaker and it went HALF_OPEN.
      const program: Step[] = [{ op: 'acquire' }, { op: 'acquire' }, { op: 'settle', call: 1, verdict: 'failure' }, { op: 'advance', delay: 'reset', starve: false }, { op: 'settle', call: 0, verdict: 'success' }];
      await runProgram(config, program);
      await assert.rejects(runProgram(config, program, new NoIdentity(config, Date.now())), /step 4 .*success\(\) returned: breaker false, model true/);
    } finally {
      useRealClock();
    }
  });
});
