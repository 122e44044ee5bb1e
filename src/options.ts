/**
 * Every option of the monitor, `register()`, the breaker and the status page, declared once:
 * its range, default and environment variable. The TypeScript types, the
 * constructors' validation, the exported defaults, {@link ENV_OVERRIDES} and
 * the config file's shape (config-schema.ts) all come from here.
 */
import type { Meter, Tracer } from '@opentelemetry/api';
import * as z from 'zod';
import { MAX_TIMER_MS } from './common/validate.ts';
import { DEFAULT_MAX_ERROR_TYPES } from './core/metrics.ts';
import type { Logger } from './common/logger.ts';
import type { HealthMetrics } from './core/metrics.ts';
import { ResourceMonitor } from './resources.ts';
import { boolean, defaultsOf, envVariablesOf, fieldMeta, fromEnv, given, number, options, withMethods } from './common/option-schema.ts';

const METER = withMethods<Meter>(['createCounter', 'createGauge', 'createHistogram']);
const TRACER = withMethods<Tracer>(['startSpan']);
const LOGGER = withMethods<Logger>(['debug', 'info', 'warn', 'error']);

/** Options of `PlatformCircuitBreaker`; every one is optional. */
export const BREAKER_OPTIONS = options({
  /** Consecutive failures that open the breaker (default 3, env `CONDUCTOR_HEALTH_FAIL_MAX`). */
  failMax: fromEnv(number({ min: 1, integer: true }).default(3), 'CONDUCTOR_HEALTH_FAIL_MAX'),
  /** How long the breaker stays OPEN before its half-open trial, in ms (default 30,000, env `CONDUCTOR_HEALTH_RESET_TIMEOUT_MS`). */
  resetTimeoutMs: fromEnv(number({ min: 0, max: MAX_TIMER_MS }).default(30_000), 'CONDUCTOR_HEALTH_RESET_TIMEOUT_MS'),
  /**
   * Lease of a half-open trial, in ms, 1 to 2^31-1 (default 30,000, env
   * `CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS`): a trial not settled by then
   * counts as a failed trial and the breaker re-opens for a full
   * `resetTimeoutMs`. There is no "wait for ever": a trial whose caller
   * crashed or forgot it would keep the breaker half-open until a restart.
   * The default is six times the monitor's 5 s check timeout, so a check
   * always settles its trial first (its own timeout ends it), and a lost
   * trial delays the next one by at most 30 s + `resetTimeoutMs`. Runs on
   * the monotonic clock: a wall-clock step neither ends nor stretches it.
   * (0 would mean "wait for ever" for a trial: the wedge the lease exists to prevent.)
   */
  halfOpenTimeoutMs: fromEnv(number({ min: 1, max: MAX_TIMER_MS }).default(30_000), 'CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS'),
  /** Timeout `execute()` puts on every call, in ms; 0 (the default) means none. */
  timeoutMs: number({ min: 0, max: MAX_TIMER_MS }).default(0),
  /** Meter for the instruments, passed to `initMetrics()`; default the global meter. */
  meter: METER.optional(),
  /** Ready-made instruments; wins over `meter`. */
  metrics: withMethods<HealthMetrics>(['setBreakerState', 'recordPluginFailure']).optional(),
  /** Tracer for transition spans; default the global tracer of this package, looked up at each transition. */
  tracer: TRACER.optional(),
  /** Where a throwing state-change listener is reported; default silent (thousands of breakers). */
  logger: withMethods<Logger>(['warn']).optional(),
});

/** Options of one `PlatformCircuitBreaker.execute()` call; every one is optional. */
export const EXECUTE_OPTIONS = options({
  /** Timeout of this call in ms, replacing the breaker's `timeoutMs`; 0 means none. */
  timeoutMs: number({ min: 0, max: MAX_TIMER_MS }).optional(),
  /** Aborting this abandons the call: `execute()` rejects with the signal's reason and the call counts neither way. */
  signal: z
    .custom<AbortSignal>((value) => value instanceof AbortSignal, { error: () => 'an AbortSignal' })
    .register(fieldMeta, { expected: 'an AbortSignal' })
    .optional(),
});

/** Options of one `PlatformCircuitBreaker.execute()` call. */
export type ExecuteOptions = z.input<typeof EXECUTE_OPTIONS>;

/** Options of `PlatformCircuitBreaker`. */
export type BreakerOptions = z.input<typeof BREAKER_OPTIONS>;

/**
 * The breaker settings a conductor may tune, checked alike wherever they are
 * passed on (the monitor's `breaker` option, `register()`, a config file):
 * the breaker's own, without defaults, which the breaker fills in.
 */
export const BREAKER_SETTINGS = given(BREAKER_OPTIONS.pick({ failMax: true, resetTimeoutMs: true, halfOpenTimeoutMs: true }));

/** The tunable breaker settings, as the monitor and a config file pass them on. */
export type BreakerSettings = z.input<typeof BREAKER_SETTINGS>;

const RESOURCES_OPTION = z
  .custom<ResourceMonitor | false>((value) => value === false || value instanceof ResourceMonitor, { error: () => 'a ResourceMonitor or false' })
  .register(fieldMeta, { expected: 'a ResourceMonitor or false' });

/** Options of `HealthMonitor`; every one is optional. */
export const MONITOR_OPTIONS = options({
  /** Time between two checks of a platform (default 5,000 ms, env `CONDUCTOR_HEALTH_INTERVAL_MS`). */
  intervalMs: fromEnv(number({ min: 1 }).default(5_000), 'CONDUCTOR_HEALTH_INTERVAL_MS'),
  /** Bound on one check (default 5,000 ms, env `CONDUCTOR_HEALTH_TIMEOUT_MS`). */
  timeoutMs: fromEnv(number({ min: 1, max: MAX_TIMER_MS }).default(5_000), 'CONDUCTOR_HEALTH_TIMEOUT_MS'),
  /** Fixed gap between platform starts; default spreads them evenly across the interval. */
  staggerMs: number({ min: 0 }).optional(),
  /** Checks in flight at once (default 1,000, env `CONDUCTOR_HEALTH_MAX_CONCURRENT`); further due checks wait their turn. */
  maxConcurrent: fromEnv(number({ min: 1, integer: true }).default(1_000), 'CONDUCTOR_HEALTH_MAX_CONCURRENT'),
  /** A check that cannot start within this long of its slot is skipped (default a fifth of the interval). */
  maxLatenessMs: number({ min: 0 }).optional(),
  /** Bound on `stop()` waiting for in-flight checks (default 5,000 ms). */
  stopTimeoutMs: number({ min: 0, max: MAX_TIMER_MS }).default(5_000),
  // A pass overdue this long is a stuck process, not a busy one: kubelet restarts it after its failureThreshold.
  /** A scheduling pass overdue by more than this makes `HealthMonitor.liveness` fail (default 30,000 ms). */
  stallMs: number({ min: 0 }).default(30_000),
  /** Recent checks kept per platform for the report's history (default 30). */
  historySize: number({ min: 1, max: 10_000, integer: true }).default(30),
  /** Recent breaker transitions kept for the report's history (default 100). */
  transitionHistorySize: number({ min: 1, max: 100_000, integer: true }).default(100),
  /** Breaker settings for every platform. */
  breaker: BREAKER_SETTINGS.default({}),
  /** Degraded mode: the interval is multiplied by this (default 2). */
  degradedIntervalFactor: number({ min: 1 }).default(2),
  /** Degraded mode: the concurrency cap is multiplied by this (default 0.5). */
  degradedConcurrencyFactor: number({ min: 0, max: 1 }).default(0.5),
  /** The resource monitor deciding degraded mode; default one reading this host; false for none. */
  resources: RESOURCES_OPTION.optional(),
  /**
   * Share (0 to 1) of successful checks that get a span; every other check
   * always gets one (see `DeferredSpan`). Default: the `successSpanRatio`
   * startTelemetry() was given, else 1.
   */
  successSpanRatio: number({ min: 0, max: 1 }).optional(),
  meter: METER.optional(),
  tracer: TRACER.optional(),
  logger: LOGGER.optional(),
});

/** Options of `HealthMonitor`; every one is optional. */
export type HealthMonitorOptions = z.input<typeof MONITOR_OPTIONS>;

/** Per-platform overrides of `HealthMonitor.register()`. */
export const PLATFORM_OPTIONS = options({
  /** This platform's interval and check timeout (default the monitor's). */
  ...given(MONITOR_OPTIONS.pick({ intervalMs: true, timeoutMs: true })).shape,
  /** This platform's breaker settings, over the monitor's. */
  breaker: BREAKER_SETTINGS.optional(),
  /** The conductor cannot serve without it: its breaker must be CLOSED for readiness and a healthy report (default false). */
  critical: boolean().optional(),
});

/** Per-platform overrides of `HealthMonitor.register()`. */
export type PlatformOptions = z.input<typeof PLATFORM_OPTIONS>;

/** Options of `statusPageHandler`; every one is optional. */
export const STATUS_PAGE_OPTIONS = options({
  /** Event streams open at once (default 100); one more is answered 503. */
  maxStreams: number({ min: 1, integer: true }).default(100),
  /** Unsent bytes a stream may hold before its client is dropped as not reading (default 1 MiB). */
  maxBufferedBytes: number({ min: 1, integer: true }).default(1024 * 1024),
  /** How often open pages get the changes since the last update (default 1,000 ms). */
  updateIntervalMs: number({ min: 10, max: 60_000 }).default(1_000),
});

/** Options of `statusPageHandler`; every one is optional. */
export type StatusPageOptions = z.input<typeof STATUS_PAGE_OPTIONS>;

/** Circuit-breaker defaults: open after 3 consecutive failures, try again after 30 s, a trial settles within 30 s. */
export const BREAKER_DEFAULTS = Object.freeze({
  ...defaultsOf(BREAKER_OPTIONS),
  /** Distinct `error_type` label values kept per platform before `other` (a telemetry option, sized with the breaker's). */
  maxErrorTypes: DEFAULT_MAX_ERROR_TYPES,
});

const { breaker: _breaker, ...monitorDefaults } = defaultsOf(MONITOR_OPTIONS);

/** Health-monitor defaults: every platform every 5 s, each check bounded by 5 s. */
export const MONITOR_DEFAULTS = Object.freeze(monitorDefaults);

/**
 * Environment variables that override the defaults (but not values the
 * conductor passes explicitly). Each maps to the option of the same meaning.
 */
export const ENV_OVERRIDES = Object.freeze(envVariablesOf(BREAKER_OPTIONS, MONITOR_OPTIONS));
