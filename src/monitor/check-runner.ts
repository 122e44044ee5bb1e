/**
 * Runs the monitor's checks: starts each as a `CheckRun`, keeps the runs in
 * flight, counts the abandoned ones (timed out, promise not settled), and
 * publishes each result (the platform's last result and history, the
 * `check` event, the waiting caller). `stop()` aborts what is in flight and
 * waits for it, within a bound.
 */
import { ROOT_CONTEXT, type Context, type Tracer } from '@opentelemetry/api';
import type { Emitter } from '../common/emitter.ts';
import { ConductorHealthError } from '../common/errors.ts';
import { LogLimiter } from '../common/log-limiter.ts';
import type { Logger } from '../common/logger.ts';
import { RandomIds } from '../common/random-ids.ts';
import { printable } from '../common/text.ts';
import { shortMessage, type Failure } from '../core/failure.ts';
import type { HealthMetrics } from '../core/metrics.ts';
import type { Classification } from '../core/outcome.ts';
import { CheckRun, type HealthCheck, type RunHost } from './check-run.ts';
import { notedSuccessSpanRatio } from './deferred-span.ts';
import type { DispatchRunner } from './dispatcher.ts';
import type { Platform } from './platform-registry.ts';
import { cancelledResult, type HealthCheckResult, type HealthMonitorEvents } from './report.ts';

type Run = CheckRun<Platform, HealthCheckResult>;

/** What a runner runs with. */
export interface RunnerSettings {
  readonly tracer: Tracer;
  /** The monitor's `successSpanRatio`; undefined follows what startTelemetry() noted. */
  readonly successSpanRatio: number | undefined;
  readonly metrics: HealthMetrics;
  readonly logger: Logger;
  /** Where each finished check is announced. */
  readonly events: Emitter<HealthMonitorEvents>;
  /** Called after each result is published: a place under the concurrency cap is free. */
  readonly onSettled: () => void;
  /** With a cluster: its replica id goes on every check span, and each scheduled check's result goes to it. */
  readonly cluster?: RunnerCluster | undefined;
}

/** A cluster as the runner sees it. */
export interface RunnerCluster {
  readonly replica: string;
  checked(entry: Platform, result: HealthCheckResult, startedPerf: number): void;
}

export class CheckRunner implements RunHost<Platform, HealthCheckResult>, DispatchRunner<Platform> {
  readonly tracer: Tracer;
  /** Where a stand-in's ids come from (see `DeferredSpan`). */
  readonly ids = new RandomIds();
  readonly replica: string | undefined;
  readonly #settings: RunnerSettings;
  readonly #inFlight = new Set<Run>();
  #abandoned = 0;
  /** Stopping: what still finishes is the stop's doing, not the platform's. */
  #stopping = false;
  /** Resolves `drain()` once nothing is in flight. */
  #drained: (() => void) | undefined;
  /** Faults that repeat on every check are logged once a minute, not once a check. */
  readonly #logLimiter = new LogLimiter();

  constructor(settings: RunnerSettings) {
    this.#settings = settings;
    this.tracer = settings.tracer;
    this.replica = settings.cluster?.replica;
  }

  /** Read per check: startTelemetry() may register its provider after the monitor exists. */
  get successSpanRatio(): number {
    return this.#settings.successSpanRatio ?? notedSuccessSpanRatio() ?? 1;
  }

  /** Checks in flight now (scheduled and ad hoc). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Timed-out checks whose promise has still not settled. */
  get abandonedChecks(): number {
    return this.#abandoned;
  }

  /** Runs `check` for `entry` now; `resolve` gets the result. `parent` is the context of a caller's check, ROOT for the schedule's. */
  run(entry: Platform, check: HealthCheck, resolve: (result: HealthCheckResult) => void, parent: Context, scheduled: boolean): void {
    new CheckRun(this, entry, check, resolve, parent, scheduled);
  }

  /** Runs a scheduled check of `entry`. */
  start(entry: Platform): void {
    this.run(entry, entry.check!, NOOP, ROOT_CONTEXT, true);
  }

  isBusy(entry: Platform, now: number): boolean {
    // A check whose deadline has come is over: settle it before its timer
    // fires, so the next one starts on time instead of being skipped.
    if (entry.inFlight && entry.inFlight.deadline <= now) entry.inFlight.expire();
    return entry.inFlight !== undefined;
  }

  /** Cuts off `entry`'s checks in flight (it was unregistered), aborting their signals. */
  cancel(entry: Platform, reason: Error): void {
    for (const run of [...this.#inFlight]) if (run.target === entry) run.cancel(reason);
  }

  /**
   * Stops: aborts every check in flight, and resolves once they have all
   * settled, `alsoWaitFor` too, or `timeoutMs` has passed; then cuts off
   * what is left. Nothing finishing after this counts for its platform.
   */
  async stop(timeoutMs: number, alsoWaitFor: Promise<unknown> | undefined): Promise<void> {
    this.#stopping = true;
    let waiting = alsoWaitFor;
    // The bound counts from now, the aborts included.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    // A check that honours its signal settles on its own and releases its sockets; give it the bound, then cut it off.
    const drained = new Promise<void>((resolve) => {
      const done = () => {
        if (this.#inFlight.size > 0 || waiting) return;
        resolve();
      };
      this.#drained = done;
      void waiting?.then(() => {
        waiting = undefined;
        done();
      });
      void this.#abortAll(new ConductorHealthError('ECANCELLED', 'health monitor stopped'), bound).then(done);
    });
    await Promise.race([drained, bound]);
    clearTimeout(timer);
    this.#drained = undefined;
    for (const run of [...this.#inFlight]) run.cancel();
  }

  /**
   * Aborts every run in flight, a slice per event-loop turn: an abort runs the
   * check's own listeners (fetch tears its request down), ~0.5 ms each, and a
   * thousand in one piece held probes, scrapes and signals for half a second.
   */
  async #abortAll(reason: Error, bound: Promise<void>): Promise<void> {
    const runs = [...this.#inFlight];
    let over = false;
    void bound.then(() => (over = true));
    for (let i = 0; i < runs.length && !over; i += ABORTS_PER_TURN) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const run of runs.slice(i, i + ABORTS_PER_TURN)) run.abort(reason);
    }
  }

  started(run: Run): void {
    if (run.scheduled) run.target.inFlight = run;
    this.#inFlight.add(run);
  }

  finished(run: Run): boolean {
    if (run.target.inFlight === run) run.target.inFlight = undefined;
    this.#inFlight.delete(run);
    if (this.#inFlight.size === 0) this.#drained?.();
    return this.#stopping;
  }

  cancelled(run: Run): void {
    run.resolve(cancelledResult(run.target.name, run.startedAt, run.target.breaker.getState().state));
  }

  recorded(run: Run, { status, health, errorType, message }: Classification, seconds: number): HealthCheckResult {
    const { name, breaker } = run.target;
    this.#settings.metrics.recordHealthCheck(name, status, status === 'rejected' ? undefined : seconds);
    return {
      platform: name,
      status,
      durationSeconds: seconds,
      startedAt: run.startedAt,
      breakerState: breaker.getState().state,
      ...(health ? { health } : {}),
      ...(errorType ? { errorType } : {}),
      ...(message ? { error: message } : {}),
    };
  }

  /** A finished check's result: the platform's last result and history, the log, the event, the waiting caller, and the next queued check. */
  ended(run: Run, result: HealthCheckResult): void {
    const entry = run.target;
    const { logger, events, onSettled } = this.#settings;
    entry.last = result;
    entry.history.push(Object.freeze({ at: result.startedAt, status: result.status, durationSeconds: result.durationSeconds }));
    if (result.error !== undefined) entry.lastError = result.error;
    else if (result.status === 'success') entry.lastError = undefined;
    // Every check, so build the log object only when debug logging is on (pino tells; other loggers always get it).
    if (logger.isLevelEnabled?.('debug') !== false) {
      logger.debug({ platform: printable(entry.name), status: result.status, seconds: result.durationSeconds, error: result.error }, 'health check');
    }
    if (run.scheduled) this.#settings.cluster?.checked(entry, result, run.startedPerf);
    events.emit('check', result);
    run.resolve(result);
    onSettled();
  }

  abandoned(delta: 1 | -1): void {
    this.#abandoned += delta;
  }

  /**
   * The process, not the platform, ran out of a resource (EMFILE, ENFILE,
   * ENOMEM): the breaker got no verdict (its trial goes to the next check),
   * and the condition is logged once a minute per code.
   */
  processOutOf(run: Run, failure: Failure): void {
    this.#logLimiter.take(`process-resource:${failure.errorType}`, (suppressed) =>
      this.#settings.logger.error(
        { code: failure.errorType, platform: printable(run.target.name), error: failure.message, suppressed },
        'the process is out of a resource; checks failing with it are not counted against their platforms',
      ),
    );
  }

  /** A check's own abort listener threw: the check's bug, logged, never the process's end. */
  listenerThrew(run: Run, error: unknown): void {
    this.#logLimiter.take('abort-listener', (suppressed) =>
      this.#settings.logger.warn({ platform: printable(run.target.name), error: shortMessage(error), suppressed }, "a check's abort listener threw; ignored"),
    );
  }
}

const NOOP = (): void => {};
/** Checks aborted per event-loop turn when the monitor stops. */
const ABORTS_PER_TURN = 16;
