/**
 * The public monitor: a facade over its parts. The registry knows the
 * platforms, the dispatcher decides when each check starts, the runner runs
 * and publishes checks, degraded mode follows the host's resources, and with
 * replicas the cluster link says which platforms are this replica's.
 */
import { context, trace } from '@opentelemetry/api';
import { Emitter, type Listener, type Subscribable } from '../common/emitter.ts';
import { ConductorHealthError } from '../common/errors.ts';
import { createLibraryLogger } from '../common/logger.ts';
import { parseOptions } from '../common/option-schema.ts';
import { checkFunction, checkPlatformName, describeValue } from '../common/validate.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../common/version.ts';
import { shortMessage } from '../core/failure.ts';
import { initMetrics } from '../core/metrics.ts';
import type { PluginManager } from '../core/plugin-health.ts';
import type { HealthCheck } from './check-run.ts';
import { CheckRunner } from './check-runner.ts';
import { ClusterLink } from './cluster-link.ts';
import { DegradedMode } from './degraded-mode.ts';
import { Dispatcher } from './dispatcher.ts';
import { MONITOR_OPTIONS, PLATFORM_OPTIONS, type HealthMonitorOptions, type MonitorSettings, type PlatformOptions } from './options.ts';
import { PlatformRegistry, type Platform } from './platform-registry.ts';
import { liveness, readiness } from './probes.ts';
import { platformRows } from './platform-report.ts';
import { platformsToAttach } from './plugin-manager.ts';
import type { HealthCheckResult, HealthMonitorEvents, HealthReport, ProbeResult, ReportOptions } from './report.ts';
import { StaggeredStarts } from './staggered-starts.ts';
import { overallStatus } from './status-rule.ts';
import { TransitionLog } from './transition-log.ts';

/**
 * Checks every registered platform on a fixed, staggered schedule, feeds each
 * result to the platform's `PlatformCircuitBreaker`, and records a span
 * and the metrics of every check.
 */
export class HealthMonitor implements Subscribable<HealthMonitorEvents> {
  /** Recent checks kept per platform (the `historySize` option). */
  readonly historySize: number;
  /** Recent breaker transitions kept (the `transitionHistorySize` option). */
  readonly transitionHistorySize: number;
  readonly #events: Emitter<HealthMonitorEvents>;
  readonly #registry: PlatformRegistry;
  readonly #dispatcher: Dispatcher<Platform>;
  readonly #runner: CheckRunner;
  readonly #degraded: DegradedMode;
  readonly #staggered = new StaggeredStarts();
  readonly #transitions: TransitionLog;
  readonly #settings: MonitorSettings;
  /** With a cluster: which platforms are this replica's to check, and the breakers it shares. */
  readonly #link: ClusterLink | undefined;
  #stopped = false;
  /** Settled by {@link stop}: what healthCheckLoop() resolves with. */
  readonly #loop = Promise.withResolvers<void>();

  /** Validates the options: a bad one throws an error naming the option and the value. */
  constructor(options?: HealthMonitorOptions) {
    const opts = (this.#settings = parseOptions(MONITOR_OPTIONS, 'health monitor', options));
    ({ historySize: this.historySize, transitionHistorySize: this.transitionHistorySize } = opts);
    const logger = opts.logger ?? createLibraryLogger();
    const metrics = initMetrics({ meter: opts.meter });
    const tracer = opts.tracer ?? trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
    const events = (this.#events = new Emitter((error, event) => logger.error({ event, error: shortMessage(error) }, 'a health monitor listener threw')));
    this.#transitions = new TransitionLog(opts.transitionHistorySize, logger, events);
    this.#registry = new PlatformRegistry({ breaker: opts.breaker, timeoutMs: opts.timeoutMs, historySize: opts.historySize, metrics, tracer, logger, onTransition: this.#transitions.record });
    const link = (this.#link = ClusterLink.create(opts.cluster, { logger, metrics, intervalFactor: () => (this.#degraded.reason ? opts.degradedIntervalFactor : 1) }));
    this.#runner = new CheckRunner({ tracer, successSpanRatio: opts.successSpanRatio, metrics, logger, events, onSettled: () => this.#dispatcher.pump(), cluster: link });
    const dispatch = { ...opts, maxLatenessMs: opts.maxLatenessMs ?? opts.intervalMs / 5 };
    this.#dispatcher = new Dispatcher(dispatch, link?.gate(this.#registry) ?? this.#registry, this.#runner, metrics, logger);
    this.#degraded = new DegradedMode({ resources: opts.resources, intervalMs: opts.intervalMs, tracer, metrics, logger, events, dispatcher: this.#dispatcher });
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
    let entry = this.#registry.get(platform);
    if (entry?.scheduled) throw new ConductorHealthError('EDUPLICATE', `conductor-health: platform ${describeValue(platform)} is already registered`);
    if (entry && Object.keys(opts.breaker ?? {}).length > 0) {
      // Checked ad hoc before with the default breaker: start over with the one asked for.
      this.unregister(platform);
      entry = undefined;
    }
    entry ??= this.#registry.create(platform, opts.breaker);
    const { intervalMs = this.#settings.intervalMs, timeoutMs = this.#settings.timeoutMs } = opts;
    this.#registry.schedule(entry, check, timeoutMs, opts.critical === true);
    this.#dispatcher.add(platform, intervalMs);
    this.#link?.track(entry, intervalMs, timeoutMs);
  }

  /** Removes a platform: its schedule, its breaker and its per-platform state. Unknown names are ignored. */
  unregister(platform: string): void {
    const entry = this.#registry.delete(platform);
    if (!entry) return;
    this.#dispatcher.remove(platform);
    this.#link?.untrack(platform);
    this.#runner.cancel(entry, new ConductorHealthError('ECANCELLED', `platform ${describeValue(platform)} was unregistered`));
    // Its cancelled check freed a place under the concurrency cap.
    this.#dispatcher.pump();
  }

  /**
   * Registers every platform of the conductor's plugin manager, with
   * `manager.checkHealth` as its check. Calling it again picks up platforms
   * the manager gained since; it returns the ones it added.
   */
  attachPluginManager(manager: PluginManager): string[] {
    const added = platformsToAttach(manager, this.#registry);
    for (const platform of added) {
      this.register(platform, (signal) => manager.checkHealth(platform, signal));
      this.#registry.get(platform)!.manager = manager;
    }
    return added;
  }

  /** The breaker of a platform, or undefined if the monitor does not know it. */
  getBreaker(platform: string): Platform['breaker'] | undefined {
    return this.#registry.get(platform)?.breaker;
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
    const known = this.#registry.get(platform);
    const fn = check ?? known?.check;
    // Before a breaker exists: a typo must leave no breaker (and no series) behind.
    if (fn === undefined) throw new ConductorHealthError('ENOCHECK', `conductor-health: platform ${describeValue(platform)} has no registered check; pass one`);
    const entry = known ?? this.#registry.create(platform);
    // Parented to the caller's span, if any; the loop's checks are roots.
    const parent = context.active();
    return new Promise((resolve) => this.#runner.run(entry, fn, resolve, parent, false));
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
    const gap = this.#settings.staggerMs ?? this.#settings.intervalMs / Math.max(1, list.length);
    return this.#staggered.run(list, gap, (platform) => this.checkPlatformHealth(platform, check));
  }

  /** Starts the schedule (and resource sampling); returns at once. */
  start(): void {
    this.#assertUsable();
    if (this.#dispatcher.running) return;
    // Before running: the plan below then starts with the degraded intervals.
    this.#degraded.start();
    this.#link?.start(this.#settings.intervalMs);
    this.#dispatcher.start();
  }

  /** Runs the schedule until {@link stop}; resolves once stopped. */
  healthCheckLoop(): Promise<void> {
    this.start();
    return this.#loop.promise;
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
    this.#staggered.cancelAll();
    // Leaving the cluster (bounded by its command timeout) overlaps the wait for checks in flight.
    const left = this.#link?.stop();
    // A resource sample already running may still flip the mode and log it: wait for it too.
    await this.#runner.stop(this.#settings.stopTimeoutMs, this.#degraded.stop());
    await left;
    this.#registry.shutdownAll();
    this.#loop.resolve();
  }

  /**
   * Is the monitor itself alive? Not when it is stopping (or stopped), nor
   * when a scheduling pass is overdue by more than `stallMs` while running.
   * Platforms never affect it: restarting the process fixes no platform.
   */
  liveness(): ProbeResult {
    return liveness(this.#stopped, this.#dispatcher.running, this.#dispatcher.overdueMs(), this.#settings.stallMs);
  }

  /**
   * Should the conductor receive work? Only once started and while running,
   * and only while every critical platform's breaker is CLOSED. Without
   * critical platforms, platforms never affect readiness.
   */
  readiness(): ProbeResult {
    return readiness(this.#stopped, this.#dispatcher.running, this.#registry.scheduled());
  }

  /**
   * The monitor's view of itself; the status follows `overallStatus()`:
   * `unhealthy` only when a critical platform's breaker is not closed,
   * `degraded` for any other breaker not closed, failed last check or
   * degraded mode, else `healthy`.
   */
  report(options?: ReportOptions): HealthReport {
    const withHistory = options?.history === true;
    const platforms = platformRows(this.#registry.scheduled(), withHistory, this.#dispatcher, this.#link);
    const degraded = this.#degraded.reason;
    return {
      ...overallStatus(platforms, degraded),
      degraded: degraded ? { ...degraded } : null,
      running: this.#dispatcher.running,
      ...{ skippedChecks: this.#dispatcher.skipped, abandonedChecks: this.#runner.abandonedChecks },
      platforms,
      ...(withHistory ? { transitions: this.#transitions.toArray() } : {}),
      ...(this.#link ? { cluster: this.#link.view() } : {}),
    };
  }

  /** Subscribes to `check`, `transition` or `degraded`; returns the function that unsubscribes. A listener that throws is logged. */
  on<K extends keyof HealthMonitorEvents>(event: K, listener: Listener<HealthMonitorEvents, K>): () => void {
    return this.#events.on(event, listener);
  }

  /** Unsubscribes `listener`. */
  off<K extends keyof HealthMonitorEvents>(event: K, listener: Listener<HealthMonitorEvents, K>): void {
    this.#events.off(event, listener);
  }

  /** Listeners of `event` now. */
  listenerCount(event: keyof HealthMonitorEvents): number {
    return this.#events.listenerCount(event);
  }

  #assertUsable(): void {
    if (this.#stopped) throw new ConductorHealthError('ESTOPPED', 'conductor-health: this health monitor was stopped; create a new one');
  }
}
