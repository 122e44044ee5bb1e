/**
 * Every option of the breaker and of its `execute()`, declared once: its
 * range, default and environment variable. The TypeScript types, the
 * constructor's validation, the exported defaults and the settings the
 * monitor and the config file pass on all come from here.
 */
import * as z from 'zod';
import type { Logger } from '../common/logger.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';
import { defaultsOf, fieldMeta, fromEnv, given, meter, number, options, tracer, withMethods } from '../common/option-schema.ts';
import { DEFAULT_MAX_ERROR_TYPES, type HealthMetrics } from '../core/metrics.ts';

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
  /**
   * Backoff on repeated openings (default 1: off, every wait is `resetTimeoutMs`; env
   * `CONDUCTOR_HEALTH_RESET_BACKOFF_FACTOR`): the n-th opening in a row (a failed trial
   * re-opens) waits `resetTimeoutMs` × factor^(n−1), at most `maxResetTimeoutMs`. A
   * successful trial (or `reset()`) starts over. A platform down for a day then gets a
   * trial every `maxResetTimeoutMs`, not every 30 s.
   */
  resetBackoffFactor: fromEnv(number({ min: 1, max: 1_000 }).default(1), 'CONDUCTOR_HEALTH_RESET_BACKOFF_FACTOR'),
  /** The longest wait the backoff reaches, in ms (default 300,000, env `CONDUCTOR_HEALTH_MAX_RESET_TIMEOUT_MS`); never shortens the first wait below `resetTimeoutMs`. */
  maxResetTimeoutMs: fromEnv(number({ min: 0, max: MAX_TIMER_MS }).default(300_000), 'CONDUCTOR_HEALTH_MAX_RESET_TIMEOUT_MS'),
  /** Timeout `execute()` puts on every call, in ms; 0 (the default) means none. */
  timeoutMs: number({ min: 0, max: MAX_TIMER_MS }).default(0),
  /** Meter for the instruments, passed to `initMetrics()`; default the global meter. */
  meter: meter().optional(),
  /** Ready-made instruments; wins over `meter`. */
  metrics: withMethods<HealthMetrics>(['setBreakerState', 'recordPluginFailure']).optional(),
  /** Tracer for transition spans; default the global tracer of this package, looked up at each transition. */
  tracer: tracer().optional(),
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

/** Options of `PlatformCircuitBreaker.tryAcquire()`; every one is optional. */
export const ACQUIRE_OPTIONS = options({
  /**
   * The lease of the half-open trial this permit may hold, in ms, when it
   * is longer than `halfOpenTimeoutMs`: a caller that bounds its own call
   * (the monitor, by its check timeout) holds the trial until its bound, so
   * its own timeout, not the lease, ends a slow trial.
   */
  leaseMs: number({ min: 1, max: MAX_TIMER_MS }).optional(),
});

/** Options of `PlatformCircuitBreaker.tryAcquire()`. */
export type AcquireOptions = z.input<typeof ACQUIRE_OPTIONS>;

/** Options of `PlatformCircuitBreaker`. */
export type BreakerOptions = z.input<typeof BREAKER_OPTIONS>;

/**
 * The breaker settings a conductor may tune, checked alike wherever they are
 * passed on (the monitor's `breaker` option, `register()`, a config file):
 * the breaker's own, without defaults, which the breaker fills in.
 */
export const BREAKER_SETTINGS = given(
  BREAKER_OPTIONS.pick({ failMax: true, resetTimeoutMs: true, halfOpenTimeoutMs: true, resetBackoffFactor: true, maxResetTimeoutMs: true }),
);

/** The tunable breaker settings, as the monitor and a config file pass them on. */
export type BreakerSettings = z.input<typeof BREAKER_SETTINGS>;

/** Circuit-breaker defaults: open after 3 consecutive failures, try again after 30 s, a trial settles within 30 s. */
export const BREAKER_DEFAULTS = Object.freeze({
  ...defaultsOf(BREAKER_OPTIONS),
  /** Distinct `error_type` label values kept per platform before `other` (a telemetry option, sized with the breaker's). */
  maxErrorTypes: DEFAULT_MAX_ERROR_TYPES,
});
