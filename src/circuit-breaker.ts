/**
 * One circuit breaker per platform, built on opossum 10.
 *
 * opossum owns the state machine, the reset timer and the half-open gate.
 * What it lacks is a "N consecutive failures" rule, and its per-call
 * bookkeeping (rolling buckets, latency arrays, its timeout, one
 * AbortController for the whole breaker) costs ~1.4 µs a call. So in the
 * CLOSED state this class runs the function itself, counts consecutive
 * failures, and calls `open()` on opossum when the count reaches `failMax`.
 * Every transition still happens inside opossum and reaches us as one of its
 * events; the half-open trial still passes through its `fire()` gate.
 *
 * Calls overlap (the monitor's checks and the conductor's own calls share a
 * breaker), so each allowed call gets a permit that remembers the period
 * that allowed it: every transition, and `reset()`, starts a new period, and
 * the outcome of a call from an ended period changes nothing. A half-open
 * trial holds a lease of `halfOpenTimeoutMs`; a trial still unsettled then
 * counts as failed, so a lost trial cannot keep the breaker half-open.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { trace, type Tracer } from '@opentelemetry/api';
import { checkPlatformName, checkFunction, describeValue } from './common/validate.ts';
import { BREAKER_OPTIONS, EXECUTE_OPTIONS, type BreakerOptions, type ExecuteOptions } from './options.ts';
import { parseOptions } from './common/option-schema.ts';
import { BreakerShutdownError, CircuitOpenError } from './breaker-errors.ts';
import { isThenable } from './common/promise.ts';
import { callAbortable, callWithPermit, notAPromise } from './guarded-call.ts';
import type { BreakerState } from './core/breaker-state.ts';
import { captureFailure, errorTypeOf } from './core/failure.ts';
import { initMetrics, type HealthMetrics } from './core/metrics.ts';
import { classifyOutcome, type Classification, type Verdict } from './core/outcome.ts';
import { Permit, Trial, type BreakerPermit } from './permit.ts';
import { isPluginHealth, type PluginHealth } from './core/plugin-health.ts';
import { acquireTicker, releaseTicker, ROTATE_EVERY_MS, ticker } from './rotation.ts';
import { silentLogger, type Logger } from './common/logger.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from './common/version.ts';
import { printable } from './common/text.ts';

export { BreakerShutdownError, CircuitOpenError } from './breaker-errors.ts';
export { TimeoutError } from './core/timeout-error.ts';
export { errorTypeOf } from './core/failure.ts';
export type { BreakerState } from './core/breaker-state.ts';
export type { BreakerPermit } from './permit.ts';

/** What {@link PlatformCircuitBreaker.getState} reports. Times are ms since the epoch. */
export interface BreakerSnapshot {
  /** The platform the breaker guards. */
  platform: string;
  /** The state now, a late reset timer accounted for. */
  state: BreakerState;
  /** Consecutive failures since the last success (a failed half-open trial adds one). */
  failureCount: number;
  /** When the breaker last opened; absent while CLOSED. */
  openedAt?: number;
  /**
   * When the breaker allows its next trial; absent while CLOSED. OPEN: the
   * end of the reset timeout, as the wall clock reads now; HALF_OPEN: now
   * (a trial may go, or is going).
   */
  nextAttemptAt?: number;
}

/** What a state-change listener receives. */
export interface BreakerStateChange {
  /** The platform the breaker guards. */
  platform: string;
  /** The state left. */
  from: BreakerState;
  /** The state entered. */
  to: BreakerState;
  /** Consecutive failures at the transition (0 on closing). */
  failureCount: number;
  /** `Date.now()` at the transition. */
  at: number;
}

export type { BreakerOptions } from './options.ts';

export type { ExecuteOptions } from './options.ts';

/** The subset of opossum 10 used here (it ships no types; `@types/opossum` describes v8). */
interface Opossum {
  readonly halfOpen: boolean;
  readonly pendingClose: boolean;
  fire(task: () => unknown): Promise<unknown>;
  open(): void;
  close(): void;
  shutdown(): void;
  on(event: 'open' | 'halfOpen' | 'close', listener: () => void): unknown;
}
type OpossumConstructor = new (action: (task: () => unknown) => unknown, options: Record<string, unknown>) => Opossum;
const Opossum = createRequire(import.meta.url)('opossum') as OpossumConstructor;

const runTask = (task: () => unknown): unknown => task();
const ignore = (): void => {};


/**
 * A circuit breaker for one platform. CLOSED counts consecutive failures and
 * opens at `failMax`; OPEN rejects at once for `resetTimeoutMs`; HALF_OPEN
 * lets exactly one trial through, which closes the breaker on success and
 * re-opens it (with the full timeout) on failure.
 *
 * Three ways to use it: `execute(fn)`; `tryAcquire()`, whose permit takes
 * the outcome of the call it allowed; or `canExecute()` followed by one
 * `recordResult()` / `recordSuccess()` / `recordFailure()`. The last carries
 * no call identity: an outcome applies to whatever period the breaker is in
 * when it is recorded, so use permits when calls overlap. A half-open trial
 * (claimed by any of the three) that is not settled within
 * `halfOpenTimeoutMs` counts as failed. Call `shutdown()` when the platform
 * goes away.
 */
export class PlatformCircuitBreaker {
  /** The platform (plugin name) this breaker guards. */
  readonly platform: string;
  /** Consecutive failures that open the breaker. */
  readonly failMax: number;
  /** Time OPEN before the half-open trial, in ms. */
  readonly resetTimeoutMs: number;
  /** Lease of a half-open trial, in ms: unsettled by then, it counts as failed. */
  readonly halfOpenTimeoutMs: number;
  /** Default per-call timeout of `execute()`, in ms; 0 means none. */
  readonly timeoutMs: number;

  private readonly metrics: HealthMetrics;
  private readonly tracer: Tracer | undefined;
  private readonly logger: Logger;
  private opossum: Opossum;
  /** This breaker's tick of the shared rotation. */
  private readonly rotation: EventEmitter;
  private state: BreakerState = 'CLOSED';
  /** CLOSED, not shut down and no default timeout: `execute()` may run the function directly. */
  private fastPath: boolean;
  private failureCount = 0;
  /** Wall time of the last opening, for reports. */
  private openedAt: number | undefined;
  /** `performance.now()` at which OPEN turns HALF_OPEN: the reset runs on the monotonic clock, so a wall-clock step moves it not. */
  private halfOpenAt: number | undefined;
  /** The current period: every transition and every `reset()` starts a new one. */
  private generation = 0;
  /** The claimed half-open trial, if any. */
  private trial: Trial | undefined;
  /** When the claimed trial's lease runs out (`performance.now()` ms), and the timer that enforces it. */
  private trialDeadline = 0;
  private trialTimer: ReturnType<typeof setTimeout> | undefined;
  private listeners: ((change: BreakerStateChange) => void)[] | undefined;
  /** Cancels calls that own a timer or a caller-signal listener, so shutdown leaves none behind. */
  private pending: Set<(error: unknown) => void> | undefined;
  private shut = false;

  // The fast path's permit: one pair of handlers per CLOSED period, not a permit and two closures per call.
  private onClosedSuccess!: (value: unknown) => unknown;
  private onClosedFailure!: (error: unknown) => never;
  /** What every permit calls to settle; bound once and handed to each. */
  private readonly settlePermit = (permit: Permit, verdict: Verdict, error: unknown): boolean => {
    if (permit.trial === undefined) return this.settleClosed(permit.generation, verdict, error);
    if (this.shut) return false;
    if (verdict === 'failure') this.metrics.recordPluginFailure(this.platform, errorTypeOf(error));
    // A lease or a reset time that has passed ends the period before this outcome is looked at.
    this.currentState();
    if (permit.generation !== this.generation || permit.trial !== this.trial) {
      if (verdict !== 'release') this.addStaleEvent(permit.state, verdict);
      return false;
    }
    // The permit holds the current trial, so the breaker is HALF_OPEN and not shut down.
    if (verdict === 'release') this.rearmHalfOpen();
    else this.settleTrial(permit.trial, verdict === 'success', error);
    return true;
  };
  private readonly onTrialLease = (): void => {
    // The timer enforces the lease; the clock check in currentState() catches a timer a busy loop has not run yet.
    if (this.trial !== undefined) this.expireTrial();
  };
  private readonly onOpen = (): void => {
    this.openedAt = Date.now();
    this.halfOpenAt = performance.now() + this.resetTimeoutMs;
    this.transition('OPEN');
  };
  private readonly onHalfOpen = (): void => this.transition('HALF_OPEN');
  private readonly onClose = (): void => {
    this.failureCount = 0;
    this.openedAt = this.halfOpenAt = undefined;
    this.transition('CLOSED');
  };

  /**
   * @param platform non-empty platform name, used in labels, spans and errors
   * @param options see {@link BreakerOptions}; an unknown key or a bad value throws a TypeError/RangeError naming it
   */
  constructor(platform: string, options?: BreakerOptions) {
    this.platform = checkPlatformName(platform);
    const opts = parseOptions(BREAKER_OPTIONS, 'circuit breaker', options);
    ({ failMax: this.failMax, resetTimeoutMs: this.resetTimeoutMs, halfOpenTimeoutMs: this.halfOpenTimeoutMs, timeoutMs: this.timeoutMs } = opts);
    this.metrics = opts.metrics ?? initMetrics(opts.meter === undefined ? undefined : { meter: opts.meter });
    this.tracer = opts.tracer;
    this.logger = opts.logger ?? silentLogger;
    this.fastPath = this.timeoutMs === 0;
    this.armClosedPeriod();

    this.rotation = acquireTicker();
    this.opossum = this.createOpossum(undefined);
    this.metrics.setBreakerState(this.platform, 'CLOSED');
  }

  /**
   * Asks to make one call. CLOSED: a permit. HALF_OPEN with the trial free:
   * a permit for the trial, leased for `halfOpenTimeoutMs`. OPEN, HALF_OPEN
   * with the trial taken, or shut down: undefined (and the active span gets
   * `circuit_breaker.rejected`). Settle the permit once, whatever happens.
   */
  tryAcquire(): BreakerPermit | undefined {
    if (this.shut) return undefined;
    const state = this.currentState();
    if (state === 'CLOSED') return new Permit(this.settlePermit, this.generation, undefined);
    const trial = state === 'HALF_OPEN' ? this.claimTrial() : undefined;
    if (trial !== undefined) return new Permit(this.settlePermit, this.generation, trial);
    this.addRejectedEvent();
    return undefined;
  }

  /**
   * True when a call may go ahead now: {@link tryAcquire} without the
   * permit. In HALF_OPEN the first caller gets true and thereby claims the
   * trial (leased for `halfOpenTimeoutMs`); everyone after it gets false
   * until a `record*()` call settles it, or the lease runs out. False after
   * `shutdown()`.
   */
  canExecute(): boolean {
    if (this.fastPath) return true;
    if (this.shut) return false;
    const state = this.currentState();
    if (state === 'CLOSED' || (state === 'HALF_OPEN' && this.claimTrial() !== undefined)) return true;
    this.addRejectedEvent();
    return false;
  }

  /**
   * Runs `fn` under the breaker. CLOSED: runs it; OPEN, or HALF_OPEN with the
   * trial taken: rejects at once with {@link CircuitOpenError} without calling
   * it; HALF_OPEN otherwise: runs it as the trial. A rejection, a synchronous
   * throw (of any value), a timeout ({@link TimeoutError}) or a return
   * value that is not a promise is a failure.
   *
   * `fn` gets a signal that only this call's own timeout or the caller's
   * `options.signal` can abort. A caller abort rejects with the signal's
   * reason and counts neither way (a trial it interrupts is handed to the
   * next caller). Each call holds a permit: a result that arrives after its
   * period ended (the breaker opened, closed or was reset meanwhile, or the
   * trial's lease ran out) changes nothing in the breaker; a failure still
   * counts in `plugin_failure_total`.
   */
  execute<T>(fn: (signal: AbortSignal) => PromiseLike<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`conductor-health: execute() needs a function, got ${describeValue(fn)}`));
    }
    if (this.fastPath && options === undefined) {
      const generation = this.generation;
      let result: unknown;
      try {
        result = fn(ticker.signal);
      } catch (error) {
        return Promise.reject(this.failedClosed(generation, error));
      }
      if (result instanceof Promise) return result.then(this.onClosedSuccess, this.onClosedFailure) as Promise<T>;
      if (!isThenable(result)) return Promise.reject(this.failedClosed(generation, notAPromise(this.platform, result)));
      return Promise.resolve(result).then(this.onClosedSuccess, this.onClosedFailure) as Promise<T>;
    }
    return this.executeGuarded(fn, options);
  }

  /**
   * Records a successful call, with no call identity: it applies to the
   * period the breaker is in now, whichever call it came from. CLOSED sets
   * the count to 0; HALF_OPEN closes the breaker (settling the trial,
   * whoever claimed it, or claiming it if nobody has); OPEN ignores it (the
   * breaker allowed no call). So a success of a call that started in an
   * earlier CLOSED period closes a HALF_OPEN breaker though no trial ran:
   * with overlapping calls, use {@link tryAcquire}.
   */
  recordSuccess(): void {
    this.record(true, undefined);
  }

  /**
   * Records a failed call and counts it in `plugin_failure_total` under
   * {@link errorTypeOf}(error). Like {@link recordSuccess} it applies to the
   * period the breaker is in now: CLOSED adds one to the count (opening at
   * `failMax`), HALF_OPEN fails the trial (whoever claimed it) and re-opens
   * for the full timeout, OPEN changes nothing. A late failure of a call from
   * an earlier CLOSED period thus counts in the current one.
   */
  recordFailure(error?: unknown): void {
    if (this.shut) return;
    this.metrics.recordPluginFailure(this.platform, errorTypeOf(error));
    this.record(false, error);
  }

  /**
   * A check's result without a permit, classified by `classifyOutcome()`
   * as the monitor classifies its checks. `true`, or `undefined` (a
   * check that returns nothing, like a `void` async function): success. `false`:
   * failure (`error_type` `check_failed`). An Error: failure classified by
   * {@link errorTypeOf}. A {@link PluginHealth}: see
   * {@link recordPluginHealth}. Anything else (a number, string, null, a
   * plain object): failure with `error_type` `invalid_result`, since a check
   * that returns garbage is not a healthy one — the types admit only the
   * handled kinds, this is for callers without them. Applies to the current
   * period, as {@link recordSuccess} does.
   */
  recordResult(outcome: boolean | undefined): void;
  recordResult(outcome: Error): void;
  recordResult(outcome: PluginHealth): void;
  recordResult(outcome: unknown): void {
    if (this.shut) return;
    this.recordClassified(classifyOutcome(outcome instanceof Error ? { kind: 'threw', failure: captureFailure(outcome) } : { kind: 'value', value: outcome }));
  }

  /**
   * Lets a plugin's own status drive the breaker: `healthy` and `degraded`
   * are successes, `unhealthy` a failure (`error_type` `unhealthy`), `unknown`
   * changes neither state nor count (HALF_OPEN hands the trial, whoever
   * claimed it, to the next caller, since it gave no verdict).
   */
  recordPluginHealth(health: PluginHealth): void {
    if (!isPluginHealth(health)) {
      throw new TypeError(`conductor-health: recordPluginHealth() needs { status: "healthy" | "degraded" | "unhealthy" | "unknown" }, got ${describeValue(health)}`);
    }
    if (this.shut) return;
    this.recordClassified(classifyOutcome({ kind: 'value', value: health }));
  }

  /**
   * The state now. An OPEN breaker whose reset time has passed reports (and
   * becomes) HALF_OPEN even if a busy event loop has not run opossum's timer yet.
   */
  getState(): BreakerSnapshot {
    const snapshot: BreakerSnapshot = { platform: this.platform, state: this.currentState(), failureCount: this.failureCount };
    if (this.openedAt !== undefined) snapshot.openedAt = this.openedAt;
    const nextAttemptAt = this.nextAttemptAt();
    if (nextAttemptAt !== undefined) snapshot.nextAttemptAt = nextAttemptAt;
    return snapshot;
  }

  /** Opens the breaker now (from CLOSED or HALF_OPEN, dropping a claimed trial) for a full `resetTimeoutMs`; no-op when OPEN. */
  forceOpen(): void {
    if (this.shut || this.currentState() === 'OPEN') return;
    const trial = this.trial;
    this.opossum.open();
    // Settle the dropped trial after the transition: opossum, no longer half-open, only books it.
    trial?.fail(undefined);
  }

  /**
   * Closes the breaker and sets the count to 0, dropping a claimed trial.
   * It starts a new period even when CLOSED: outcomes of calls allowed
   * before it change nothing.
   */
  reset(): void {
    if (this.shut) return;
    const state = this.currentState();
    const trial = this.trial;
    this.failureCount = 0;
    if (state !== 'CLOSED') this.opossum.close();
    else this.startPeriod();
    trial?.fail(undefined);
  }

  /**
   * Calls `listener` synchronously on every transition. A listener that
   * throws is logged and does not disturb the breaker or other listeners.
   * @returns a function that unsubscribes
   */
  onStateChange(listener: (change: BreakerStateChange) => void): () => void {
    checkFunction('listener', listener);
    (this.listeners ??= []).push(listener);
    return () => {
      const index = this.listeners?.indexOf(listener) ?? -1;
      if (index >= 0) this.listeners?.splice(index, 1);
    };
  }

  /**
   * Stops the breaker for good: no timer or listener is left behind, and
   * the last breaker alive stops the shared rotation timer. Calls in flight
   * with a timeout or a caller signal are aborted and reject with
   * {@link BreakerShutdownError}; others settle as their function does, and
   * their results are ignored. Afterwards `canExecute()` is false and
   * `execute()` rejects, and `circuit_breaker_state` reads 0 in all three
   * states for its platform. Calling it again does nothing.
   */
  shutdown(): void {
    if (this.shut) return;
    this.shut = true;
    // Ends the period: every permit still out is stale.
    this.generation++;
    this.fastPath = false;
    this.dropTrial();
    this.listeners = undefined;
    this.opossum.shutdown();
    if (this.pending !== undefined) {
      const error = new BreakerShutdownError(this.platform);
      for (const cancel of [...this.pending]) cancel(error);
      this.pending = undefined;
    }
    releaseTicker(this.rotation);
    // A breaker that is gone reads 0 in all three states: a stale open = 1 would keep
    // CircuitBreakerOpen firing for ever. (Instruments passed in may lack the method.)
    const metrics = this.metrics as Partial<HealthMetrics>;
    if (typeof metrics.forgetPlatform === 'function') {
      try {
        metrics.forgetPlatform(this.platform);
      } catch (error) {
        this.logger.warn({ err: error, platform: printable(this.platform) }, 'circuit breaker telemetry failed');
      }
    }
  }

  private createOpossum(state: Record<string, unknown> | undefined): Opossum {
    const breaker = new Opossum(runTask, {
      name: this.platform,
      timeout: false,
      resetTimeout: this.resetTimeoutMs,
      // Its percentage rule must never fire: we count failures. In half-open its fail() opens regardless.
      volumeThreshold: Number.MAX_SAFE_INTEGER,
      rollingCountTimeout: ROTATE_EVERY_MS,
      rollingCountBuckets: 1,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: this.rotation,
      ...(state && { state }),
    });
    breaker.on('open', this.onOpen);
    breaker.on('halfOpen', this.onHalfOpen);
    breaker.on('close', this.onClose);
    return breaker;
  }

  /**
   * Replaces opossum with one restored (its documented `state` option) as
   * half-open with the gate armed. Used when its reset timer is late, and
   * to hand back a trial that ended without a verdict: opossum itself can
   * neither move to half-open early nor re-arm its gate.
   */
  private rearmHalfOpen(): void {
    this.opossum.shutdown();
    this.opossum = this.createOpossum({ closed: false, halfOpen: true });
    this.dropTrial();
  }

  /** Wall time of the next trial (see {@link BreakerSnapshot.nextAttemptAt}); call after {@link currentState}. */
  private nextAttemptAt(): number | undefined {
    if (this.state === 'CLOSED' || this.halfOpenAt === undefined || this.openedAt === undefined) return undefined;
    // Shut down, the breaker is frozen: so is the time its reset was planned for.
    if (this.shut && this.state === 'OPEN') return this.openedAt + this.resetTimeoutMs;
    const now = Date.now();
    return this.state === 'OPEN' ? now + Math.max(0, Math.round(this.halfOpenAt - performance.now())) : now;
  }

  /** Our state, after catching up with a trial lease or a reset timer that should have fired already. */
  private currentState(): BreakerState {
    if (this.shut) return this.state;
    if (this.trial !== undefined && performance.now() >= this.trialDeadline) this.expireTrial();
    if (this.state === 'OPEN' && performance.now() >= (this.halfOpenAt as number)) {
      this.rearmHalfOpen();
      // The restored opossum starts half-open without an event, so announce the transition here.
      this.transition('HALF_OPEN');
    }
    return this.state;
  }

  private claimTrial(): Trial | undefined {
    if (this.trial !== undefined || !this.opossum.pendingClose) return undefined;
    const trial = new Trial();
    // fire() turns pendingClose off: opossum rejects every later caller until the trial settles.
    this.opossum.fire(() => trial).then(undefined, ignore);
    this.trial = trial;
    this.trialDeadline = performance.now() + this.halfOpenTimeoutMs;
    this.trialTimer = setTimeout(this.onTrialLease, this.halfOpenTimeoutMs);
    this.trialTimer.unref?.();
    return trial;
  }

  /** Forgets the claimed trial and stops its lease timer. */
  private dropTrial(): void {
    this.trial = undefined;
    if (this.trialTimer !== undefined) {
      clearTimeout(this.trialTimer);
      this.trialTimer = undefined;
    }
  }

  /** The trial's lease ran out: it counts as a failed trial. No call is known to have failed, so no failure is counted. */
  private expireTrial(): void {
    const trial = this.trial as Trial;
    this.logger.warn({ platform: printable(this.platform), halfOpenTimeoutMs: this.halfOpenTimeoutMs }, 'circuit breaker half-open trial not settled in time; re-opening');
    this.settleTrial(trial, false, undefined);
  }

  private settleTrial(trial: Trial, ok: boolean, error: unknown): void {
    this.dropTrial();
    // opossum closes (or opens) inside these calls; the model test checks the state after every step.
    if (ok) {
      this.failureCount = 0;
      trial.succeed();
    } else {
      this.failureCount++;
      trial.fail(error);
    }
  }

  /** A classified result with no call identity (recordResult, recordPluginHealth): applies to the current period. */
  private recordClassified(outcome: Classification): void {
    if (outcome.verdict === 'success') this.recordSuccess();
    else if (outcome.verdict === 'failure') this.recordFailure(outcome.cause);
    else if (this.currentState() === 'HALF_OPEN' && this.trial !== undefined) this.rearmHalfOpen();
  }

  /** A result reported through record*(): applies to whatever call the breaker allowed last. */
  private record(ok: boolean, error: unknown): void {
    if (this.shut) return;
    const state = this.currentState();
    if (state === 'CLOSED') this.count(ok);
    else if (state === 'HALF_OPEN') {
      const trial = this.trial ?? this.claimTrial();
      if (trial !== undefined) this.settleTrial(trial, ok, error);
    }
    // OPEN: the breaker allowed no call, so there is no result to count.
  }

  /** A CLOSED-period verdict: a success sets the count to 0, a failure adds one and opens at failMax. */
  private count(ok: boolean): void {
    if (ok) this.failureCount = 0;
    else if (++this.failureCount >= this.failMax) this.opossum.open();
  }

  /** Settles a CLOSED permit of period `generation` (the fast path's, or tryAcquire's). */
  private settleClosed(generation: number, verdict: Verdict, error: unknown): boolean {
    if (this.shut) return false;
    if (verdict === 'failure') this.metrics.recordPluginFailure(this.platform, errorTypeOf(error));
    if (generation !== this.generation) {
      if (verdict !== 'release') this.addStaleEvent('CLOSED', verdict);
      return false;
    }
    if (verdict !== 'release') this.count(verdict === 'success');
    return true;
  }

  /** A fast-path call failed before it returned a promise: book it and hand the error back. */
  private failedClosed(generation: number, error: unknown): unknown {
    this.settleClosed(generation, 'failure', error);
    return error;
  }

  /** Starts a new period; a CLOSED one gets its own fast-path handlers, which remember it. */
  private startPeriod(): void {
    this.generation++;
    if (this.state === 'CLOSED') this.armClosedPeriod();
  }

  private armClosedPeriod(): void {
    const generation = this.generation;
    this.onClosedSuccess = (value: unknown): unknown => {
      // The hot path, one comparison: shutdown() ends the period too.
      if (generation === this.generation) this.failureCount = 0;
      else this.settleClosed(generation, 'success', undefined);
      return value;
    };
    this.onClosedFailure = (error: unknown): never => {
      this.settleClosed(generation, 'failure', error);
      throw error;
    };
  }

  private executeGuarded<T>(fn: (signal: AbortSignal) => PromiseLike<T>, options: ExecuteOptions | undefined): Promise<T> {
    let timeoutMs = this.timeoutMs;
    let callerSignal: AbortSignal | undefined;
    if (options !== undefined) {
      try {
        const opts = parseOptions(EXECUTE_OPTIONS, 'execute', options);
        timeoutMs = opts.timeoutMs ?? this.timeoutMs;
        callerSignal = opts.signal;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.shut) return Promise.reject(new BreakerShutdownError(this.platform));
    if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);

    const permit = this.tryAcquire();
    if (permit === undefined) return Promise.reject(new CircuitOpenError(this.platform, this.state, this.nextAttemptAt()));
    if (timeoutMs === 0 && callerSignal === undefined) return callWithPermit(this.platform, fn, permit, ticker.signal);
    return callAbortable(this.platform, fn, permit, timeoutMs, callerSignal, (this.pending ??= new Set()));
  }

  private transition(to: BreakerState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.dropTrial();
    this.startPeriod();
    this.fastPath = to === 'CLOSED' && this.timeoutMs === 0 && !this.shut;
    const change: BreakerStateChange = { platform: this.platform, from, to, failureCount: this.failureCount, at: Date.now() };
    // Telemetry and listeners run inside opossum's emit(): nothing thrown here may escape into it.
    try {
      this.metrics.setBreakerState(this.platform, to);
      this.addTransitionEvent(change);
    } catch (error) {
      this.logger.warn({ err: error, platform: printable(this.platform) }, 'circuit breaker telemetry failed');
    }
    if (this.listeners === undefined) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (error) {
        this.logger.warn({ err: error, platform: printable(this.platform), from, to }, 'circuit breaker state-change listener threw');
      }
    }
  }

  private addTransitionEvent(change: BreakerStateChange): void {
    const attributes = {
      'circuit_breaker.platform': change.platform,
      'circuit_breaker.from': change.from,
      'circuit_breaker.to': change.to,
      'circuit_breaker.consecutive_failures': change.failureCount,
    };
    const active = trace.getActiveSpan();
    if (active?.isRecording()) {
      active.addEvent('circuit_breaker.state_change', attributes);
      return;
    }
    // Transitions driven by a timer have no span around them; a short one of their own still reaches Jaeger.
    const tracer = this.tracer ?? trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
    const span = tracer.startSpan('circuit_breaker.transition', { attributes: { 'circuit_breaker.platform': change.platform } });
    span.addEvent('circuit_breaker.state_change', attributes);
    span.end();
  }

  private addStaleEvent(permitState: BreakerPermit['state'], verdict: Verdict): void {
    const active = trace.getActiveSpan();
    if (active?.isRecording()) {
      active.addEvent('circuit_breaker.stale_outcome', {
        'circuit_breaker.platform': this.platform,
        'circuit_breaker.outcome': verdict,
        'circuit_breaker.permit_state': permitState,
        'circuit_breaker.state': this.state,
      });
    }
  }

  private addRejectedEvent(): void {
    const active = trace.getActiveSpan();
    if (active?.isRecording()) {
      active.addEvent('circuit_breaker.rejected', { 'circuit_breaker.platform': this.platform, 'circuit_breaker.state': this.state });
    }
  }
}
