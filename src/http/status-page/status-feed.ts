/**
 * What the open status pages are sent: a snapshot when a page connects, then
 * every `updateIntervalMs` the checks and transitions since the last update,
 * with the rows that came and went when platforms are registered or removed.
 * Every snapshot and update has an id: a page the server ended (see
 * {@link EventStreams}) comes back with the last one it got and receives the
 * updates it missed, not a snapshot. It listens to the monitor only while a
 * stream is open (or expected back), and its timer never keeps the process alive.
 */
import { randomUUID } from 'node:crypto';
import type { BreakerStateChange } from '../../breaker/state.ts';
import { RingBuffer } from '../../common/ring-buffer.ts';
import type { HealthMonitor } from '../../monitor/health-monitor.ts';
import type { CheckSample, HealthCheckResult, HealthReport } from '../../monitor/report.ts';
import { HEARTBEAT, RETURN_GRACE_MS, encodeEvent, type EventStreams } from './event-streams.ts';
import { PageRows } from './page-rows.ts';
import { appendChecks, platformViewOf, snapshotOf, summaryOf, transitionViewOf, type CheckColumns, type PlatformView, type RowChange, type StatusSummary } from './status-view.ts';

const HEARTBEAT_MS = 10_000;
/** How long a page's EventSource waits before reconnecting. */
const RETRY = Buffer.from('retry: 2000\n');
/**
 * Updates kept for pages coming back: as many as are sent while one is
 * expected back, plus two, and at most 64 (below an interval of ~160 ms a
 * page coming back late gets a snapshot instead).
 */
const recentUpdates = (intervalMs: number) => Math.min(64, Math.ceil(RETURN_GRACE_MS / intervalMs) + 2);
/**
 * Bytes of updates kept for pages coming back. Missing more, a page gets a
 * snapshot, which is then about as large (1,000 platforms: ~250 KB); so
 * this is the whole memory the resuming costs, however large updates get.
 */
const RECENT_BYTES = 256 * 1024;

export class StatusFeed {
  readonly #monitor: HealthMonitor;
  readonly #intervalMs: number;
  #streams: EventStreams | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** New checks per platform since the last update, each ring as long as the monitor's history. */
  #checks = new Map<string, RingBuffer<CheckSample>>();
  /** Transitions since the last update, as many as the monitor's transition history keeps. */
  #transitions: RingBuffer<BreakerStateChange>;
  #dirty = false;
  /** The rows as the pages have them. */
  readonly #rows: PageRows;
  /** The snapshot event, built at most once between two updates. */
  #snapshot: Buffer | undefined;
  /** `performance.now()` of the last write: the heartbeat runs on the monotonic clock, so a wall-clock step cannot pause it. */
  #lastWrite = 0;
  /** Names the ids of this period of following: an id from an earlier one (or another process) never matches. */
  #period = '';
  /** Updates sent in this period; the id of the last. */
  #seq = 0;
  /** The latest updates, the newest numbered {@link #seq}. */
  readonly #recent: RecentUpdates;
  /** The monitor has a cluster (its report says so): every update then compares every row, since other replicas change them. */
  #clustered = false;
  /** The summary the pages have, but its time ({@link summaryKey}). */
  #summarySent = '';

  readonly #onCheck = (result: HealthCheckResult) => {
    let ring = this.#checks.get(result.platform);
    if (ring === undefined) this.#checks.set(result.platform, (ring = new RingBuffer(this.#monitor.historySize)));
    ring.push({ at: result.startedAt, status: result.status, durationSeconds: result.durationSeconds });
  };
  readonly #onTransition = (change: BreakerStateChange) => {
    this.#transitions.push(change);
  };
  readonly #onDegraded = () => {
    this.#dirty = true;
  };

  constructor(monitor: HealthMonitor, intervalMs: number) {
    this.#monitor = monitor;
    this.#intervalMs = intervalMs;
    this.#transitions = new RingBuffer(monitor.transitionHistorySize);
    this.#rows = new PageRows((platform) => monitor.getBreaker(platform));
    this.#recent = new RecentUpdates(recentUpdates(intervalMs), RECENT_BYTES);
  }

  /** Starts updating `streams`, or stops when undefined (no stream open or expected back). */
  follow(streams: EventStreams | undefined): void {
    if (streams === this.#streams) return;
    this.#streams = streams;
    if (streams) {
      this.#monitor.on('check', this.#onCheck);
      this.#monitor.on('transition', this.#onTransition);
      this.#monitor.on('degraded', this.#onDegraded);
      this.#timer = setInterval(() => this.#update(), this.#intervalMs);
      this.#timer.unref();
      // Changes made while nobody followed were never sent: no id from before may resume.
      this.#period = randomUUID().slice(0, 8);
      this.#seq = 0;
      this.#recent.clear();
    } else {
      this.#monitor.off('check', this.#onCheck);
      this.#monitor.off('transition', this.#onTransition);
      this.#monitor.off('degraded', this.#onDegraded);
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#clearPending();
      this.#snapshot = undefined;
    }
  }

  /**
   * The first bytes of a new stream: the updates since `lastEventId` when the
   * page comes back with one this feed still holds, else a snapshot
   * consistent with the updates that follow it.
   */
  firstEvents(lastEventId: string | undefined): Buffer {
    const missed = this.#since(lastEventId);
    if (missed) return Buffer.concat([RETRY, ...missed]);
    if (this.#snapshot === undefined) {
      // Send what is pending to the pages already open, so the snapshot and
      // the next update do not both carry the same checks.
      this.#update();
      this.#snapshot ??= this.#buildSnapshot();
    }
    return Buffer.concat([RETRY, this.#snapshot]);
  }

  /** The updates after `id`, if it is one of this period and every one since is still held. */
  #since(id: string | undefined): Buffer[] | undefined {
    const [period, n] = id?.split('-') ?? [];
    const seen = Number(n);
    if (period !== this.#period || !Number.isSafeInteger(seen) || seen > this.#seq) return undefined;
    return this.#recent.newest(this.#seq - seen);
  }

  #buildSnapshot(): Buffer {
    const report = this.#monitor.report({ history: true });
    const snapshot = snapshotOf(report, Date.now(), this.#monitor.historySize);
    this.#rows.reset(report.platforms, snapshot.platforms);
    this.#clustered = report.cluster !== undefined;
    this.#summarySent = summaryKey(snapshot);
    return encodeEvent('snapshot', JSON.stringify(snapshot), this.#id());
  }

  #update(): void {
    const streams = this.#streams;
    if (streams === undefined) return;
    const now = Date.now();
    const transitions = this.#transitions.toArray();
    const quiet = this.#checks.size === 0 && transitions.length === 0 && !this.#dirty;
    // With a cluster, rows and the header also change by what the other replicas do, which no event here tells.
    if (quiet && !this.#clustered) {
      this.#heartbeat(streams);
      return;
    }
    const report = this.#monitor.report();
    this.#clustered = report.cluster !== undefined;
    // A new row comes with its recent checks, which only the report with history has.
    let full: HealthReport | undefined;
    const set = this.#rows.follow(report.platforms, (i) => {
      full ??= this.#monitor.report({ history: true });
      return platformViewOf(full.platforms[i]!, full.platforms[i]!.history ?? []);
    });
    const added = new Set(set?.added);
    const checks: CheckColumns = { row: [], status: '', ms: [], at: [] };
    /** Rows to compare with what the pages have, each with its newest check in this update. */
    const touched = new Map<number, CheckSample | undefined>();
    for (const [name, ring] of this.#checks) {
      const i = this.#rows.indexOf(name);
      if (i === undefined || added.has(i)) continue;
      const samples = ring.toArray();
      appendChecks(checks, i, samples, now);
      touched.set(i, samples.at(-1));
    }
    // Transitions also change rows that had no check (OPEN → HALF_OPEN happens on a timer).
    for (const change of transitions) {
      const i = this.#rows.indexOf(change.platform);
      if (i !== undefined && !added.has(i) && !touched.has(i)) touched.set(i, undefined);
    }
    if (this.#clustered) {
      // Every other row the report says anything new of (most say nothing new between two updates).
      report.platforms.forEach((p, i) => {
        if (!added.has(i) && !touched.has(i) && !this.#rows.unchanged(i, p)) touched.set(i, undefined);
      });
    }
    const rows: RowChange[] = [];
    for (const [i, newest] of touched) {
      const p = report.platforms[i]!;
      const change = this.#rows.update(i, p, platformViewOf(p, []), newest);
      if (change) rows.push(change);
    }
    const summary = summaryOf(report, now);
    const summaryChanged = summaryKey(summary) !== this.#summarySent;
    if (quiet && set === undefined && rows.length === 0 && !summaryChanged) {
      this.#heartbeat(streams);
      return;
    }
    const update = {
      ...summary,
      ...(set && set.removed.length > 0 ? { removed: set.removed } : {}),
      ...(set && set.added.length > 0 ? { added: set.added.map((i): PlatformView & { i: number } => ({ i, ...this.#rows.view(i) })) } : {}),
      checks,
      rows,
      transitions: transitions.map(transitionViewOf),
    };
    this.#clearPending();
    this.#snapshot = undefined;
    this.#summarySent = summaryKey(summary);
    this.#seq += 1;
    const bytes = encodeEvent('update', JSON.stringify(update), this.#id());
    this.#recent.push(bytes);
    this.#write(streams, bytes);
  }

  /** Nothing to send: a heartbeat, when the streams have been quiet for its interval. */
  #heartbeat(streams: EventStreams): void {
    if (performance.now() - this.#lastWrite >= HEARTBEAT_MS) this.#write(streams, HEARTBEAT);
  }

  /** The id of the state the pages reach with the last update. */
  #id(): string {
    return `${this.#period}-${this.#seq}`;
  }

  #clearPending(): void {
    this.#checks = new Map();
    this.#transitions = new RingBuffer(this.#monitor.transitionHistorySize);
    this.#dirty = false;
  }

  #write(streams: EventStreams, bytes: Buffer): void {
    this.#lastWrite = performance.now();
    streams.broadcast(bytes);
  }
}

/** A summary but its time, to tell whether the pages have it already. */
function summaryKey({ now: _now, status, reasons, degraded, running, skippedChecks, cluster }: StatusSummary): string {
  return JSON.stringify([status, reasons, degraded, running, skippedChecks, cluster]);
}

/** The latest updates: at most `maxCount` of them, and `maxBytes` together. */
export class RecentUpdates {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #updates: Buffer[] = [];
  #bytes = 0;

  constructor(maxCount: number, maxBytes: number) {
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  /** Keeps `update` as the newest, letting the oldest go past either bound. */
  push(update: Buffer): void {
    this.#updates.push(update);
    this.#bytes += update.length;
    while (this.#updates.length > this.#maxCount || this.#bytes > this.#maxBytes) this.#bytes -= this.#updates.shift()!.length;
  }

  /** The newest `n` updates, oldest first, or undefined when fewer are kept. */
  newest(n: number): Buffer[] | undefined {
    return n > this.#updates.length ? undefined : this.#updates.slice(this.#updates.length - n);
  }

  clear(): void {
    this.#updates = [];
    this.#bytes = 0;
  }
}
