/**
 * One check's life, from its start to its outcome: the breaker's permit, the
 * span, the signal, the timeout, and the outcome read once and settled once
 * from whichever side ends it (the check, its timeout, the scheduler seeing
 * its deadline pass, or a stop). What the outcome means is
 * `classifyOutcome()`'s to say; what the monitor does with it is its host's.
 */
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { PlatformCircuitBreaker } from '../breaker/circuit-breaker.ts';
import type { BreakerPermit } from '../breaker/permit.ts';
import type { BreakerState } from '../core/breaker-state.ts';
import { captureFailure, type Failure } from '../core/failure.ts';
import { TimeoutError } from '../core/timeout-error.ts';
import { abortCheck, checkSignal } from './check-signal.ts';
import { isThenable } from '../common/promise.ts';
import { DeferredSpan, outsideShare } from './deferred-span.ts';
import type { RandomIds } from '../common/random-ids.ts';
import { captureValue, classifyOutcome, type Classification, type Outcome } from '../core/outcome.ts';
import type { PluginHealth } from '../core/plugin-health.ts';

/**
 * One health check: `true`, nothing, or a healthy/degraded `PluginHealth`
 * is a success; `false`, an unhealthy PluginHealth, a throw, a rejection or
 * any other value is a failure. The signal aborts at the timeout and on `stop()`.
 */
export type HealthCheck = (signal: AbortSignal) => HealthCheckValue | Promise<HealthCheckValue>;
/** What a {@link HealthCheck} may return. */
export type HealthCheckValue = boolean | void | PluginHealth;

/** The platform a run checks, as far as the run needs it. */
export interface RunTarget {
  readonly name: string;
  readonly timeoutMs: number;
  readonly breaker: PlatformCircuitBreaker;
}

/** What the monitor does around a run (`R` is its result); every call comes at most once per run, in this order. */
export interface RunHost<T extends RunTarget, R extends { readonly breakerState: BreakerState }> {
  readonly tracer: Tracer;
  /** Share of successful root checks whose span is built (see `DeferredSpan`); 1 builds every one. */
  readonly successSpanRatio: number;
  /** Where a stand-in's ids (and with them the share decision) come from when the ratio is below 1. */
  readonly ids: RandomIds;
  /** A cluster's replica id: each span says where its check ran (`service.instance.id`). */
  readonly replica: string | undefined;
  /** The breaker let the check run; it is in flight until {@link finished}. */
  started(run: CheckRun<T, R>): void;
  /** The run is over (no longer in flight); true when the monitor is stopping, so the outcome is not the platform's. */
  finished(run: CheckRun<T, R>): boolean;
  /** The run was cut off (stop or unregister): counted nowhere. */
  cancelled(run: CheckRun<T, R>): void;
  /** The outcome, classified (the permit already has its verdict), `seconds` as reported; answers the result. Span still open. */
  recorded(run: CheckRun<T, R>, outcome: Classification, seconds: number): R;
  /** After the span ended: the result may be published. */
  ended(run: CheckRun<T, R>, result: R): void;
  /** A timed-out check stays abandoned until its promise settles (+1), or settled late (-1). */
  abandoned(delta: 1 | -1): void;
  /** The check's failure says the process ran out of a resource (see `captureFailure()`). */
  processOutOf(run: CheckRun<T, R>, failure: Failure): void;
  /** A listener the check put on its signal threw. */
  listenerThrew(run: CheckRun<T, R>, error: unknown): void;
}

/** How much longer than its check's timeout the monitor's trial holds the lease: the timer that ends the check may run late. */
const LEASE_MARGIN_MS = 1_000;

/** How a run ends: an outcome of the check, or cut off (stop, unregister) with none. */
type RunEnd = Outcome | { kind: 'cancelled' };
const REJECTED: RunEnd = Object.freeze({ kind: 'rejected' });

/** One check, started at construction; everything after the start happens in {@link CheckRun.finish}. */
export class CheckRun<T extends RunTarget, R extends { readonly breakerState: BreakerState }> {
  readonly target: T;
  /** Hands the result to whoever waits for it (a no-op for scheduled checks). */
  readonly resolve: (result: R) => void;
  /** Started by the schedule (true) or by checkPlatformHealth() (false). */
  readonly scheduled: boolean;
  /** `Date.now()` at the start, for reports. */
  readonly startedAt = Date.now();
  /** `performance.now()` at the start, for the duration. */
  readonly startedPerf = performance.now();
  /** `performance.now()` by which the check must have settled. */
  readonly deadline: number;
  #done = false;
  readonly #host: RunHost<T, R>;
  readonly #span: Span;
  readonly #ctx: Context;
  readonly #parent: Context;
  /** Undefined for a check the breaker rejected: it never ran. */
  #controller: AbortController | undefined;
  /** The breaker's permit for this check; undefined when it was rejected. */
  #permit: BreakerPermit | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(host: RunHost<T, R>, target: T, check: HealthCheck, resolve: (result: R) => void, parent: Context, scheduled: boolean) {
    this.#host = host;
    this.target = target;
    this.resolve = resolve;
    this.scheduled = scheduled;
    this.deadline = this.startedPerf + target.timeoutMs;
    // A check started from inside a stand-in's context (a listener of another
    // check) is a root of its own: under the stand-in's unsampled context its span would be dropped.
    let parentSpan = trace.getSpan(parent);
    if (parentSpan instanceof DeferredSpan) {
      parent = trace.deleteSpan(parent);
      parentSpan = undefined;
    }
    this.#parent = parent;
    const attributes: Record<string, string> = { 'health_check.platform': target.name };
    if (host.replica !== undefined) attributes['service.instance.id'] = host.replica;
    // Below ratio 1, a root check outside the share gets a stand-in that only
    // becomes a span if the check is not a plain success; a check inside a
    // caller's trace always belongs to that trace.
    const ids = host.successSpanRatio < 1 && parentSpan === undefined ? outsideShare(host.ids, host.successSpanRatio) : undefined;
    this.#span = ids
      ? new DeferredSpan(host.tracer, attributes, parent, ids)
      : host.tracer.startSpan('health_check', { kind: SpanKind.INTERNAL, attributes }, parent);
    this.#ctx = trace.setSpan(parent, this.#span);
    // One context switch per check: the breaker's verdict, the check itself and
    // (through the promise callbacks and timer created inside) the recording of
    // its outcome all see the span, so rejections and transitions become its events.
    context.with(this.#ctx, this.#begin, this, check);
  }

  /** Ends the check as timed out (its deadline passed), aborting its signal. */
  expire(): void {
    if (this.#done) return;
    const timeout = () => new TimeoutError(this.target.name, this.target.timeoutMs, 'check');
    // The check gets its own instance: what it does to its signal's reason cannot reach the result.
    if (this.#controller) abortCheck(this.#controller, timeout());
    this.#host.abandoned(1);
    // The scheduler may expire a run from outside its span: record inside it all the same.
    context.with(this.#ctx, () => this.#finish({ kind: 'timeout', error: timeout() }));
  }

  /** Aborts the check's signal with `reason`, leaving the run to settle (stop() waits for it). */
  abort(reason: Error): void {
    if (this.#controller) abortCheck(this.#controller, reason);
  }

  /** Cuts the run off: aborted if `reason` is given, resolved as cancelled, counted nowhere. */
  cancel(reason?: Error): void {
    if (reason) this.abort(reason);
    this.#finish({ kind: 'cancelled' });
  }

  /** Runs inside the check's span: asks the breaker, calls the check, and finishes at once when it can. */
  #begin(check: HealthCheck): void {
    const { breaker, timeoutMs } = this.target;
    // The monitor's own trial always settles by its own timeout: a lease shorter than the
    // check's bound would fail every slow-but-good trial and keep the breaker open for ever.
    this.#permit = timeoutMs + LEASE_MARGIN_MS > breaker.halfOpenTimeoutMs ? breaker.tryAcquire({ leaseMs: timeoutMs + LEASE_MARGIN_MS }) : breaker.tryAcquire();
    if (this.#permit === undefined) {
      this.#finish(REJECTED);
      return;
    }
    const controller = new AbortController();
    this.#controller = controller;
    this.#host.started(this);
    let outcome: RunEnd | undefined;
    try {
      const value = check(checkSignal(controller, (error) => this.#host.listenerThrew(this, error)));
      if (isThenable(value)) {
        // A thenable's own then() may throw: that is the check failing, not the monitor.
        value.then(
          (v) => (this.#done ? this.#settledLate() : this.#finish(captureValue(v))),
          (error: unknown) => (this.#done ? this.#settledLate() : this.#finish({ kind: 'threw', failure: captureFailure(error) })),
        );
      } else {
        outcome = captureValue(value);
      }
    } catch (error) {
      outcome = { kind: 'threw', failure: captureFailure(error) };
    }
    // Outside the try: the monitor's own errors must surface, not pass for the check's.
    if (outcome !== undefined) this.#finish(outcome);
    else if (!this.#done) this.#timer = setTimeout(() => this.expire(), this.target.timeoutMs);
  }

  /** A timed-out check's promise settled after all: it is no longer abandoned. */
  #settledLate(): void {
    if (this.#timer === undefined) return;
    this.#timer = undefined;
    this.#host.abandoned(-1);
  }

  /** Settles the outcome once: permit, host, span. */
  #finish(outcome: RunEnd): void {
    if (this.#done) return;
    this.#done = true;
    const span = this.#span;
    if (this.#timer !== undefined && outcome.kind !== 'timeout') {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    // Once stopping, outcomes are the stop's doing (an aborted signal), not the platform's.
    if (this.#host.finished(this) || outcome.kind === 'cancelled') {
      // No verdict: a trial this check held goes to the next caller.
      this.#permit?.release();
      span.setAttribute('health_check.status', 'cancelled');
      span.end();
      this.#host.cancelled(this);
      return;
    }
    const classified = classifyOutcome(outcome);
    const permit = this.#permit;
    if (classified.verdict === 'success') permit?.success();
    else if (classified.verdict === 'failure') permit?.failure(classified.cause);
    else if (classified.verdict === 'release') permit?.release();
    if (outcome.kind === 'threw' && outcome.failure.processResource !== undefined) this.#host.processOutOf(this, outcome.failure);
    const seconds = outcome.kind === 'rejected' ? 0 : outcome.kind === 'timeout' ? this.target.timeoutMs / 1000 : (performance.now() - this.startedPerf) / 1000;
    const result = this.#host.recorded(this, classified, seconds);
    const { status, health, errorType, message } = classified;
    span.setAttributes({ 'health_check.status': status, 'circuit_breaker.state': result.breakerState });
    if (health) span.setAttribute('plugin.health.status', health);
    // The bound goes on the span it explains: every attribute costs on every
    // exported span, and the timeout is the platform's setting, not the check's.
    if (status === 'timeout') span.setAttribute('health_check.timeout_ms', this.target.timeoutMs);
    if (status === 'failure' || status === 'timeout') {
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      span.recordException(outcome.kind === 'threw' ? outcome.failure.exception : { name: errorType ?? 'failure', message: message ?? '' });
    }
    span.end();
    // Listeners of a stand-in's check run outside its unsampled context, so what they trace is kept.
    if (span instanceof DeferredSpan) context.with(this.#parent, () => this.#host.ended(this, result));
    else this.#host.ended(this, result);
  }
}
