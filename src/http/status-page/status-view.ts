import type { BreakerStateChange } from '../../breaker/state.ts';
import type { BreakerState } from '../../core/breaker-state.ts';
import type { CheckSample, ClusterReport, HealthReport, PlatformReport } from '../../monitor/report.ts';
import type { HealthCheckStatus } from '../../core/metrics.ts';
import type { DegradedReason } from '../../resources/readings.ts';
import type { OverallStatus } from '../../monitor/status-rule.ts';
import { boundLine } from '../../common/text.ts';

/**
 * What the status page shows, as the server renders it and as its script
 * receives it over Server-Sent Events. Names and errors are already bounded
 * to one printable line with secrets masked; the renderers still escape them.
 */
export interface StatusSnapshot {
  /** The server's `Date.now()`, so the page counts down on the server's clock. */
  now: number;
  status: OverallStatus;
  reasons: string[];
  degraded?: DegradedReason;
  running: boolean;
  skippedChecks: number;
  /** With a cluster only: this replica and the members it sees, or that it runs in local mode. */
  cluster?: ClusterView;
  /** Checks kept per platform: the page trims its sparklines to this. */
  historySize: number;
  platforms: PlatformView[];
  /** Oldest first. */
  transitions: TransitionView[];
}

/** One platform's row. `checks` and `ms` are parallel, oldest first. */
export interface PlatformView {
  name: string;
  state: BreakerState;
  critical: boolean;
  failures: number;
  last?: HealthCheckStatus;
  lastAt?: number;
  lastMs?: number;
  error?: string;
  /** When a breaker that is not closed lets its next trial through. */
  nextAt?: number;
  /** With a cluster: the replica that checks it now. */
  owner?: string;
  /** With a cluster: the replica its last check ran on (`last` and `lastAt` are that check's). */
  lastBy?: string;
  /** One letter per recent check: see {@link STATUS_LETTERS}. */
  checks: string;
  /** Each recent check's duration in whole milliseconds. */
  ms: number[];
}

/** With a cluster: the replicas as this one sees them. */
export interface ClusterView {
  /** This replica's id. */
  replica: string;
  /** It cannot reach Redis (or has not yet): it checks every platform itself. */
  localMode: boolean;
  /** The live members, sorted, at most {@link MEMBERS_SHOWN} of them. */
  members: string[];
  /** How many members there are, shown or not. */
  memberCount: number;
}

/** Members a page names: the count stays exact, the header stays a line however many replicas there are. */
export const MEMBERS_SHOWN = 10;

/**
 * The checks an update brings, across all rows, as columns: one entry per
 * check costs a few bytes, not an object with its keys.
 */
export interface CheckColumns {
  /** Row index of each check. */
  row: number[];
  /** One letter per check ({@link STATUS_LETTERS}). */
  status: string;
  /** Each check's duration in whole milliseconds. */
  ms: number[];
  /** Each check's start, in ms relative to the update's `now` (so negative). */
  at: number[];
}

/** Adds row `i`'s new checks to `columns`. */
export function appendChecks(columns: CheckColumns, i: number, samples: readonly CheckSample[], now: number): void {
  for (const sample of samples) {
    columns.row.push(i);
    columns.status += STATUS_LETTERS[sample.status];
    columns.ms.push(Math.round(sample.durationSeconds * 1000));
    columns.at.push(sample.at - now);
  }
}

/** Fields the pages derive from a row's newest check: an update never repeats them (but see {@link rowChange}). */
const FROM_CHECKS = ['checks', 'ms', 'last', 'lastAt', 'lastMs'] as const;
const FROM_CHECKS_SET: ReadonlySet<string> = new Set(FROM_CHECKS);
/** A row's last check, which with a cluster may have run on another replica. */
const LAST_CHECK = ['last', 'lastAt', 'lastMs'] as const;

/** What changed in a row besides its checks: the changed fields, `null` for those that went away. */
export type RowChange = { i: number } & { [K in Exclude<keyof PlatformView, 'checks' | 'ms'>]?: PlatformView[K] | null };

/**
 * The change from `sent` (the view the pages have) to `next` for row `i`, or
 * undefined when only its checks changed. The pages take a row's last check
 * from the newest of the checks an update brings (`newest`, if any), which
 * are this replica's; with a cluster (a row with an owner) the last check may
 * have run on another replica, and then the change carries `last`, `lastAt`
 * and `lastMs` too, wherever they differ from what the pages take.
 */
export function rowChange(i: number, sent: PlatformView, next: PlatformView, newest?: CheckSample): RowChange | undefined {
  let change: Record<string, unknown> | undefined;
  for (const key of new Set([...Object.keys(sent), ...Object.keys(next)]) as Set<keyof PlatformView>) {
    if (FROM_CHECKS_SET.has(key) || sent[key] === next[key]) continue;
    change ??= { i };
    change[key] = next[key] ?? null;
  }
  if (next.owner !== undefined) {
    const shown: Pick<PlatformView, (typeof LAST_CHECK)[number]> = newest ? { last: newest.status, lastAt: newest.at, lastMs: Math.round(newest.durationSeconds * 1000) } : sent;
    for (const key of LAST_CHECK) {
      if (shown[key] === next[key]) continue;
      change ??= { i };
      change[key] = next[key] ?? null;
    }
  }
  return change as RowChange | undefined;
}

/** A breaker transition on the timeline. */
export interface TransitionView {
  name: string;
  from: BreakerState;
  to: BreakerState;
  at: number;
  failures: number;
}

/** A check's result as one letter, to keep the event stream small. */
const STATUS_LETTERS: Readonly<Record<HealthCheckStatus, string>> = Object.freeze({ success: 's', failure: 'f', timeout: 't', rejected: 'r' });

/** The page's view of a report taken with `{ history: true }`. */
export function snapshotOf(report: HealthReport, now: number, historySize: number): StatusSnapshot {
  return {
    ...summaryOf(report, now),
    historySize,
    platforms: report.platforms.map((p) => platformViewOf(p, p.history ?? [])),
    transitions: (report.transitions ?? []).map(transitionViewOf),
  };
}

/** The part of a snapshot every update repeats. */
export type StatusSummary = Pick<StatusSnapshot, 'now' | 'status' | 'reasons' | 'degraded' | 'running' | 'skippedChecks' | 'cluster'>;

/** The part of a snapshot every update repeats. */
export function summaryOf(report: HealthReport, now: number): StatusSummary {
  return {
    now,
    status: report.status,
    reasons: report.reasons.map(boundLine),
    ...(report.degraded ? { degraded: report.degraded } : {}),
    running: report.running,
    skippedChecks: report.skippedChecks,
    ...(report.cluster ? { cluster: clusterViewOf(report.cluster) } : {}),
  };
}

/** The header's view of the cluster: names bounded, at most {@link MEMBERS_SHOWN} members named. */
export function clusterViewOf(cluster: ClusterReport): ClusterView {
  return {
    replica: boundLine(cluster.replica),
    localMode: cluster.localMode,
    members: cluster.members.slice(0, MEMBERS_SHOWN).map(boundLine),
    memberCount: cluster.members.length,
  };
}

/** A platform's row, with `samples` as its recent checks (all of them, or only the new ones for an update). */
export function platformViewOf(p: PlatformReport, samples: readonly CheckSample[]): PlatformView {
  return {
    name: boundLine(p.platform),
    state: p.breakerState,
    critical: p.critical,
    failures: p.consecutiveFailures,
    ...(p.lastResult ? { last: p.lastResult } : {}),
    ...(p.lastCheckAt !== undefined ? { lastAt: p.lastCheckAt } : {}),
    ...(p.lastDurationSeconds !== undefined ? { lastMs: Math.round(p.lastDurationSeconds * 1000) } : {}),
    ...(p.lastError !== undefined ? { error: boundLine(p.lastError) } : {}),
    ...(p.breakerState !== 'CLOSED' && p.nextAttemptAt !== undefined ? { nextAt: p.nextAttemptAt } : {}),
    ...(p.owner !== undefined ? { owner: boundLine(p.owner) } : {}),
    ...(p.lastCheckBy !== undefined ? { lastBy: boundLine(p.lastCheckBy) } : {}),
    checks: samples.map((s) => STATUS_LETTERS[s.status]).join(''),
    ms: samples.map((s) => Math.round(s.durationSeconds * 1000)),
  };
}

/** A transition on the timeline. */
export function transitionViewOf(change: BreakerStateChange): TransitionView {
  return { name: boundLine(change.platform), from: change.from, to: change.to, at: change.at, failures: change.failureCount };
}
