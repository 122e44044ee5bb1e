/**
 * The status page's request handler: the server-rendered page, its script,
 * style and icon, and the event stream the status feed writes to.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseOptions } from '../../common/option-schema.ts';
import type { HealthMonitor } from '../../monitor/health-monitor.ts';
import { allowMethod, type RequestHandler } from '../request-handler.ts';
import { EventStreams } from './event-streams.ts';
import { STATUS_PAGE_OPTIONS, type StatusPageOptions } from './options.ts';
import { StatusFeed } from './status-feed.ts';
import { renderStatusPage } from './status-html.ts';
import { snapshotOf } from './status-view.ts';

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
  const { maxStreams, maxBufferedBytes, maxStreamAgeMs, updateIntervalMs } = parseOptions(STATUS_PAGE_OPTIONS, 'status page', options);
  const feed = new StatusFeed(monitor, updateIntervalMs);
  const streams = new EventStreams({ maxStreams, maxBufferedBytes, maxAgeMs: maxStreamAgeMs }, (open) => feed.follow(open > 0 ? streams : undefined));

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
      else {
        const since = request.headers['last-event-id'];
        streams.open(request, response, SECURITY_HEADERS, () => feed.firstEvents(typeof since === 'string' ? since : undefined));
      }
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
/** The page's static files, read once (from static/, beside src/ and dist/, three levels up from this file). */
function asset(name: string): Buffer {
  let bytes = assetCache.get(name);
  if (bytes === undefined) {
    bytes = readFileSync(new URL(`../../../static/${name}`, import.meta.url));
    assetCache.set(name, bytes);
  }
  return bytes;
}
