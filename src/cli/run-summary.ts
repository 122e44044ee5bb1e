import { BREAKER_STATES, type BreakerState } from '../core/breaker-state.ts';
import { boundLine, printable } from '../common/text.ts';
import type { HealthMonitor } from '../monitor/health-monitor.ts';

/** How a run of the command went, as it stops: printed when the live table closes, logged as `stopped`. */
export interface RunSummary {
  /** Since the monitor started, whole seconds. */
  uptimeSeconds: number;
  /** Checks that ran (a check an open breaker refused did not). */
  checks: number;
  platforms: number;
  /** Platforms per breaker state. */
  breakers: Record<BreakerState, number>;
  /** Platforms whose breaker is not CLOSED, at most {@link NAMES_SHOWN} per state. */
  open: string[];
  halfOpen: string[];
  /** With a cluster: this replica (whose checks `checks` counts), how many members it saw last, and whether it ended in local mode. */
  cluster?: { replica: string; members: number; localMode: boolean };
}

/** Names listed per state: the counts stay exact, a line stays a line with 10,000 platforms. */
const NAMES_SHOWN = 5;

/**
 * Starts counting `monitor`'s checks; the returned function summarises the
 * run so far. Call before `monitor.start()` so no check is missed.
 */
export function trackRun(monitor: HealthMonitor, now: () => number = () => performance.now()): () => RunSummary {
  const started = now();
  let checks = 0;
  monitor.on('check', (result) => {
    if (result.status !== 'rejected') checks += 1;
  });
  return () => {
    const { platforms, cluster } = monitor.report();
    const breakers = { CLOSED: 0, OPEN: 0, HALF_OPEN: 0 };
    const named = (state: BreakerState) => platforms.filter((p) => p.breakerState === state).slice(0, NAMES_SHOWN).map((p) => printable(p.platform));
    for (const p of platforms) breakers[p.breakerState] += 1;
    return {
      uptimeSeconds: Math.floor((now() - started) / 1000),
      checks,
      platforms: platforms.length,
      breakers,
      open: named('OPEN'),
      halfOpen: named('HALF_OPEN'),
      ...(cluster ? { cluster: { replica: boundLine(cluster.replica), members: cluster.members.length, localMode: cluster.localMode } } : {}),
    };
  };
}

/**
 * One line for the terminal the live table gives back, e.g.
 * `conductor-health ran 1 m 23 s: 142 checks of 3 platforms; breakers 1 CLOSED, 1 OPEN (down), 1 HALF_OPEN (flaky)`;
 * with a cluster, whose checks they were:
 * `conductor-health ran 1 m 23 s as replica replica-1, one of 3: 47 checks here, of 3 platforms; breakers 3 CLOSED`.
 */
export function summaryLine(summary: RunSummary): string {
  const names: Partial<Record<BreakerState, string[]>> = { OPEN: summary.open, HALF_OPEN: summary.halfOpen };
  const states = BREAKER_STATES.filter((state) => summary.breakers[state] > 0).map((state) => {
    const count = summary.breakers[state];
    const shown = names[state] ?? [];
    const more = count > shown.length && shown.length > 0 ? `, ${count - shown.length} more` : '';
    return `${count} ${state}${shown.length > 0 ? ` (${shown.join(', ')}${more})` : ''}`;
  });
  const platforms = `${summary.platforms} platform${summary.platforms === 1 ? '' : 's'}`;
  const checks = `${summary.checks} check${summary.checks === 1 ? '' : 's'}`;
  const { cluster } = summary;
  const as = cluster ? ` as replica ${cluster.replica}, ${cluster.localMode ? 'in local mode' : `one of ${cluster.members}`}` : '';
  return `conductor-health ran ${duration(summary.uptimeSeconds)}${as}: ${checks}${cluster ? ' here,' : ''} of ${platforms}; breakers ${states.join(', ') || 'none'}`;
}

/** `45 s`, `1 m 23 s`, `2 h 5 m`: the precision a person reads a run's length with. */
function duration(seconds: number): string {
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  if (h > 0) return `${h} h ${m} m`;
  return m > 0 ? `${m} m ${s} s` : `${s} s`;
}
