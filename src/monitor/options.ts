/**
 * Every option of the monitor and of `register()`, declared once: its
 * range, default and environment variable. The TypeScript types, the
 * constructors' validation, the exported defaults, {@link ENV_OVERRIDES}
 * and the config file's shape all come from here.
 */
import * as z from 'zod';
import { BREAKER_OPTIONS, BREAKER_SETTINGS } from '../breaker/options.ts';
import { CLUSTER_SECTION, REDIS_URL_ENV } from '../cluster/options.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';
import { boolean, defaultsOf, envVariablesOf, fieldMeta, fromEnv, given, logger, meter, number, options, tracer } from '../common/option-schema.ts';
import { ResourceMonitor } from '../resources/resource-monitor.ts';

const RESOURCES_OPTION = z
  .custom<ResourceMonitor | false>((value) => value === false || value instanceof ResourceMonitor, { error: () => 'a ResourceMonitor or false' })
  .register(fieldMeta, { expected: 'a ResourceMonitor or false' });

/** Options of `HealthMonitor`; every one is optional. */
export const MONITOR_OPTIONS = options({
  /** Time between two checks of a platform (default 5,000 ms, env `CONDUCTOR_HEALTH_INTERVAL_MS`). */
  intervalMs: fromEnv(number({ min: 1, max: MAX_TIMER_MS }).default(5_000), 'CONDUCTOR_HEALTH_INTERVAL_MS'),
  /** Bound on one check (default 5,000 ms, env `CONDUCTOR_HEALTH_TIMEOUT_MS`). */
  timeoutMs: fromEnv(number({ min: 1, max: MAX_TIMER_MS }).default(5_000), 'CONDUCTOR_HEALTH_TIMEOUT_MS'),
  /** Fixed gap between platform starts; default spreads them evenly across the interval. */
  staggerMs: number({ min: 0, max: MAX_TIMER_MS }).optional(),
  /** Checks in flight at once (default 1,000, env `CONDUCTOR_HEALTH_MAX_CONCURRENT`); further due checks wait their turn. */
  maxConcurrent: fromEnv(number({ min: 1, integer: true }).default(1_000), 'CONDUCTOR_HEALTH_MAX_CONCURRENT'),
  /** A check that cannot start within this long of its slot is skipped (default a fifth of the interval). */
  maxLatenessMs: number({ min: 0, max: MAX_TIMER_MS }).optional(),
  /** Bound on `stop()` waiting for in-flight checks (default 5,000 ms). */
  stopTimeoutMs: number({ min: 0, max: MAX_TIMER_MS }).default(5_000),
  // A pass overdue this long is a stuck process, not a busy one: kubelet restarts it after its failureThreshold.
  /** A scheduling pass overdue by more than this makes `HealthMonitor.liveness` fail (default 30,000 ms). */
  stallMs: number({ min: 0, max: MAX_TIMER_MS }).default(30_000),
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
  /**
   * Replicas sharing one view through Redis (cluster/options.ts): each
   * platform checked by one of them, one breaker per platform. Given by
   * `{ redisUrl }` or `CONDUCTOR_HEALTH_REDIS_URL`; default none (alone).
   */
  cluster: CLUSTER_SECTION.optional(),
  meter: meter().optional(),
  tracer: tracer().optional(),
  logger: logger().optional(),
});

/** Options of `HealthMonitor`; every one is optional. */
export type HealthMonitorOptions = z.input<typeof MONITOR_OPTIONS>;

/** The monitor's options once validated, defaults filled in. */
export type MonitorSettings = z.output<typeof MONITOR_OPTIONS>;

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

const { breaker: _breaker, ...monitorDefaults } = defaultsOf(MONITOR_OPTIONS);

/** Health-monitor defaults: every platform every 5 s, each check bounded by 5 s. */
export const MONITOR_DEFAULTS = Object.freeze(monitorDefaults);

/**
 * Environment variables that override the defaults (but not values the
 * conductor passes explicitly). Each maps to the option of the same meaning.
 */
export const ENV_OVERRIDES = Object.freeze({ ...envVariablesOf(BREAKER_OPTIONS, MONITOR_OPTIONS), [REDIS_URL_ENV]: 'cluster.redisUrl' });
