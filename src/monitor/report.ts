/** What the monitor reports: a check's result, a platform's row, the whole report and the probes' answers. */
import type { BreakerStateChange } from '../breaker/state.ts';
import type { BreakerState } from '../core/breaker-state.ts';
import type { HealthCheckStatus } from '../core/metrics.ts';
import type { PluginHealthStatus } from '../core/plugin-health.ts';
import type { DegradedChange, DegradedReason } from '../resources/readings.ts';
import type { OverallStatus } from './status-rule.ts';

/** The outcome of one check, as `HealthMonitor.checkPlatformHealth()` resolves it. */
export interface HealthCheckResult {
  platform: string;
  status: HealthCheckStatus;
  /** Time from start to outcome; a timeout reports the timeout; 0 when rejected. */
  durationSeconds: number;
  /** `Date.now()` when the check started. */
  startedAt: number;
  /** The platform's breaker state after the check was recorded. */
  breakerState: BreakerState;
  /** The plugin's own status when the check returned a `PluginHealth`. */
  health?: PluginHealthStatus;
  /** The `plugin_failure_total` error type, for failures and timeouts. */
  errorType?: string;
  /** A short, single-line reason for a failure (never a stack trace). */
  error?: string;
}

/** One platform in `HealthMonitor.report()`. */
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
  /** With a cluster: the replica that checks it now. */
  owner?: string;
  /** With a cluster: the replica its last check ran on (the `lastResult` and `lastCheckAt` are that check's). */
  lastCheckBy?: string;
}

/** With a cluster: the replicas, as this one sees them. */
export interface ClusterReport {
  /** This replica's id (its `service.instance.id`). */
  replica: string;
  /** The Redis they share, its user and password masked. */
  redis: string;
  /** True while this replica cannot reach Redis (or has not yet): it checks every platform, its breakers decide alone. */
  localMode: boolean;
  /** The live members, sorted, this replica included. */
  members: string[];
}

/** One check in a platform's history. */
export interface CheckSample {
  /** `Date.now()` when the check started. */
  at: number;
  status: HealthCheckStatus;
  /** As in {@link HealthCheckResult.durationSeconds}: 0 when rejected, the timeout when timed out. */
  durationSeconds: number;
}

/** Options of `HealthMonitor.report()`. */
export interface ReportOptions {
  /** Adds each platform's recent checks and the recent breaker transitions (default false: the report stays small). */
  history?: boolean;
}

/** What `HealthMonitor.report()` returns. */
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
  /** With a cluster only. */
  cluster?: ClusterReport;
}

/** What `HealthMonitor.liveness()` and `HealthMonitor.readiness()` answer. */
export interface ProbeResult {
  ok: boolean;
  /** Why not, for humans; names are quoted. Empty when ok. */
  reasons: string[];
}


/** What a check cut off by `stop()` or `unregister()` resolves to; it is not counted anywhere. */
export function cancelledResult(platform: string, startedAt = Date.now(), breakerState: BreakerState = 'CLOSED'): HealthCheckResult {
  return { platform, status: 'failure', durationSeconds: 0, startedAt, breakerState, errorType: 'cancelled', error: 'health monitor stopped' };
}

/** Events a `HealthMonitor` emits. */
export interface HealthMonitorEvents {
  [event: string]: unknown[];
  /** Every finished check, rejected ones included. */
  check: [HealthCheckResult];
  /** Every breaker transition of a monitored platform, in the order they happened. */
  transition: [BreakerStateChange];
  /** Entering and leaving degraded mode. */
  degraded: [DegradedChange];
}
