import { EventEmitter } from 'node:events';
import { context, ROOT_CONTEXT, trace, type Context, type Meter, type Tracer } from '@opentelemetry/api';
import { PlatformCircuitBreaker } from './breaker/circuit-breaker.ts';
import type { BreakerStateChange } from './breaker/state.ts';
import type { BreakerState } from './core/breaker-state.ts';
import { CheckRun, type RunHost } from './check-run.ts';
import { notedSuccessSpanRatio } from './deferred-span.ts';
import { Dispatcher } from './dispatcher.ts';
import { MAX_TIMER_MS, checkFunction, checkPlatformName, describeValue } from './common/validate.ts';
import type { BreakerSettings } from './breaker/options.ts';
import { MONITOR_OPTIONS, PLATFORM_OPTIONS, type HealthMonitorOptions, type PlatformOptions } from './monitor-options.ts';
import { parseOptions } from './common/option-schema.ts';
import { RingBuffer } from './common/ring-buffer.ts';
import { createLibraryLogger, type Logger } from './common/logger.ts';
import { initMetrics, type HealthCheckStatus, type HealthMetrics } from './core/metrics.ts';
import type { PluginHealth, PluginHealthStatus, PluginManager } from './core/plugin-health.ts';
import { ResourceMonitor } from './resources/resource-monitor.ts';
import type { DegradedChange, DegradedReason } from './resources/readings.ts';
import { overallStatus, type OverallStatus } from './status-rule.ts';
import { shortMessage, type Failure } from './core/failure.ts';
import { LogLimiter } from './common/log-limiter.ts';
import { printable } from './common/text.ts';
import { RandomIds } from './common/random-ids.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from './common/version.ts';

/**
 * One health check: `true`, nothing, or a healthy/degraded {@link PluginHealth}
 * is a success; `false`, an unhealthy PluginHealth, a throw, a rejection or any
 * other value is a failure. The signal aborts at the timeout and on `stop()`.
 */
export type HealthCheck = (signal: AbortSignal) => HealthCheckValue | Promise<HealthCheckValue>;
/** What a {@link HealthCheck} may return. */
export type HealthCheckValue = boolean | void | PluginHealth;

/** The outcome of one check, as {@link HealthMonitor.checkPlatformHealth} resolves it. */
export interface HealthCheckResult {
  platform: string;
  status: HealthCheckStatus;
  /** Time from start to outcome; a timeout reports the timeout; 0 when rejected. */
  durationSeconds: number;
  /** `Date.now()` when the check started. */
  startedAt: number;
  /** The platform's breaker state after the check was recorded. */
  breakerState: BreakerState;
  /** The plugin's own status when the check returned a {@link PluginHealth}. */
  health?: PluginHealthStatus;
  /** The `plugin_failure_total` error type, for failures and timeouts. */
  errorType?: string;
  /** A short, single-line reason for a failure (never a stack trace). */
  error?: string;
}

/** One platform in {@link HealthMonitor.report}. */
export interface PlatformReport {
  platform: string;
  breakerState: BreakerState;
  consecutiveFailures: number;
  /** Marked critical at `register()`: its open breaker makes the report unhealthy and the monitor not ready. */
  critical: boolean;
  lastResult?: HealthCheckStatus;
  lastHealth?: PluginHealthStatus;
  lastCheckAt?: number;
  lastDurationSeconds?: number;
  lastError?: string;
  /** When the breaker's next trial runs: the slot of the first check it lets through (absent while CLOSED). */
  nextAttemptAt?: number;
  /** Recent checks, oldest first (at most `historySize`); only in `report({ history: true })`. */
  history?: CheckSample[];
}

/** One check in a platform's history. */
export interface CheckSample {
  /** `Date.now()` when the check started. */
  at: number;
  status: HealthCheckStatus;
  /** As in {@link HealthCheckResult.durationSeconds}: 0 when rejected, the timeout when timed out. */
  durationSeconds: number;
}

/** Options of {@link HealthMonitor.report}. */
export interface ReportOptions {
  /** Adds each platform's recent checks and the recent breaker transitions (default false: the report stays small). */
  history?: boolean;
}

/** What {@link HealthMonitor.report} returns. */
export interface HealthReport {
  status: OverallStatus;
  /** Why the status is not `healthy`, for humans. */
  reasons: string[];
  /** Why resource pressure keeps the monitor in degraded mode; null when it does not. */
  degraded: DegradedReason | null;
  running: boolean;
  /** Scheduled checks that did not run since start (stall or previous check still running). */
  skippedChecks: number;
  /** Timed-out checks whose promise has still not settled. */
  abandonedChecks: number;
  platforms: PlatformReport[];
  /** Recent breaker transitions, oldest first (at most `transitionHistorySize`); only in `report({ history: true })`. */
  transitions?: BreakerStateChange[];
}

export type { HealthMonitorOptions, PlatformOptions } from './monitor-options.ts';

/** What {@link HealthMonitor.liveness} and {@link HealthMonitor.readiness} answer. */
export interface ProbeResult {
  ok: boolean;
  /** Why not, for humans; names are quoted. Empty when ok. */
  reasons: string[];
}

/** Events a {@link HealthMonitor} emits. */
export interface HealthMonitorEvents {
  /** Every finished check, rejected ones included. */
  check: [HealthCheckResult];
  /** Every breaker transition of a monitored platform. */
  transition: [BreakerStateChange];
  /** Entering and leaving degraded mode. */
  degraded: [DegradedChange];
}

interface Platform {
  name: string;
  check: HealthCheck | undefined;
  timeoutMs: number;
  scheduled: boolean;
  critical: boolean;
  manager: PluginManager | undefined;
  breaker: PlatformCircuitBreaker;
  unsubscribe: () => void;
  /** The scheduled check running now; ad hoc checkPlatformHealth() runs are not tracked here. */
  inFlight: Run | undefined;
  /** Waiting in the dispatcher's queue for the concurrency cap (the dispatcher keeps it). */
  queued: boolean;
  last: HealthCheckResult | undefined;
  lastError: string | undefined;
  history: RingBuffer<CheckSample>;
}

/** One check of a platform (see check-run.ts). */
type Run = CheckRun<Platform, HealthCheckResult>;

const NOOP = () => {};

/**
 * Checks every registered platform on a fixed, staggered schedule, feeds each
 * result to the platform's {@link PlatformCircuitBreaker}, and records a span
 * and the metrics of every check.
 */
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  readonly #platforms = new Map<string, Platform>();
  /** When each scheduled check starts: slots, due queue, concurrency cap, skips. */
  readonly #dispatcher: Dispatcher<Platform>;
  /** What each check's run calls back into (see check-run.ts). */
  readonly #runHost: RunHost<Platform, HealthCheckResult>;
  readonly #inFlight = new Set<Run>();
  readonly #metrics: HealthMetrics;
  readonly #tracer: Tracer;
  /** The `successSpanRatio` option; undefined follows what startTelemetry() noted (see `notedSuccessSpanRatio`). */
  readonly #successSpanRatio: number | undefined;
  readonly #logger: Logger;
  readonly #resources: ResourceMonitor | undefined;
  /** The monitor made #resources itself, so stop() stops it; one passed in is the caller's (and may be shared). */
  readonly #ownsResources: boolean;
  readonly #breakerOptions: BreakerSettings;
  readonly #meter: Meter | undefined;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #staggerMs: number | undefined;
  readonly #stopTimeoutMs: number;
  readonly #stallMs: number;
  readonly #historySize: number;
  readonly #transitions: RingBuffer<BreakerStateChange>;
  #stopped = false;
  #degraded: DegradedReason | undefined;
  #unsubscribeResources: () => void = NOOP;
  #abandoned = 0;
  #loopDone: Promise<void> | undefined;
  #resolveLoop: () => void = NOOP;
  #drained: (() => void) | undefined;
  /** staggeredHealthChecks() starts still to come, so stop() can clear them. */
  readonly #staggered = new Map<NodeJS.Timeout, () => void>();
  /** Faults that repeat on every check are logged once a minute, not once a check. */
  readonly #logLimiter = new LogLimiter();

  /** Recent checks kept per platform (the `historySize` option). */
  get historySize(): number {
    return this.#historySize;
  }

  /** Validates the options (errors name the option and the value). */
  constructor(options?: HealthMonitorOptions) {
    super();
    const opts = parseOptions(MONITOR_OPTIONS, 'health monitor', options);
    this.#intervalMs = opts.intervalMs;
    this.#timeoutMs = opts.timeoutMs;
    this.#staggerMs = opts.staggerMs;
    this.#stopTimeoutMs = opts.stopTimeoutMs;
    this.#stallMs = opts.stallMs;
    this.#historySize = opts.historySize;
    this.#transitions = new RingBuffer(opts.transitionHistorySize);
    this.#breakerOptions = opts.breaker;
    this.#meter = opts.meter;
    this.#metrics = initMetrics({ meter: this.#meter });
    this.#tracer = opts.tracer ?? trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
    this.#successSpanRatio = opts.successSpanRatio;
    this.#logger = opts.logger ?? createLibraryLogger();
    this.#ownsResources = opts.resources === undefined;
    this.#resources =
      opts.resources === false
        ? undefined
        : (opts.resources ?? new ResourceMonitor({ intervalMs: Math.min(MAX_TIMER_MS, Math.max(1, Math.round(this.#intervalMs))), metrics: this.#metrics, logger: this.#logger }));
    this.#dispatcher = new Dispatcher<Platform>(
      {
        intervalMs: this.#intervalMs,
        staggerMs: this.#staggerMs,
        maxConcurrent: opts.maxConcurrent,
        maxLatenessMs: opts.maxLatenessMs ?? this.#intervalMs / 5,
        degradedIntervalFactor: opts.degradedIntervalFactor,
        degradedConcurrencyFactor: opts.degradedConcurrencyFactor,
      },
      {
        lookup: (key) => {
          const entry = this.#platforms.get(key);
          return entry?.check ? entry : undefined;
        },
        isCurrent: (entry) => entry.check !== undefined && this.#platforms.get(entry.name) === entry,
        isBusy: (entry, now) => {
          // A check whose deadline has come is over: settle it before its timer
          // fires, so the next one starts on time instead of being skipped.
          if (entry.inFlight && entry.inFlight.deadline <= now) entry.inFlight.expire();
          return entry.inFlight !== undefined;
        },
        start: (entry) => this.#run(entry, entry.check!, NOOP, ROOT_CONTEXT, true),
        inFlight: () => this.#inFlight.size,
        skipped: (entry, reason, count) => this.#metrics.recordSkippedCheck(entry.name, reason, count),
      },
      this.#logger,
    );
    this.#runHost = this.#createRunHost();
  }

  /**
   * Adds a platform to the schedule, optionally with its own interval,
   * timeout and breaker settings. Empty or duplicate names are errors.
   */
  register(platform: string, check: HealthCheck, options?: PlatformOptions): void {
    this.#assertUsable();
    checkPlatformName(platform);
    checkFunction('check', check);
    const opts = parseOptions(PLATFORM_OPTIONS, 'platform', options);
    const intervalMs = opts.intervalMs ?? this.#intervalMs;
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const breaker = opts.breaker ?? {};
    let entry = this.#platforms.get(platform);
    if (entry?.scheduled) throw new Error(`conductor-health: platform ${describeValue(platform)} is already registered`);
    if (entry && Object.keys(breaker).length > 0) {
      // Checked ad hoc before with the default breaker: start over with the one asked for.
      this.unregister(platform);
      entry = undefined;
    }
    entry ??= this.#createPlatform(platform, breaker);
    entry.check = check;
    entry.timeoutMs = timeoutMs;
    entry.critical = opts.critical === true;
    entry.scheduled = true;
    this.#dispatcher.add(platform, intervalMs);
  }

  /** Removes a platform: its schedule, its breaker and its per-platform state. Unknown names are ignored. */
  unregister(platform: string): void {
    const entry = this.#platforms.get(platform);
    if (!entry) return;
    this.#platforms.delete(platform);
    this.#dispatcher.remove(platform);
    for (const run of [...this.#inFlight]) if (run.target === entry) run.cancel(new Error(`platform ${describeValue(platform)} was unregistered`));
    entry.unsubscribe();
    entry.breaker.shutdown();
    this.#metrics.forgetPlatform(platform);
    // Its cancelled check freed a place under the concurrency cap.
    this.#dispatcher.pump();
  }

  /**
   * Registers every platform of the conductor's plugin manager, with
   * `manager.checkHealth` as its check. Calling it again picks up platforms
   * the manager gained since; it returns the ones it added.
   */
  attachPluginManager(manager: PluginManager): string[] {
    if (typeof manager?.platforms !== 'function' || typeof manager.checkHealth !== 'function') {
      throw new TypeError(`conductor-health: attachPluginManager needs an object with platforms() and checkHealth(), got ${describeValue(manager)}`);
    }
    const added: string[] = [];
    for (const platform of manager.platforms()) {
      const existing = this.#platforms.get(platform);
      if (existing?.scheduled && existing.manager === manager) continue;
      this.register(platform, (signal) => manager.checkHealth(platform, signal));
      this.#platforms.get(platform)!.manager = manager;
      added.push(platform);
    }
    return added;
  }

  /** The breaker of a platform, or undefined if the monitor does not know it. */
  getBreaker(platform: string): PlatformCircuitBreaker | undefined {
    return this.#platforms.get(platform)?.breaker;
  }

  /**
   * Runs one check now and resolves with its result; never rejects. Without
   * `check`, the registered check runs. A platform checked here for the first
   * time gets a breaker but joins the schedule only through {@link register}.
   */
  checkPlatformHealth(platform: string, check?: HealthCheck): Promise<HealthCheckResult> {
    this.#assertUsable();
    checkPlatformName(platform);
    if (check !== undefined) checkFunction('check', check);
    const known = this.#platforms.get(platform);
    const fn = check ?? known?.check;
    // Before a breaker exists: a typo must leave no breaker (and no series) behind.
    if (fn === undefined) {
      throw new Error(`conductor-health: platform ${describeValue(platform)} has no registered check; pass one`);
    }
    const entry = known ?? this.#createPlatform(platform);
    // Parented to the caller's span, if any; the loop's checks are roots.
    const parent = context.active();
    return new Promise((resolve) => this.#run(entry, fn, resolve, parent, false));
  }

  /**
   * Checks each platform once, starting platform i of N at i × interval / N
   * (or i × `staggerMs`) from now; resolves with the results in input order.
   */
  staggeredHealthChecks(platforms: Iterable<string>, check: HealthCheck): Promise<HealthCheckResult[]> {
    this.#assertUsable();
    checkFunction('check', check);
    const list = [...platforms];
    for (const platform of list) checkPlatformName(platform);
    const gap = this.#staggerMs ?? this.#intervalMs / Math.max(1, list.length);
    return Promise.all(
      list.map(
        (platform, i) =>
          new Promise<HealthCheckResult>((resolve) => {
            const begin = () => resolve(this.checkPlatformHealth(platform, check));
            if (i === 0 || gap === 0) {
              begin();
              return;
            }
            const timer = setTimeout(() => {
              this.#staggered.delete(timer);
              begin();
            }, i * gap);
            // stop() clears it and answers instead: never reject, leave no timer.
            this.#staggered.set(timer, () => resolve(cancelledResult(platform)));
          }),
      ),
    );
  }

  /** Starts the schedule (and resource sampling); returns at once. */
  start(): void {
    this.#assertUsable();
    if (this.#dispatcher.running) return;
    if (this.#resources) {
      this.#unsubscribeResources = this.#resources.on('change', (change) => this.#onResourceChange(change));
      // A shared resource monitor may be degraded already: no change will come to say so.
      // (Before running: the plan below then starts with the degraded intervals.)
      const reason = this.#resources.reason();
      if (reason) this.#onResourceChange({ degraded: true, reason, readings: this.#resources.lastReadings(), at: Date.now() });
      this.#resources.start();
    }
    this.#loopDone = new Promise((resolve) => (this.#resolveLoop = resolve));
    this.#dispatcher.start();
  }

  /** Runs the schedule until {@link stop}; resolves once stopped. */
  healthCheckLoop(): Promise<void> {
    this.start();
    return this.#loopDone!;
  }

  /**
   * Stops scheduling, aborts in-flight checks, waits for them up to
   * `stopTimeoutMs`, shuts every breaker down and resolves. Afterwards no
   * timer of the monitor keeps the process alive. Idempotent; final.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#dispatcher.stop();
    this.#unsubscribeResources();
    for (const [timer, cancel] of this.#staggered) {
      clearTimeout(timer);
      cancel();
    }
    this.#staggered.clear();
    // A resource sample already running may still flip the mode and log it: wait for it too.
    // Only a resource monitor the monitor made is stopped; the caller's may serve others.
    let sampling = this.#ownsResources ? this.#resources?.stop() : undefined;
    for (const run of this.#inFlight) run.abort(new Error('health monitor stopped'));
    // A check that honours its signal settles on its own and releases its
    // sockets; give it the bound, then cut it off.
    if (this.#inFlight.size > 0 || sampling) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#stopTimeoutMs);
        timer.unref();
        const done = () => {
          if (this.#inFlight.size > 0 || sampling) return;
          clearTimeout(timer);
          resolve();
        };
        this.#drained = done;
        void sampling?.then(() => {
          sampling = undefined;
          done();
        });
        done();
      });
    }
    this.#drained = undefined;
    for (const run of [...this.#inFlight]) run.cancel();
    for (const entry of this.#platforms.values()) {
      entry.unsubscribe();
      entry.breaker.shutdown();
    }
    this.#resolveLoop();
  }

  /**
   * Is the monitor itself alive? Not when it is stopping (or stopped), nor
   * when a scheduling pass is overdue by more than `stallMs` while running.
   * Platforms never affect it: restarting the process fixes no platform.
   */
  liveness(): ProbeResult {
    if (this.#stopped) return { ok: false, reasons: ['stopping'] };
    const overdueMs = this.#dispatcher.overdueMs();
    if (this.#dispatcher.running && overdueMs > this.#stallMs) {
      return { ok: false, reasons: [`scheduler stalled: a scheduling pass is ${Math.round(overdueMs)} ms overdue (bound ${this.#stallMs} ms)`] };
    }
    return { ok: true, reasons: [] };
  }

  /**
   * Should the conductor receive work? Only once started and while running,
   * and only while every critical platform's breaker is CLOSED. Without
   * critical platforms, platforms never affect readiness.
   */
  readiness(): ProbeResult {
    if (this.#stopped) return { ok: false, reasons: ['stopping'] };
    if (!this.#dispatcher.running) return { ok: false, reasons: ['not started'] };
    const reasons: string[] = [];
    for (const entry of this.#platforms.values()) {
      if (!entry.critical || !entry.scheduled) continue;
      const state = entry.breaker.getState().state;
      if (state !== 'CLOSED') reasons.push(`critical platform ${describeValue(entry.name)} has a ${state} breaker`);
    }
    return { ok: reasons.length === 0, reasons };
  }

  /**
   * The monitor's view of itself; the status follows {@link overallStatus}:
   * `unhealthy` only when a critical platform's breaker is not closed,
   * `degraded` for any other breaker not closed, failed last check or
   * degraded mode, else `healthy`.
   */
  report(options?: ReportOptions): HealthReport {
    const withHistory = options?.history === true;
    const platforms: PlatformReport[] = [];
    for (const entry of this.#platforms.values()) {
      if (!entry.scheduled) continue;
      const state = entry.breaker.getState();
      platforms.push({
        platform: entry.name,
        breakerState: state.state,
        consecutiveFailures: state.failureCount,
        critical: entry.critical,
        lastResult: entry.last?.status,
        lastHealth: entry.last?.health,
        lastCheckAt: entry.last?.startedAt,
        lastDurationSeconds: entry.last?.durationSeconds,
        lastError: entry.lastError,
        nextAttemptAt: state.state === 'CLOSED' ? undefined : this.#nextTrialAt(entry.name, state.nextAttemptAt),
        ...(withHistory ? { history: entry.history.toArray() } : {}),
      });
    }
    const { status, reasons } = overallStatus(platforms, this.#degraded);
    return {
      status,
      reasons,
      degraded: this.#degraded ? { ...this.#degraded } : null,
      running: this.#dispatcher.running,
      skippedChecks: this.#dispatcher.skipped,
      abandonedChecks: this.#abandoned,
      platforms,
      ...(withHistory ? { transitions: this.#transitions.toArray() } : {}),
    };
  }

  /**
   * Wall time of the slot that will carry a breaker's next trial: the
   * platform's first slot at or after the breaker allows one (while
   * HALF_OPEN, its next slot). Never in the past. Not running: the breaker's own time.
   */
  #nextTrialAt(platform: string, allowedAt: number | undefined): number | undefined {
    if (allowedAt === undefined || !this.#dispatcher.running) return allowedAt;
    const wallNow = Date.now();
    const perfNow = performance.now();
    const slot = this.#dispatcher.slotAtOrAfter(platform, perfNow + Math.max(0, allowedAt - wallNow));
    return slot === undefined ? allowedAt : Math.round(wallNow + Math.max(0, slot - perfNow));
  }

  #assertUsable(): void {
    if (this.#stopped) throw new Error('conductor-health: this health monitor was stopped; create a new one');
  }

  #createPlatform(name: string, breakerOverrides: BreakerSettings = {}): Platform {
    const breaker = new PlatformCircuitBreaker(name, {
      ...this.#breakerOptions,
      ...breakerOverrides,
      metrics: this.#metrics,
      tracer: this.#tracer,
      logger: this.#logger,
    });
    const entry: Platform = {
      name,
      check: undefined,
      timeoutMs: this.#timeoutMs,
      scheduled: false,
      critical: false,
      manager: undefined,
      breaker,
      unsubscribe: NOOP,
      inFlight: undefined,
      queued: false,
      last: undefined,
      lastError: undefined,
      history: new RingBuffer(this.#historySize),
    };
    entry.unsubscribe = breaker.on('transition', (change) => {
      const level = change.to === 'CLOSED' ? 'info' : 'warn';
      this.#logger[level]({ platform: printable(name), from: change.from, to: change.to, failures: change.failureCount }, 'circuit breaker state change');
      // Frozen copies: a listener or a report reader cannot rewrite history.
      this.#transitions.push(Object.freeze({ ...change }));
      this.#emitSafely('transition', change);
    });
    this.#platforms.set(name, entry);
    return entry;
  }

  /** Starts one check; its run calls back through {@link #createRunHost}. */
  #run(entry: Platform, check: HealthCheck, resolve: (result: HealthCheckResult) => void, parent: Context, scheduled: boolean): void {
    new CheckRun(this.#runHost, entry, check, resolve, parent, scheduled);
  }

  /** The monitor's side of every check: in-flight bookkeeping, metrics, the platform's last result, events. */
  #createRunHost(): RunHost<Platform, HealthCheckResult> {
    const monitor = this;
    return {
      tracer: this.#tracer,
      // Read per check: startTelemetry() may register its provider after the monitor exists.
      get successSpanRatio() {
        return monitor.#successSpanRatio ?? notedSuccessSpanRatio() ?? 1;
      },
      ids: new RandomIds(),
      started: (run) => {
        if (run.scheduled) run.target.inFlight = run;
        this.#inFlight.add(run);
      },
      finished: (run) => {
        if (run.target.inFlight === run) run.target.inFlight = undefined;
        this.#inFlight.delete(run);
        if (this.#inFlight.size === 0) this.#drained?.();
        return this.#stopped;
      },
      cancelled: (run) => run.resolve(cancelledResult(run.target.name, run.startedAt, run.target.breaker.getState().state)),
      recorded: (run, { status, health, errorType, message }, seconds) => {
        const { name, breaker } = run.target;
        this.#metrics.recordHealthCheck(name, status, status === 'rejected' ? undefined : seconds);
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
      },
      ended: (run, result) => this.#publish(run.target, result, run.resolve),
      abandoned: (delta) => (this.#abandoned += delta),
      processOutOf: (run, failure) => this.#processOutOf(run.target.name, failure),
      listenerThrew: (run, error) => this.#listenerThrew(run.target.name, error),
    };
  }

  /** A finished check's result: the platform's last result and history, the log, the event, the waiting caller, and the next queued check. */
  #publish(entry: Platform, result: HealthCheckResult, resolve: (result: HealthCheckResult) => void): void {
    entry.last = result;
    entry.history.push(Object.freeze({ at: result.startedAt, status: result.status, durationSeconds: result.durationSeconds }));
    if (result.error !== undefined) entry.lastError = result.error;
    else if (result.status === 'success') entry.lastError = undefined;
    // Every check, so build the log object only when debug logging is on (pino tells; other loggers always get it).
    if (this.#logger.isLevelEnabled?.('debug') !== false) {
      this.#logger.debug({ platform: printable(entry.name), status: result.status, seconds: result.durationSeconds, error: result.error }, 'health check');
    }
    this.#emitSafely('check', result);
    resolve(result);
    this.#dispatcher.pump();
  }

  #onResourceChange(change: DegradedChange): void {
    this.#degraded = change.degraded ? change.reason : undefined;
    // A root: the sampler's timer may carry the context of whatever span was active at start().
    const span = this.#tracer.startSpan('health_monitor.mode_change', { root: true });
    const attributes = change.reason
      ? { 'health_monitor.resource': change.reason.resource, 'health_monitor.reading': change.reason.value, 'health_monitor.threshold': change.reason.threshold }
      : {};
    // The resource monitor logs the flip itself (one warning in, one info out).
    if (change.degraded) span.addEvent('health_monitor.degraded', attributes);
    else span.addEvent('health_monitor.recovered', Object.fromEntries(Object.entries(change.readings).map(([k, v]) => [`health_monitor.reading.${k}`, v])));
    span.end();
    this.#dispatcher.setDegraded(change.degraded);
    this.#emitSafely('degraded', change);
  }

  /**
   * The process, not the platform, ran out of a resource (EMFILE, ENFILE,
   * ENOMEM): the breaker gets no verdict (its trial goes to the next check),
   * and the condition is logged once a minute per code.
   */
  #processOutOf(platform: string, failure: Failure): void {
    this.#logLimiter.take(`process-resource:${failure.errorType}`, (suppressed) =>
      this.#logger.error(
        { code: failure.errorType, platform: printable(platform), error: failure.message, suppressed },
        'the process is out of a resource; checks failing with it are not counted against their platforms',
      ),
    );
  }

  /** A check's own abort listener threw: the check's bug, logged, never the process's end. */
  #listenerThrew(platform: string, error: unknown): void {
    this.#logLimiter.take('abort-listener', (suppressed) =>
      this.#logger.warn({ platform: printable(platform), error: shortMessage(error), suppressed }, "a check's abort listener threw; ignored"),
    );
  }

  #emitSafely<K extends keyof HealthMonitorEvents>(event: K, ...args: HealthMonitorEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: HealthMonitorEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#logger.error({ event, error: shortMessage(error) }, 'a health monitor listener threw');
    }
  }
}

/** What a check cut off by `stop()` or `unregister()` resolves to; it is not counted anywhere. */
function cancelledResult(platform: string, startedAt = Date.now(), breakerState: BreakerState = 'CLOSED'): HealthCheckResult {
  return { platform, status: 'failure', durationSeconds: 0, startedAt, breakerState, errorType: 'cancelled', error: 'health monitor stopped' };
}
