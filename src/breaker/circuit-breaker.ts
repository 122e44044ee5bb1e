/**
 * One circuit breaker per platform, built on opossum 10.
 *
 * opossum owns the state machine, the reset timer and the half-open gate
 * (opossum-gate.ts). What it lacks is a "N consecutive failures" rule, and
 * its per-call bookkeeping costs ~1.4 µs a call. So in the CLOSED state this
 * class runs the function itself, counts consecutive failures, and opens
 * opossum when the count reaches `failMax`. Every transition still happens
 * inside opossum and reaches us as one of its events; the half-open trial
 * still passes through its gate.
 *
 * Calls overlap (the monitor's checks and the conductor's own calls share a
 * breaker), so each allowed call gets a permit that remembers the period
 * that allowed it: every transition, and `reset()`, starts a new period, and
 * the outcome of a call from an ended period changes nothing. A half-open
 * trial holds a lease (trial-lease.ts); a trial still unsettled then counts
 * as failed, so a lost trial cannot keep the breaker half-open. The state
 * machine is state-machine.ts; this class validates, runs calls and hands
 * their outcomes to it.
 */
import type { EventEmitter } from 'node:events';
import { Emitter, type Subscribable } from '../common/emitter.ts';
import { OptionTypeError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { parseOptions } from '../common/option-schema.ts';
import { printable } from '../common/text.ts';
import { checkPlatformName, describeValue } from '../common/validate.ts';
import { captureFailure, errorTypeOf, isError } from '../core/failure.ts';
import { initMetrics, type HealthMetrics } from '../core/metrics.ts';
import { captureValue, classifyOutcome, type Classification } from '../core/outcome.ts';
import { isPluginHealth, type PluginHealth } from '../core/plugin-health.ts';
import type { BreakerCoordinator, SharedBreakerState } from './coordinator.ts';
import { BreakerShutdownError, CircuitOpenError, notThenable } from './errors.ts';
import { callAbortable, callWithPermit } from './guarded-call.ts';
import { ACQUIRE_OPTIONS, BREAKER_OPTIONS, EXECUTE_OPTIONS, type AcquireOptions, type BreakerOptions, type ExecuteOptions } from './options.ts';
import type { BreakerPermit } from './permit.ts';
import { acquireTicker, releaseTicker, ticker } from './rotation.ts';
import { addRejectedEvent } from './span-events.ts';
import { BreakerStateMachine } from './state-machine.ts';
import type { BreakerEvents, BreakerSnapshot } from './state.ts';

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
export class PlatformCircuitBreaker implements Subscribable<BreakerEvents> {
  /** The platform (plugin name) this breaker guards. */
  readonly platform: string;
  /** Consecutive failures that open the breaker. */
  readonly failMax: number;
  /** Time OPEN before the half-open trial, in ms. */
  readonly resetTimeoutMs: number;
  /** Backoff on repeated openings: the n-th in a row waits `resetTimeoutMs` × this^(n−1); 1 is none. */
  readonly resetBackoffFactor: number;
  /** The longest wait the backoff reaches, in ms. */
  readonly maxResetTimeoutMs: number;
  /** Lease of a half-open trial, in ms: unsettled by then, it counts as failed. */
  readonly halfOpenTimeoutMs: number;
  /** Default per-call timeout of `execute()`, in ms; 0 means none. */
  readonly timeoutMs: number;

  private readonly metrics: HealthMetrics;
  private readonly logger: Logger;
  private readonly events: Emitter<BreakerEvents>;
  /** This breaker's tick of the shared rotation (taken once the options are valid: it keeps a timer alive). */
  private readonly rotation: EventEmitter;
  private readonly machine: BreakerStateMachine;
  /** Cancels calls that own a timer or a caller-signal listener, so shutdown leaves none behind. */
  private pending: Set<(error: unknown) => void> | undefined;

  /**
   * @param platform non-empty platform name, used in labels, spans and errors
   * @param options see {@link BreakerOptions}; an unknown key or a bad value throws a TypeError/RangeError naming it
   */
  constructor(platform: string, options?: BreakerOptions) {
    this.platform = checkPlatformName(platform);
    const opts = parseOptions(BREAKER_OPTIONS, 'circuit breaker', options);
    ({ failMax: this.failMax, resetTimeoutMs: this.resetTimeoutMs, halfOpenTimeoutMs: this.halfOpenTimeoutMs, timeoutMs: this.timeoutMs } = opts);
    ({ resetBackoffFactor: this.resetBackoffFactor, maxResetTimeoutMs: this.maxResetTimeoutMs } = opts);
    this.metrics = opts.metrics ?? initMetrics(opts.meter === undefined ? undefined : { meter: opts.meter });
    this.logger = opts.logger ?? silentLogger;
    this.events = new Emitter((error) => this.logger.warn({ err: error, platform: printable(this.platform) }, 'circuit breaker transition listener threw'));
    this.rotation = acquireTicker();
    this.machine = new BreakerStateMachine({
      platform: this.platform,
      failMax: this.failMax,
      resetTimeoutMs: this.resetTimeoutMs,
      resetBackoffFactor: this.resetBackoffFactor,
      maxResetTimeoutMs: this.maxResetTimeoutMs,
      halfOpenTimeoutMs: this.halfOpenTimeoutMs,
      timeoutMs: this.timeoutMs,
      metrics: this.metrics,
      tracer: opts.tracer,
      logger: this.logger,
      events: this.events,
      rotation: this.rotation,
    });
  }

  /**
   * Asks to make one call. CLOSED: a permit. HALF_OPEN with the trial free:
   * a permit for the trial, leased for `halfOpenTimeoutMs` (or the longer
   * `options.leaseMs`). OPEN, HALF_OPEN with the trial taken, or shut down:
   * undefined (and the active span gets `circuit_breaker.rejected`). Settle
   * the permit once, whatever happens.
   */
  tryAcquire(options?: AcquireOptions): BreakerPermit | undefined {
    const leaseMs = options === undefined ? undefined : parseOptions(ACQUIRE_OPTIONS, 'tryAcquire', options).leaseMs;
    const permit = this.machine.acquire(leaseMs);
    if (permit === undefined && !this.machine.shut) addRejectedEvent(this.platform, this.machine.state);
    return permit;
  }

  /**
   * True when a call may go ahead now: {@link tryAcquire} without the
   * permit. In HALF_OPEN the first caller gets true and thereby claims the
   * trial (leased for `halfOpenTimeoutMs`); everyone after it gets false
   * until a `record*()` call settles it, or the lease runs out. False after
   * `shutdown()`.
   */
  canExecute(): boolean {
    const machine = this.machine;
    if (machine.fastPath) return true;
    if (machine.shut) return false;
    const state = machine.current();
    if (state === 'CLOSED' || (state === 'HALF_OPEN' && machine.claimTrial() !== undefined)) return true;
    addRejectedEvent(this.platform, machine.state);
    return false;
  }

  /**
   * Runs `fn` under the breaker. CLOSED: runs it; OPEN, or HALF_OPEN with the
   * trial taken: rejects at once with {@link CircuitOpenError} without calling
   * it; HALF_OPEN otherwise: runs it as the trial. A rejection, a synchronous
   * throw (of any value), a timeout (`TimeoutError`) or a return value that
   * is not a promise is a failure.
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
      return Promise.reject(new OptionTypeError('EOPTIONTYPE', `conductor-health: execute() needs a function, got ${describeValue(fn)}`));
    }
    const machine = this.machine;
    if (machine.fastPath && options === undefined) {
      const generation = machine.generation;
      let result: unknown;
      try {
        result = fn(ticker.signal);
      } catch (error) {
        machine.settleClosed(generation, 'failure', error);
        return Promise.reject(error);
      }
      if (result instanceof Promise) return result.then(machine.onClosedSuccess, machine.onClosedFailure) as Promise<T>;
      // Reading `then` may throw (a hostile value): that is the call failing, as `await` would have it.
      const error = notThenable(this.platform, result);
      if (error !== undefined) {
        machine.settleClosed(generation, 'failure', error);
        return Promise.reject(error);
      }
      return Promise.resolve(result).then(machine.onClosedSuccess, machine.onClosedFailure) as Promise<T>;
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
    this.machine.record(true);
  }

  /**
   * Records a failed call and counts it in `plugin_failure_total` under
   * `errorTypeOf(error)`. Like {@link recordSuccess} it applies to the
   * period the breaker is in now: CLOSED adds one to the count (opening at
   * `failMax`), HALF_OPEN fails the trial (whoever claimed it) and re-opens
   * for the full timeout, OPEN changes nothing. A late failure of a call from
   * an earlier CLOSED period thus counts in the current one.
   */
  recordFailure(error?: unknown): void {
    if (this.machine.shut) return;
    this.metrics.recordPluginFailure(this.platform, errorTypeOf(error));
    this.machine.record(false);
  }

  /**
   * A check's result without a permit, classified by `classifyOutcome()`
   * as the monitor classifies its checks. `true`, or `undefined` (a check
   * that returns nothing, like a `void` async function): success. `false`:
   * failure (`error_type` `check_failed`). An Error: failure classified by
   * `errorTypeOf()`. A {@link PluginHealth}: see {@link recordPluginHealth}.
   * Anything else (a number, string, null, a plain object): failure with
   * `error_type` `invalid_result`, since a check that returns garbage is not
   * a healthy one — the types admit only the handled kinds, this is for
   * callers without them. Applies to the current period, as
   * {@link recordSuccess} does.
   */
  recordResult(outcome: boolean | undefined): void;
  recordResult(outcome: Error): void;
  recordResult(outcome: PluginHealth): void;
  recordResult(outcome: unknown): void {
    if (this.machine.shut) return;
    // A revoked Proxy throws on `instanceof`: whatever cannot be read is a failure, read no further.
    const thrown = isError(outcome);
    this.recordClassified(classifyOutcome(thrown ? { kind: 'threw', failure: captureFailure(outcome) } : captureValue(outcome)));
  }

  /**
   * Lets a plugin's own status drive the breaker: `healthy` and `degraded`
   * are successes, `unhealthy` a failure (`error_type` `unhealthy`), `unknown`
   * changes neither state nor count (HALF_OPEN hands the trial, whoever
   * claimed it, to the next caller, since it gave no verdict).
   */
  recordPluginHealth(health: PluginHealth): void {
    const outcome = captureValue(health);
    if (outcome.kind !== 'value' || !isPluginHealth(outcome.value)) {
      throw new OptionTypeError('EOPTIONTYPE', `conductor-health: recordPluginHealth() needs { status: "healthy" | "degraded" | "unhealthy" | "unknown" }, got ${describeValue(health)}`);
    }
    if (this.machine.shut) return;
    this.recordClassified(classifyOutcome(outcome));
  }

  /**
   * The state now. An OPEN breaker whose reset time has passed reports (and
   * becomes) HALF_OPEN even if a busy event loop has not run opossum's timer yet.
   */
  getState(): BreakerSnapshot {
    const machine = this.machine;
    const snapshot: BreakerSnapshot = { platform: this.platform, state: machine.current(), failureCount: machine.failureCount };
    if (machine.openedAt !== undefined) snapshot.openedAt = machine.openedAt;
    const nextAttemptAt = machine.nextAttemptAt();
    if (nextAttemptAt !== undefined) snapshot.nextAttemptAt = nextAttemptAt;
    return snapshot;
  }

  /** Opens the breaker now (from CLOSED or HALF_OPEN, dropping a claimed trial) for a full `resetTimeoutMs`; no-op when OPEN. */
  forceOpen(): void {
    this.machine.forceOpen();
  }

  /**
   * Closes the breaker and sets the count to 0, dropping a claimed trial.
   * It starts a new period even when CLOSED: outcomes of calls allowed
   * before it change nothing.
   */
  reset(): void {
    this.machine.reset();
  }

  /**
   * Subscribes to `transition`: every state change, in the order they
   * happened (one a listener causes waits until every listener has heard
   * the one before it). A listener that throws is logged and disturbs
   * neither the breaker nor the other listeners.
   * @returns a function that unsubscribes
   */
  on<K extends keyof BreakerEvents>(event: K, listener: (...args: BreakerEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Unsubscribes `listener`. */
  off<K extends keyof BreakerEvents>(event: K, listener: (...args: BreakerEvents[K]) => void): void {
    this.events.off(event, listener);
  }

  /** Listeners of `event` now. */
  listenerCount(event: keyof BreakerEvents): number {
    return this.events.listenerCount(event);
  }

  /**
   * Shares this breaker with other processes (a cluster's replicas; see
   * coordinator.ts): from now on it reports to `coordinator` what can change
   * the shared state and follows what {@link applyShared} gives it, neither
   * opening nor half-opening by itself. Undefined: it decides alone again,
   * from the state it has (an OPEN breaker half-opens when its wait is over).
   */
  coordinate(coordinator: BreakerCoordinator | undefined): void {
    this.machine.coordinate(coordinator);
  }

  /** Applies the shared state (the coordinator's side of {@link coordinate}); callers here see it at once. */
  applyShared(shared: SharedBreakerState): void {
    this.machine.applyShared(shared);
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
    if (this.machine.shut) return;
    // Ends the period: every permit still out is stale.
    this.machine.shutdown();
    this.events.clear();
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

  /** A classified result with no call identity (recordResult, recordPluginHealth): applies to the current period. */
  private recordClassified(outcome: Classification): void {
    if (outcome.verdict === 'success') this.machine.record(true);
    else if (outcome.verdict === 'failure') this.recordFailure(outcome.cause);
    else if (this.machine.current() === 'HALF_OPEN' && this.machine.trialClaimed) this.machine.releaseTrial();
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
    if (this.machine.shut) return Promise.reject(new BreakerShutdownError(this.platform));
    if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);

    const permit = this.tryAcquire();
    if (permit === undefined) return Promise.reject(new CircuitOpenError(this.platform, this.machine.state, this.machine.nextAttemptAt()));
    if (timeoutMs === 0 && callerSignal === undefined) return callWithPermit(this.platform, fn, permit, ticker.signal);
    return callAbortable(this.platform, fn, permit, timeoutMs, callerSignal, (this.pending ??= new Set()));
  }
}
