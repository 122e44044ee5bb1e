import { EventEmitter } from 'node:events';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Meter, type Span, type Tracer } from '@opentelemetry/api';
import {
  PlatformCircuitBreaker,
  type BreakerPermit,
  type BreakerState,
  type BreakerStateChange,
} from './circuit-breaker.ts';
import { MAX_TIMER_MS, checkFunction, checkPlatformName, describeValue } from './config.ts';
import { MONITOR_OPTIONS, PLATFORM_OPTIONS, type BreakerSettings, type HealthMonitorOptions, type PlatformOptions } from './options.ts';
import { parseOptions } from './option-schema.ts';
import { RingBuffer } from './history.ts';
import { createLibraryLogger, type Logger } from './logger.ts';
import { initMetrics, type HealthCheckStatus, type HealthMetrics } from './metrics.ts';
import { isPluginHealth, type PluginHealth, type PluginHealthStatus, type PluginManager } from './plugins.ts';
import { ResourceMonitor, type DegradedChange, type DegradedReason } from './resources.ts';
import { Schedule } from './schedule.ts';
import { overallStatus, type OverallStatus } from './status-rule.ts';
import { captureFailure, shortMessage, type CheckFailure } from './check-failure.ts';
import { classifyOutcome, type Outcome as ClassifiedOutcome } from './outcome.ts';
import { abortCheck, checkSignal } from './check-signal.ts';
import { LogLimiter } from './log-limiter.ts';
import { printable } from './text.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version.ts';

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

export type { HealthMonitorOptions, PlatformOptions } from './options.ts';

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

/** Raised into a check's signal when the check runs out of time. */
export class HealthCheckTimeoutError extends Error {
  /** The `error_type` every timeout is counted under. */
  readonly code = 'timeout';
  /** The platform whose check timed out. */
  readonly platform: string;
  /** The bound it ran into. */
  readonly timeoutMs: number;
  constructor(platform: string, timeoutMs: number) {
    super(`health check of ${describeValue(platform)} timed out after ${timeoutMs} ms`);
    this.name = 'HealthCheckTimeoutError';
    this.platform = platform;
    this.timeoutMs = timeoutMs;
  }
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
  /** A scheduled check is waiting in the queue for the concurrency cap. */
  queued: boolean;
  last: HealthCheckResult | undefined;
  lastError: string | undefined;
  history: RingBuffer<CheckSample>;
}

/** Everything one running check needs to finish, from whichever side finishes it. */
interface Run {
  platform: Platform;
  span: Span;
  ctx: Context;
  /** Undefined for a check the breaker rejected: it never ran. */
  controller: AbortController | undefined;
  /** The breaker's permit for this check; undefined when it was rejected. */
  permit: BreakerPermit | undefined;
  timer: NodeJS.Timeout | undefined;
  startedAt: number;
  startedPerf: number;
  deadline: number;
  done: boolean;
  /** Started by the schedule (true) or by checkPlatformHealth() (false). */
  scheduled: boolean;
  resolve: (result: HealthCheckResult) => void;
}

/** A check's outcome as {@link classifyOutcome} reads it, or cut off by stop()/unregister(). */
type Outcome = Exclude<ClassifiedOutcome, { kind: 'threw' }> | { kind: 'threw'; failure: CheckFailure } | { kind: 'cancelled' };

const REJECTED: Outcome = Object.freeze({ kind: 'rejected' });
/**
 * The scheduling timer never wakes sooner than this after its last planned
 * wake-up (twice this when slots come more than one per 2 ms). Sparse
 * schedules keep their exact slots; dense ones (10,000 platforms at 5 s put
 * a slot every 0.5 ms) start a batch at once, each check at most 20 ms late,
 * which costs far less CPU than a wake-up per check on cold caches.
 */
const MIN_WAKE_GAP_MS = 10;
const NOOP = () => {};

/**
 * Checks every registered platform on a fixed, staggered schedule, feeds each
 * result to the platform's {@link PlatformCircuitBreaker}, and records a span
 * and the metrics of every check.
 */
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  readonly #platforms = new Map<string, Platform>();
  readonly #schedule: Schedule;
  /** Due checks waiting for the concurrency cap; `#queueHead` avoids O(n) shifts. */
  #queue: Array<{ platform: Platform; slotAt: number }> = [];
  #queueHead = 0;
  readonly #inFlight = new Set<Run>();
  readonly #metrics: HealthMetrics;
  readonly #tracer: Tracer;
  readonly #logger: Logger;
  readonly #resources: ResourceMonitor | undefined;
  /** The monitor made #resources itself, so stop() stops it; one passed in is the caller's (and may be shared). */
  readonly #ownsResources: boolean;
  readonly #breakerOptions: BreakerSettings;
  readonly #meter: Meter | undefined;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #staggerMs: number | undefined;
  readonly #maxConcurrent: number;
  readonly #maxLatenessMs: number;
  readonly #stopTimeoutMs: number;
  readonly #stallMs: number;
  readonly #historySize: number;
  readonly #transitions: RingBuffer<BreakerStateChange>;
  readonly #degradedIntervalFactor: number;
  readonly #degradedConcurrencyFactor: number;
  #timer: NodeJS.Timeout | undefined;
  /** When the current timer was planned to fire, and when the last one was: the gap is between plans, so timer lateness does not pile up. */
  #armedFor = -Infinity;
  #lastWake = -Infinity;
  /** `performance.now()` by which the armed timer should have fired; liveness reads it on the monotonic clock. */
  #wakeDuePerf = Infinity;
  #pumping = false;
  #running = false;
  #stopped = false;
  #replanQueued = false;
  #degraded: DegradedReason | undefined;
  #unsubscribeResources: () => void = NOOP;
  #skipped = 0;
  #abandoned = 0;
  #skipLog = { missed: 0, busy: 0, maxLatenessMs: 0 };
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
    this.#maxConcurrent = opts.maxConcurrent;
    this.#maxLatenessMs = opts.maxLatenessMs ?? this.#intervalMs / 5;
    this.#stopTimeoutMs = opts.stopTimeoutMs;
    this.#stallMs = opts.stallMs;
    this.#historySize = opts.historySize;
    this.#transitions = new RingBuffer(opts.transitionHistorySize);
    this.#degradedIntervalFactor = opts.degradedIntervalFactor;
    this.#degradedConcurrencyFactor = opts.degradedConcurrencyFactor;
    this.#breakerOptions = opts.breaker;
    this.#meter = opts.meter;
    this.#metrics = initMetrics({ meter: this.#meter });
    this.#tracer = opts.tracer ?? trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
    this.#logger = opts.logger ?? createLibraryLogger();
    this.#ownsResources = opts.resources === undefined;
    this.#resources =
      opts.resources === false
        ? undefined
        : (opts.resources ?? new ResourceMonitor({ intervalMs: Math.min(MAX_TIMER_MS, Math.max(1, Math.round(this.#intervalMs))), metrics: this.#metrics, logger: this.#logger }));
    this.#schedule = new Schedule(this.#staggerMs);
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
    this.#schedule.add(platform, intervalMs);
    this.#queueReplan();
  }

  /** Removes a platform: its schedule, its breaker and its per-platform state. Unknown names are ignored. */
  unregister(platform: string): void {
    const entry = this.#platforms.get(platform);
    if (!entry) return;
    this.#platforms.delete(platform);
    this.#schedule.remove(platform);
    for (const run of [...this.#inFlight]) {
      if (run.platform !== entry) continue;
      if (run.controller) abortCheck(run.controller, new Error(`platform ${describeValue(platform)} was unregistered`));
      this.#finish(run, { kind: 'cancelled' });
    }
    entry.unsubscribe();
    entry.breaker.shutdown();
    this.#metrics.forgetPlatform(platform);
    this.#queueReplan();
    // Its cancelled check freed a place under the concurrency cap.
    this.#pump();
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
    return new Promise((resolve) => this.#start(entry, fn, resolve, parent, false));
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
    if (this.#running) return;
    if (this.#resources) {
      this.#unsubscribeResources = this.#resources.onChange((change) => this.#onResourceChange(change));
      // A shared resource monitor may be degraded already: no change will come to say so.
      // (Before running: the plan below then starts with the degraded intervals.)
      const reason = this.#resources.reason();
      if (reason) this.#onResourceChange({ degraded: true, reason, readings: this.#resources.lastReadings(), at: Date.now() });
      this.#resources.start();
    }
    this.#running = true;
    this.#loopDone = new Promise((resolve) => (this.#resolveLoop = resolve));
    this.#schedule.plan(performance.now(), true);
    this.#arm();
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
    this.#running = false;
    this.#wakeDuePerf = Infinity;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#queueHead = 0;
    this.#unsubscribeResources();
    for (const [timer, cancel] of this.#staggered) {
      clearTimeout(timer);
      cancel();
    }
    this.#staggered.clear();
    // A resource sample already running may still flip the mode and log it: wait for it too.
    // Only a resource monitor the monitor made is stopped; the caller's may serve others.
    let sampling = this.#ownsResources ? this.#resources?.stop() : undefined;
    for (const run of this.#inFlight) if (run.controller) abortCheck(run.controller, new Error('health monitor stopped'));
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
    for (const run of [...this.#inFlight]) this.#finish(run, { kind: 'cancelled' });
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
    const overdueMs = performance.now() - this.#wakeDuePerf;
    if (this.#running && overdueMs > this.#stallMs) {
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
    if (!this.#running) return { ok: false, reasons: ['not started'] };
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
      running: this.#running,
      skippedChecks: this.#skipped,
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
    if (allowedAt === undefined || !this.#running) return allowedAt;
    const wallNow = Date.now();
    const perfNow = performance.now();
    const slot = this.#schedule.slotAtOrAfter(platform, perfNow + Math.max(0, allowedAt - wallNow));
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
    entry.unsubscribe = breaker.onStateChange((change) => {
      const level = change.to === 'CLOSED' ? 'info' : 'warn';
      this.#logger[level]({ platform: printable(name), from: change.from, to: change.to, failures: change.failureCount }, 'circuit breaker state change');
      // Frozen copies: a listener or a report reader cannot rewrite history.
      this.#transitions.push(Object.freeze({ ...change }));
      this.#emitSafely('transition', change);
    });
    this.#platforms.set(name, entry);
    return entry;
  }

  /** Starts one check; everything after the start happens in {@link #finish}. */
  #start(entry: Platform, check: HealthCheck, resolve: (result: HealthCheckResult) => void, parent: Context, scheduled: boolean): void {
    const startedAt = Date.now();
    const startedPerf = performance.now();
    const span = this.#tracer.startSpan(
      'health_check',
      { kind: SpanKind.INTERNAL, attributes: { 'health_check.platform': entry.name, 'health_check.timeout_ms': entry.timeoutMs } },
      parent,
    );
    const run: Run = {
      platform: entry,
      span,
      ctx: trace.setSpan(parent, span),
      controller: undefined,
      permit: undefined,
      timer: undefined,
      startedAt,
      startedPerf,
      deadline: startedPerf + entry.timeoutMs,
      done: false,
      scheduled,
      resolve,
    };
    // One context switch per check: the breaker's verdict, the check itself and
    // (through the promise callbacks and timer created inside) the recording of
    // its outcome all see the span, so rejections and transitions become its events.
    context.with(run.ctx, this.#begin, this, run, check);
  }

  /** Runs inside the check's span: asks the breaker, calls the check, and finishes at once when it can. */
  #begin(run: Run, check: HealthCheck): void {
    const entry = run.platform;
    run.permit = entry.breaker.tryAcquire();
    if (run.permit === undefined) {
      this.#finish(run, REJECTED);
      return;
    }
    const controller = new AbortController();
    run.controller = controller;
    if (run.scheduled) entry.inFlight = run;
    this.#inFlight.add(run);
    let outcome: Outcome | undefined;
    try {
      const value = check(checkSignal(controller, (error) => this.#listenerThrew(entry.name, error)));
      if (isThenable(value)) {
        // A thenable's own then() may throw: that is the check failing, not the monitor.
        value.then(
          (v) => (run.done ? this.#settledLate(run) : this.#finish(run, captureValue(v))),
          (error: unknown) => (run.done ? this.#settledLate(run) : this.#finish(run, { kind: 'threw', failure: captureFailure(error) })),
        );
      } else {
        outcome = captureValue(value);
      }
    } catch (error) {
      outcome = { kind: 'threw', failure: captureFailure(error) };
    }
    // Outside the try: the monitor's own errors must surface, not pass for the check's.
    if (outcome !== undefined) this.#finish(run, outcome);
    else if (!run.done) run.timer = setTimeout(() => this.#expire(run), entry.timeoutMs);
  }

  #expire(run: Run): void {
    if (run.done) return;
    const timeout = () => new HealthCheckTimeoutError(run.platform.name, run.platform.timeoutMs);
    // The check gets its own instance: what it does to its signal's reason cannot reach the result.
    if (run.controller) abortCheck(run.controller, timeout());
    this.#abandoned += 1;
    // The scheduler may expire a run from outside its span: record inside it all the same.
    context.with(run.ctx, () => this.#finish(run, { kind: 'timeout', error: timeout() }));
  }

  /** A timed-out check's promise settled after all: it is no longer abandoned. */
  #settledLate(run: Run): void {
    if (run.timer === undefined) return;
    run.timer = undefined;
    this.#abandoned -= 1;
  }

  /** Records the outcome once: breaker, metrics, span, report and events. `undefined` means rejected. */
  #finish(run: Run, outcome: Outcome): void {
    if (run.done) return;
    run.done = true;
    const { platform: entry, span } = run;
    if (run.timer !== undefined && outcome?.kind !== 'timeout') {
      clearTimeout(run.timer);
      run.timer = undefined;
    }
    if (entry.inFlight === run) entry.inFlight = undefined;
    this.#inFlight.delete(run);
    if (this.#inFlight.size === 0) this.#drained?.();

    // Once stopping, outcomes are the stop's doing (an aborted signal), not the platform's.
    if (outcome?.kind === 'cancelled' || this.#stopped) {
      // No verdict: a trial this check held goes to the next caller.
      run.permit?.release();
      span.setAttribute('health_check.status', 'cancelled');
      span.end();
      run.resolve(cancelledResult(entry.name, run.startedAt, entry.breaker.getState().state));
      return;
    }
    const seconds = outcome.kind === 'rejected' ? 0 : outcome.kind === 'timeout' ? entry.timeoutMs / 1000 : (performance.now() - run.startedPerf) / 1000;
    const result = this.#record(entry, run.permit, outcome, seconds, run.startedAt);
    span.setAttributes({ 'health_check.status': result.status, 'circuit_breaker.state': result.breakerState });
    if (result.health) span.setAttribute('plugin.health.status', result.health);
    if (result.status === 'failure' || result.status === 'timeout') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.error });
      span.recordException(outcome.kind === 'threw' ? outcome.failure.exception : { name: result.errorType ?? 'failure', message: result.error ?? '' });
    }
    span.end();
    entry.last = result;
    entry.history.push(Object.freeze({ at: result.startedAt, status: result.status, durationSeconds: result.durationSeconds }));
    if (result.error !== undefined) entry.lastError = result.error;
    else if (result.status === 'success') entry.lastError = undefined;
    // Every check, so build the log object only when debug logging is on (pino tells; other loggers always get it).
    if (this.#logger.isLevelEnabled?.('debug') !== false) {
      this.#logger.debug({ platform: printable(entry.name), status: result.status, seconds: result.durationSeconds, error: result.error }, 'health check');
    }
    this.#emitSafely('check', result);
    run.resolve(result);
    this.#pump();
  }

  /** Feeds the outcome to the check's permit and the metrics, and builds the result. */
  #record(entry: Platform, permit: BreakerPermit | undefined, outcome: Exclude<Outcome, { kind: 'cancelled' }>, seconds: number, startedAt: number): HealthCheckResult {
    const { status, health, errorType, message, verdict, cause } = classifyOutcome(outcome);
    if (verdict === 'success') permit?.success();
    else if (verdict === 'failure') permit?.failure(cause);
    else if (verdict === 'release') permit?.release();
    if (outcome.kind === 'threw' && outcome.failure.processResource !== undefined) this.#processOutOf(entry.name, outcome.failure);
    this.#metrics.recordHealthCheck(entry.name, status, status === 'rejected' ? undefined : seconds);
    return {
      platform: entry.name,
      status,
      durationSeconds: seconds,
      startedAt,
      breakerState: entry.breaker.getState().state,
      ...(health ? { health } : {}),
      ...(errorType ? { errorType } : {}),
      ...(message ? { error: message } : {}),
    };
  }

  #queueReplan(): void {
    // (only while running: start() plans everything anyway)
    if (!this.#running || this.#replanQueued) return;
    this.#replanQueued = true;
    // Registering many platforms in one go plans once, not once per platform.
    queueMicrotask(() => {
      this.#replanQueued = false;
      if (!this.#running) return;
      this.#replan();
    });
  }

  /** Re-plans the slots; slots already due are queued first, so a re-plan never drops one. */
  #replan(): void {
    const now = performance.now();
    this.#queueDue(now);
    this.#schedule.plan(now);
    this.#pump();
    this.#arm();
  }

  /** Points the one scheduling timer at the earliest due slot. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wakeDuePerf = Infinity;
    const next = this.#schedule.nextDueAt();
    if (!this.#running || next === undefined) return;
    // Slots denser than one per 2 ms (10,000 platforms at 5 s): wake half as often again.
    // Never so wide that batching alone would make a check miss its slot (maxLatenessMs).
    const gap = Math.min(this.#schedule.size * 2 > this.#intervalMs ? 2 * MIN_WAKE_GAP_MS : MIN_WAKE_GAP_MS, this.#maxLatenessMs / 2);
    const at = Math.max(next, this.#lastWake + gap);
    this.#armedFor = at;
    // Longer delays overflow setTimeout into 1 ms; a tick before the slot just re-arms.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - performance.now()));
    this.#wakeDuePerf = performance.now() + delay;
    this.#timer = setTimeout(() => this.#tick(), delay);
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const now = performance.now();
    if (now < this.#armedFor) {
      // Timers may fire a fraction of a millisecond early by performance.now(): wait for the planned moment.
      this.#timer = setTimeout(() => this.#tick(), this.#armedFor - now);
      return;
    }
    this.#lastWake = this.#armedFor;
    this.#queueDue(now);
    this.#pump();
    this.#arm();
  }

  /** Queues every slot due at `now`; a platform still busy with its previous check skips the slot. */
  #queueDue(now: number): void {
    for (const { key, slotAt, skippedSlots } of this.#schedule.takeDue(now)) {
      const entry = this.#platforms.get(key);
      if (!entry?.check) continue;
      if (skippedSlots > 0) this.#skip(entry, 'missed', skippedSlots, now - slotAt);
      // A check whose deadline has come is over: settle it before its timer
      // fires, so the next one starts on time instead of being skipped.
      if (entry.inFlight && entry.inFlight.deadline <= now) this.#expire(entry.inFlight);
      if (entry.inFlight || entry.queued) {
        this.#skip(entry, 'busy', 1, now - slotAt);
        continue;
      }
      entry.queued = true;
      this.#queue.push({ platform: entry, slotAt });
    }
  }

  /** Starts queued checks while the concurrency cap allows; late ones are skipped. */
  #pump(): void {
    // Not re-entered: a check that finishes synchronously calls back into
    // #finish → #pump; the loop below carries on instead of recursing once
    // per queued check (thousands deep when a large batch is due at once).
    if (!this.#running || this.#pumping) return;
    this.#pumping = true;
    try {
      const cap = this.#degraded ? Math.max(1, Math.floor(this.#maxConcurrent * this.#degradedConcurrencyFactor)) : this.#maxConcurrent;
      while (this.#queueHead < this.#queue.length && this.#inFlight.size < cap) {
        const { platform: entry, slotAt } = this.#queue[this.#queueHead]!;
        this.#queueHead += 1;
        entry.queued = false;
        if (!entry.check || this.#platforms.get(entry.name) !== entry) continue;
        const lateness = performance.now() - slotAt;
        if (lateness > this.#maxLatenessMs) {
          this.#skip(entry, 'missed', 1, lateness);
          continue;
        }
        this.#start(entry, entry.check, NOOP, ROOT_CONTEXT, true);
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    }
    this.#flushSkipLog();
  }

  #skip(entry: Platform, reason: 'missed' | 'busy', count: number, latenessMs: number): void {
    this.#skipped += count;
    this.#metrics.recordSkippedCheck(entry.name, reason, count);
    this.#skipLog[reason] += count;
    this.#skipLog.maxLatenessMs = Math.max(this.#skipLog.maxLatenessMs, Math.round(latenessMs));
  }

  /** One warning per scheduling pass, not one per platform: a stall can skip thousands. */
  #flushSkipLog(): void {
    const log = this.#skipLog;
    if (log.missed === 0 && log.busy === 0) return;
    this.#logger.warn({ ...log }, 'health checks skipped: missed slots are not made up, to avoid a burst');
    this.#skipLog = { missed: 0, busy: 0, maxLatenessMs: 0 };
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
    this.#schedule.setFactor(change.degraded ? this.#degradedIntervalFactor : 1);
    if (this.#running) this.#replan();
    this.#emitSafely('degraded', change);
  }

  /**
   * The process, not the platform, ran out of a resource (EMFILE, ENFILE,
   * ENOMEM): the breaker gets no verdict (its trial goes to the next check),
   * and the condition is logged once a minute per code.
   */
  #processOutOf(platform: string, failure: CheckFailure): void {
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

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * A check's return value, read once: a PluginHealth is copied to a plain
 * object (its getters may throw, or answer differently, on a later read);
 * reading it throwing is the check failing.
 */
function captureValue(value: unknown): Outcome {
  try {
    if (typeof value === 'object' && value !== null) {
      const copy = { status: (value as PluginHealth).status, message: (value as PluginHealth).message };
      if (isPluginHealth(copy)) return { kind: 'value', value: typeof copy.message === 'string' ? copy : { status: copy.status } };
    }
    // #record describes any other value; a revoked Proxy throws there, so find out here.
    describeValue(value);
    return { kind: 'value', value };
  } catch (error) {
    return { kind: 'threw', failure: captureFailure(error) };
  }
}

/** What a check cut off by `stop()` or `unregister()` resolves to; it is not counted anywhere. */
function cancelledResult(platform: string, startedAt = Date.now(), breakerState: BreakerState = 'CLOSED'): HealthCheckResult {
  return { platform, status: 'failure', durationSeconds: 0, startedAt, breakerState, errorType: 'cancelled', error: 'health monitor stopped' };
}
