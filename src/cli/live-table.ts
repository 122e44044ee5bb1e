import type { HealthMonitor } from '../monitor/health-monitor.ts';
import type { ClusterReport, HealthReport } from '../monitor/report.ts';
import { boundLine, printable } from '../common/text.ts';

const STATE_COLOURS: Record<string, string> = { CLOSED: '\x1b[32m', HALF_OPEN: '\x1b[33m', OPEN: '\x1b[31m' };
const RESET = '\x1b[0m';
/** Local mode is a warning, in the colour of a half-open breaker. */
const LOCAL_MODE_COLOUR = '\x1b[33m';

/** Members the cluster line names: the count stays exact, the line stays a line. */
const MEMBERS_SHOWN = 10;
/** Longest replica id the cluster line prints (a cell of the table is cut at its width). */
const ID_WIDTH = 40;

/**
 * Renders the report as a fixed-width table: platform, breaker state, last
 * result, latency, consecutive failures, time to the next trial of an open
 * or half-open breaker, and the degraded flag; with a cluster, a line naming
 * this replica and the members (or its local mode) and, per platform, the
 * replica that checks it and the one its last check ran on. Names are printed with
 * control characters and bidi overrides replaced, so none can drive the terminal. `colour` adds ANSI colours for terminals.
 */
export function renderStatusTable(report: HealthReport, now: number, recentEvents: readonly string[], colour = false): string {
  const { cluster } = report;
  const header = ['PLATFORM', 'BREAKER', 'LAST', 'LATENCY', 'FAILURES', 'NEXT TRIAL', ...(cluster ? ['CHECKED BY', 'LAST CHECK ON'] : [])];
  const rows = report.platforms.map((p) => [
    printable(p.platform),
    p.breakerState,
    p.lastResult ?? '-',
    p.lastDurationSeconds === undefined || p.lastResult === 'rejected' ? '-' : `${Math.round(p.lastDurationSeconds * 1000)} ms`,
    String(p.consecutiveFailures),
    p.breakerState !== 'CLOSED' && p.nextAttemptAt !== undefined ? `${Math.max(0, Math.ceil((p.nextAttemptAt - now) / 1000))} s` : '-',
    ...(cluster ? [printable(p.owner ?? '-'), printable(p.lastCheckBy ?? '-')] : []),
  ]);
  const widths = header.map((h, i) => Math.min(40, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (cells: string[], paint = false) =>
    cells
      .map((cell, i) => {
        const text = cell.length > widths[i]! ? `${cell.slice(0, widths[i]! - 1)}…` : cell.padEnd(widths[i]!);
        return paint && i === 1 && colour ? `${STATE_COLOURS[cell] ?? ''}${text}${RESET}` : text;
      })
      .join('  ')
      .trimEnd();
  const degraded = report.degraded
    ? `yes (${report.degraded.resource} ${Math.round(report.degraded.value * 100)} % ≥ ${Math.round(report.degraded.threshold * 100)} %)`
    : 'no';
  return [
    `conductor-health — status: ${report.status} — degraded mode: ${degraded} — skipped checks: ${report.skippedChecks}`,
    ...(cluster ? [cluster.localMode && colour ? `${LOCAL_MODE_COLOUR}${clusterLine(cluster)}${RESET}` : clusterLine(cluster)] : []),
    '',
    line(header),
    ...rows.map((r) => line(r, true)),
    '',
    'Recent events:',
    ...(recentEvents.length > 0 ? recentEvents.map((e) => `  ${e}`) : ['  (none yet)']),
    '',
    'Ctrl-C to stop.',
  ].join('\n');
}

/**
 * `cluster: replica replica-1 of 3 (replica-0, replica-1, replica-2), redis redis://127.0.0.1:6379`,
 * or `cluster: replica replica-1 in local mode: Redis redis://… unreachable, checking every platform here`.
 */
function clusterLine(cluster: ClusterReport): string {
  const id = (text: string) => {
    const shown = printable(text);
    return shown.length > ID_WIDTH ? `${shown.slice(0, ID_WIDTH - 1)}…` : shown;
  };
  const redis = boundLine(cluster.redis);
  if (cluster.localMode) return `cluster: replica ${id(cluster.replica)} in local mode: Redis ${redis} unreachable, checking every platform here`;
  const named = cluster.members.slice(0, MEMBERS_SHOWN).map(id);
  const more = cluster.members.length > named.length ? `, ${cluster.members.length - named.length} more` : '';
  return `cluster: replica ${id(cluster.replica)} of ${cluster.members.length} (${named.join(', ')}${more}), redis ${redis}`;
}

/**
 * Redraws the table in place on a terminal (the alternate screen, so the
 * shell's scrollback is left as it was) every `refreshMs`, listing breaker
 * transitions and degraded-mode changes as they happen. The returned function
 * closes it and prints `farewell` on the main screen, which would otherwise
 * show nothing of the run.
 */
export function startLiveTable(monitor: HealthMonitor, out: NodeJS.WriteStream, refreshMs = 1_000): (farewell?: string) => void {
  const events: string[] = [];
  const remember = (text: string) => {
    events.unshift(`${new Date().toISOString().slice(11, 19)}  ${text}`);
    events.length = Math.min(events.length, 8);
  };
  const onTransition = (c: { platform: string; from: string; to: string }) => remember(`${printable(c.platform)}: ${c.from} → ${c.to}`);
  const onDegraded = (c: { degraded: boolean }) => remember(c.degraded ? 'entered degraded mode' : 'left degraded mode');
  monitor.on('transition', onTransition);
  monitor.on('degraded', onDegraded);
  const draw = () => out.write(`\x1b[H\x1b[2J${renderStatusTable(monitor.report(), Date.now(), events, true)}\n`);
  out.write('\x1b[?1049h\x1b[?25l');
  draw();
  const timer = setInterval(draw, refreshMs);
  timer.unref();
  return (farewell) => {
    clearInterval(timer);
    monitor.off('transition', onTransition);
    monitor.off('degraded', onDegraded);
    out.write(`\x1b[?25h\x1b[?1049l${farewell === undefined ? '' : `${farewell}\n`}`);
  };
}
