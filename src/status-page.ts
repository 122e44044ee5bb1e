import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BreakerStateChange } from './breaker/state.ts';
import { parseOptions } from './common/option-schema.ts';
import { STATUS_PAGE_OPTIONS, type StatusPageOptions } from './status-page-options.ts';
import { EventStreams, HEARTBEAT, encodeEvent } from './event-stream.ts';
import { allowMethod, type RequestHandler } from './health-endpoint.ts';
import type { CheckSample, HealthCheckResult } from './monitor/report.ts';
import type { HealthMonitor } from './monitor/health-monitor.ts';
import { renderStatusPage } from './status-html.ts';
import {
  appendChecks,
  platformViewOf,
  rowChange,
  snapshotOf,
  summaryOf,
  transitionViewOf,
  type CheckColumns,
  type PlatformView,
  type RowChange,
} from './status-view.ts';

export type { StatusPageOptions } from './status-page-options.ts';

/** The status page's handler, with what the server around it needs to know. */
export interface StatusPageHandler extends RequestHandler {
  /** The paths it answers below its mount point: the page, its script, style and icon, and the event stream. */
  readonly paths: readonly string[];
  /** Event streams open now. */
  readonly streams: number;
  /** Event streams dropped because their client stopped reading. */
  readonly droppedStreams: number;
  /** Ends every event stream and stops updating; the handler still serves the page. */
  close(): void;
}

const HEARTBEAT_MS = 10_000;
/** How long a page's EventSource waits before reconnecting. */
const RETRY = Buffer.from('retry: 2000\n');

/** Nothing inline and nothing from elsewhere: the page's script and style are files of this handler. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const ASSETS: Record<string, string> = {
  'status.js': 'text/javascript; charset=utf-8',
  'status.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * A live status page for operators: server-rendered HTML (useful without
 * JavaScript) plus a small script that keeps it current from Server-Sent
 * Events. Mount it at a path ending in `/` (the command serves it at `/`);
 * it answers `''` (the page), `status.js`, `status.css`, `favicon.svg` and
 * `events` below that path. Read-only: GET and HEAD only.
 */
export function statusPageHandler(monitor: HealthMonitor, options?: StatusPageOptions): StatusPageHandler {
  const { maxStreams, maxBufferedBytes, updateIntervalMs } = parseOptions(STATUS_PAGE_OPTIONS, 'status page', options);
  const feed = new StatusFeed(monitor, updateIntervalMs);
  const streams = new EventStreams({ maxStreams, maxBufferedBytes }, (open) => feed.follow(open > 0 ? streams : undefined));

  const handler = ((request: IncomingMessage, response: ServerResponse) => {
    if (!allowMethod(request, response)) return;
    const path = (request.url ?? '/').split('?', 1)[0]!;
    const name = path.slice(path.lastIndexOf('/') + 1);
    const head = request.method === 'HEAD';
    if (name === '') {
      const html = head ? '' : renderStatusPage(snapshotOf(monitor.report({ history: true }), Date.now(), monitor.historySize));
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }).end(head ? undefined : html);
    } else if (name === 'events') {
      if (head) response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' }).end();
      else streams.open(request, response, SECURITY_HEADERS, () => feed.snapshotEvent());
    } else if (Object.hasOwn(ASSETS, name)) {
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': ASSETS[name]! }).end(head ? undefined : asset(name));
    } else {
      response.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  }) as StatusPageHandler;
  Object.defineProperties(handler, {
    paths: { value: Object.freeze(['/', ...Object.keys(ASSETS).map((a) => `/${a}`), '/events']), enumerable: true },
    streams: { get: () => streams.size, enumerable: true },
    droppedStreams: { get: () => streams.dropped, enumerable: true },
    close: { value: () => streams.close() },
  });
  return handler;
}

const assetCache = new Map<string, Buffer>();
/** The page's static files, read once (from static/, beside src/ and dist/). */
function asset(name: string): Buffer {
  let bytes = assetCache.get(name);
  if (bytes === undefined) {
    bytes = readFileSync(new URL(`../static/${name}`, import.meta.url));
    assetCache.set(name, bytes);
  }
  return bytes;
}

/**
 * What the open pages are sent: a snapshot when a page connects (or the set
 * of platforms changed), then every `updateIntervalMs` the checks and
 * transitions since the last update. It listens to the monitor only while a
 * stream is open, and its timer never keeps the process alive.
 */
class StatusFeed {
  readonly #monitor: HealthMonitor;
  readonly #intervalMs: number;
  #streams: EventStreams | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** New checks per platform since the last update, each list at most historySize long. */
  #checks = new Map<string, CheckSample[]>();
  #transitions: BreakerStateChange[] = [];
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
    let list = this.#checks.get(result.platform);
    if (list === undefined) this.#checks.set(result.platform, (list = []));
    list.push({ at: result.startedAt, status: result.status, durationSeconds: result.durationSeconds });
    if (list.length > this.#monitor.historySize) list.shift();
  };
  readonly #onTransition = (change: BreakerStateChange) => {
    this.#transitions.push(change);
    if (this.#transitions.length > 100) this.#transitions.shift();
  };
  readonly #onDegraded = () => {
    this.#dirty = true;
  };

  constructor(monitor: HealthMonitor, intervalMs: number) {
    this.#monitor = monitor;
    this.#intervalMs = intervalMs;
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
      this.#checks = new Map();
      this.#transitions = [];
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
    if (this.#checks.size === 0 && this.#transitions.length === 0 && !this.#dirty) {
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
      appendChecks(checks, i, samples, now);
      touched.add(i);
    }
    // Transitions also change rows that had no check (OPEN → HALF_OPEN happens on a timer).
    for (const change of this.#transitions) {
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
    const update = { ...summaryOf(report, now), checks, rows, transitions: this.#transitions.map(transitionViewOf) };
    this.#clearPending();
    this.#snapshot = undefined;
    this.#write(streams, encodeEvent('update', JSON.stringify(update)));
  }

  #clearPending(): void {
    this.#checks = new Map();
    this.#transitions = [];
    this.#dirty = false;
  }

  #write(streams: EventStreams, bytes: Buffer): void {
    this.#lastWrite = performance.now();
    streams.broadcast(bytes);
  }
}
