/**
 * What the open status pages are sent: a snapshot when a page connects (or
 * the set of platforms changed), then every `updateIntervalMs` the checks
 * and transitions since the last update. It listens to the monitor only
 * while a stream is open, and its timer never keeps the process alive.
 */
import type { BreakerStateChange } from '../../breaker/state.ts';
import { RingBuffer } from '../../common/ring-buffer.ts';
import type { HealthMonitor } from '../../monitor/health-monitor.ts';
import type { CheckSample, HealthCheckResult } from '../../monitor/report.ts';
import { HEARTBEAT, encodeEvent, type EventStreams } from './event-streams.ts';
import { appendChecks, platformViewOf, rowChange, snapshotOf, summaryOf, transitionViewOf, type CheckColumns, type PlatformView, type RowChange } from './status-view.ts';

const HEARTBEAT_MS = 10_000;
/** How long a page's EventSource waits before reconnecting. */
const RETRY = Buffer.from('retry: 2000\n');

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
  /** Row index of each platform in the last snapshot sent; updates address rows by it. */
  #rows = new Map<string, number>();
  /** Each row as the pages have it, so an update carries only what changed. */
  #sent: PlatformView[] = [];
  /** The snapshot event, built at most once between two updates. */
  #snapshot: Buffer | undefined;
  /** `performance.now()` of the last write: the heartbeat runs on the monotonic clock, so a wall-clock step cannot pause it. */
  #lastWrite = 0;

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
  }

  /** Starts updating `streams`, or stops when undefined (no stream open). */
  follow(streams: EventStreams | undefined): void {
    if (streams === this.#streams) return;
    this.#streams = streams;
    if (streams) {
      this.#monitor.on('check', this.#onCheck);
      this.#monitor.on('transition', this.#onTransition);
      this.#monitor.on('degraded', this.#onDegraded);
      this.#timer = setInterval(() => this.#update(), this.#intervalMs);
      this.#timer.unref();
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

  /** The snapshot a new stream starts with; consistent with the updates that follow it. */
  snapshotEvent(): Buffer {
    if (this.#snapshot === undefined) {
      // Send what is pending to the pages already open, so the snapshot and
      // the next update do not both carry the same checks.
      this.#update();
      this.#snapshot ??= this.#buildSnapshot();
    }
    return Buffer.concat([RETRY, this.#snapshot]);
  }

  #buildSnapshot(): Buffer {
    const report = this.#monitor.report({ history: true });
    this.#rows = new Map(report.platforms.map((p, i) => [p.platform, i]));
    const snapshot = snapshotOf(report, Date.now(), this.#monitor.historySize);
    this.#sent = snapshot.platforms;
    return encodeEvent('snapshot', JSON.stringify(snapshot));
  }

  #update(): void {
    const streams = this.#streams;
    if (streams === undefined) return;
    const now = Date.now();
    const transitions = this.#transitions.toArray();
    if (this.#checks.size === 0 && transitions.length === 0 && !this.#dirty) {
      if (performance.now() - this.#lastWrite >= HEARTBEAT_MS) this.#write(streams, HEARTBEAT);
      return;
    }
    const report = this.#monitor.report();
    const sameRows = report.platforms.length === this.#rows.size && report.platforms.every((p, i) => this.#rows.get(p.platform) === i);
    if (!sameRows) {
      // Platforms came or went: every page starts over from a fresh snapshot.
      this.#clearPending();
      this.#snapshot = this.#buildSnapshot();
      this.#write(streams, this.#snapshot);
      return;
    }
    const checks: CheckColumns = { row: [], status: '', ms: [], at: [] };
    const touched = new Set<number>();
    for (const [name, samples] of this.#checks) {
      const i = this.#rows.get(name);
      if (i === undefined) continue;
      appendChecks(checks, i, samples.toArray(), now);
      touched.add(i);
    }
    // Transitions also change rows that had no check (OPEN → HALF_OPEN happens on a timer).
    for (const change of transitions) {
      const i = this.#rows.get(change.platform);
      if (i !== undefined) touched.add(i);
    }
    const rows: RowChange[] = [];
    for (const i of touched) {
      const next = platformViewOf(report.platforms[i]!, []);
      const change = rowChange(i, this.#sent[i]!, next);
      this.#sent[i] = next;
      if (change) rows.push(change);
    }
    const update = { ...summaryOf(report, now), checks, rows, transitions: transitions.map(transitionViewOf) };
    this.#clearPending();
    this.#snapshot = undefined;
    this.#write(streams, encodeEvent('update', JSON.stringify(update)));
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
