/** One platform's row of the report, from what the registry holds and when the dispatcher will next check it. */
import type { Platform } from './platform-registry.ts';
import type { PlatformReport } from './report.ts';

/** Where the rows' slots come from (the monitor's dispatcher). */
interface Slots {
  readonly running: boolean;
  slotAtOrAfter(platform: string, at: number): number | undefined;
}

/** Where a cluster places each row (its owner, and a last check made elsewhere). */
interface Placer {
  place(row: PlatformReport): PlatformReport;
}

/** The report's rows for `entries`, placed in the cluster when there is one. */
export function platformRows(entries: Iterable<Platform>, history: boolean, slots: Slots, placer: Placer | undefined): PlatformReport[] {
  const slotAtOrAfter: SlotFinder = (platform, at) => (slots.running ? slots.slotAtOrAfter(platform, at) : undefined);
  const rows: PlatformReport[] = [];
  for (const entry of entries) {
    const row = platformReport(entry, history, slotAtOrAfter);
    rows.push(placer ? placer.place(row) : row);
  }
  return rows;
}

/** `performance.now()` time of a platform's first slot at or after `at`, or undefined when it has none (not running). */
export type SlotFinder = (platform: string, at: number) => number | undefined;

/** The report's row for `entry`; `history` adds its recent checks. */
export function platformReport(entry: Platform, history: boolean, slotAtOrAfter: SlotFinder): PlatformReport {
  const state = entry.breaker.getState();
  return {
    platform: entry.name,
    breakerState: state.state,
    consecutiveFailures: state.failureCount,
    critical: entry.critical,
    lastResult: entry.last?.status,
    lastHealth: entry.last?.health,
    lastCheckAt: entry.last?.startedAt,
    lastDurationSeconds: entry.last?.durationSeconds,
    lastError: entry.lastError,
    nextAttemptAt: state.state === 'CLOSED' ? undefined : nextTrialAt(entry.name, state.nextAttemptAt, slotAtOrAfter),
    ...(history ? { history: entry.history.toArray() } : {}),
  };
}

/**
 * Wall time of the slot that will carry a breaker's next trial: the
 * platform's first slot at or after the breaker allows one (while
 * HALF_OPEN, its next slot). Never in the past. No slot: the breaker's own time.
 */
function nextTrialAt(platform: string, allowedAt: number | undefined, slotAtOrAfter: SlotFinder): number | undefined {
  if (allowedAt === undefined) return undefined;
  const wallNow = Date.now();
  const perfNow = performance.now();
  const slot = slotAtOrAfter(platform, perfNow + Math.max(0, allowedAt - wallNow));
  return slot === undefined ? allowedAt : Math.round(wallNow + Math.max(0, slot - perfNow));
}
