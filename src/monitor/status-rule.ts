import type { BreakerState } from '../core/breaker-state.ts';
import { describeValue } from '../common/validate.ts';
import type { HealthCheckStatus } from '../core/metrics.ts';
import type { DegradedReason } from '../resources/readings.ts';

/** Overall status of a health report. */
export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What the status rule reads of one platform. */
export interface StatusRuleInput {
  platform: string;
  breakerState: BreakerState;
  lastResult?: HealthCheckStatus;
  /** Marked critical at `register()` (or `critical: true` in the config file). */
  critical: boolean;
}

/**
 * The status rule of the health report, the one place it is decided:
 *
 * - `unhealthy` when a critical platform's breaker is not CLOSED (only then
 *   does `/healthz` answer 503);
 * - `degraded` when any breaker is not CLOSED, any platform failed its last
 *   check, or resource pressure put the monitor in degraded mode;
 * - `healthy` otherwise, also with no platforms.
 *
 * An outage of a platform that is not critical alone never makes the report
 * `unhealthy`: restarting or unrouting the conductor fixes nothing there.
 */
export function overallStatus(platforms: readonly StatusRuleInput[], degraded?: DegradedReason): { status: OverallStatus; reasons: string[] } {
  const reasons: string[] = [];
  const criticalDown: string[] = [];
  let notClosed = 0;
  let failing = 0;
  for (const p of platforms) {
    if (p.breakerState !== 'CLOSED') {
      notClosed += 1;
      if (p.critical) criticalDown.push(`${describeValue(p.platform)} (${p.breakerState})`);
    } else if (p.lastResult !== undefined && p.lastResult !== 'success') {
      failing += 1;
    }
  }
  if (criticalDown.length > 0) reasons.push(`critical platform breaker not closed: ${criticalDown.slice(0, 5).join(', ')}${criticalDown.length > 5 ? ` and ${criticalDown.length - 5} more` : ''}`);
  if (notClosed > 0) reasons.push(`${notClosed} of ${platforms.length} platforms have an open or half-open breaker`);
  if (failing > 0) reasons.push(`${failing} of ${platforms.length} platforms failed their last check`);
  if (degraded) reasons.push(`degraded mode: ${degraded.resource} at ${percent(degraded.value)} (threshold ${percent(degraded.threshold)})`);
  const status: OverallStatus = criticalDown.length > 0 ? 'unhealthy' : reasons.length > 0 ? 'degraded' : 'healthy';
  return { status, reasons };
}

/**
 * A ratio as people read it on the page, in the reasons and in the banner
 * alike: `0.8` is `80 %`, with one decimal below 10 % (`0.001` is `0.1 %`).
 */
export function percent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(ratio < 0.1 ? 1 : 0))} %`;
}
