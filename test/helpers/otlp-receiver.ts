import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** A decoded attribute value. Arrays, kvlists and bytes are flattened to strings (JSON / base64). */
export type AttributeValue = string | number | boolean;

/** One span as received over OTLP/HTTP JSON, flattened for easy assertions. */
export interface ReceivedSpan {
  name: string;
  attributes: Record<string, AttributeValue>;
  events: { name: string; attributes: Record<string, AttributeValue> }[];
  /** OTLP status code: 0 UNSET, 1 OK, 2 ERROR. */
  status: { code: number; message?: string };
  /** Resource attributes of the enclosing ResourceSpans (e.g. `service.name`). */
  resource: Record<string, AttributeValue>;
  /** Instrumentation scope of the enclosing ScopeSpans. */
  scope: { name: string; version?: string };
  /** OTLP span kind: 0 UNSPECIFIED, 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER. */
  kind: number;
  /** Lower-case hex, as OTLP/JSON encodes ids. */
  traceId: string;
  spanId: string;
  /** Absent for root spans. */
  parentSpanId?: string;
  /** Decimal nanoseconds since the epoch, as sent (strings: they exceed 2^53). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}

/** Metadata of one HTTP request the receiver saw, whatever its outcome. */
export interface ReceivedRequest {
  method: string;
  path: string;
  contentType: string;
  /** `content-encoding` header, '' if none. */
  contentEncoding: string;
  /** Body size on the wire (before gunzip). */
  bytes: number;
  /** Every request header, as Node parsed them (names in lower case). */
  headers: IncomingMessage['headers'];
}

/** Options for {@link startOtlpReceiver}. */
export interface OtlpReceiverOptions {
  /**
   * 'ok' (default): answer 200 `{}` like a healthy collector.
   * 'hang': read the request, record it, and never answer, to exercise exporter timeouts.
   */
  mode?: 'ok' | 'hang';
}

/** Handle returned by {@link startOtlpReceiver}. */
export interface OtlpReceiver {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** `url + '/v1/traces'`, the value to pass as the exporter's `url`. */
  readonly tracesUrl: string;
  /** Snapshot of all spans decoded so far, in arrival order. */
  spans(): ReceivedSpan[];
  /** Number of HTTP requests received (any path, any outcome, including hung ones). */
  readonly requests: number;
  /** Metadata of every request received, in arrival order. */
  readonly received: readonly ReceivedRequest[];
  /** Number of requests that carried `application/x-protobuf` (accepted but not decoded). */
  readonly protobufRequests: number;
  /** Bodies that could not be decoded (bad gzip, bad JSON, unknown encoding). */
  readonly errors: readonly string[];
  /**
   * Resolves with `spans()` once `predicate(spans())` is true; rejects after
   * `timeoutMs` (default 5 000) with the names of the spans received so far.
   */
  waitForSpans(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** Stops listening and destroys every open socket (including hung requests). Idempotent. */
  close(): Promise<void>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}
function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** Decodes an OTLP/JSON AnyValue. Returns undefined for an empty AnyValue. */
function decodeAnyValue(v: Json | undefined): AttributeValue | undefined {
  if (!isObject(v)) return undefined;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  // The proto3 JSON mapping allows int64 as a string; the JS exporter sends a number.
  if (v.intValue !== undefined && v.intValue !== null) return Number(v.intValue);
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (typeof v.bytesValue === 'string') return v.bytesValue;
  if (isObject(v.arrayValue)) {
    return JSON.stringify(arr(v.arrayValue.values).map((x) => decodeAnyValue(x) ?? null));
  }
  if (isObject(v.kvlistValue)) return JSON.stringify(decodeAttributes(v.kvlistValue.values));
  return undefined;
}

function decodeAttributes(list: Json | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of arr(list)) {
    if (!isObject(kv) || typeof kv.key !== 'string') continue;
    const value = decodeAnyValue(kv.value);
    if (value !== undefined) out[kv.key] = value;
  }
  return out;
}

/** Flattens an ExportTraceServiceRequest (OTLP/JSON) into ReceivedSpans. */
function decodeTraceRequest(body: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  if (!isObject(body)) throw new Error('body is not a JSON object');
  for (const rs of arr(body.resourceSpans)) {
    if (!isObject(rs)) continue;
    const resource = decodeAttributes(isObject(rs.resource) ? rs.resource.attributes : undefined);
    for (const ss of arr(rs.scopeSpans)) {
      if (!isObject(ss)) continue;
      const scopeJson = isObject(ss.scope) ? ss.scope : {};
      const scope: ReceivedSpan['scope'] = { name: str(scopeJson.name) };
      if (typeof scopeJson.version === 'string') scope.version = scopeJson.version;
      for (const s of arr(ss.spans)) {
        if (!isObject(s)) continue;
        const statusJson = isObject(s.status) ? s.status : {};
        const status: ReceivedSpan['status'] = { code: Number(statusJson.code ?? 0) };
        if (typeof statusJson.message === 'string') status.message = statusJson.message;
        const span: ReceivedSpan = {
          name: str(s.name),
          attributes: decodeAttributes(s.attributes),
          events: arr(s.events)
            .filter(isObject)
            .map((e) => ({ name: str(e.name), attributes: decodeAttributes(e.attributes) })),
          status,
          resource,
          scope,
          kind: Number(s.kind ?? 0),
          traceId: str(s.traceId),
          spanId: str(s.spanId),
          startTimeUnixNano: String(s.startTimeUnixNano ?? ''),
          endTimeUnixNano: String(s.endTimeUnixNano ?? ''),
        };
        // The exporter omits parentSpanId for roots; other senders use "".
        if (typeof s.parentSpanId === 'string' && s.parentSpanId !== '') span.parentSpanId = s.parentSpanId;
        out.push(span);
      }
    }
  }
  return out;
}

/**
 * Starts a loopback OTLP/HTTP trace receiver on 127.0.0.1 (random port).
 *
 * Decodes OTLP/JSON (what `@opentelemetry/exporter-trace-otlp-http` sends by
 * default), gunzips `content-encoding: gzip` bodies, and accepts — but only
 * counts — `application/x-protobuf` bodies. In 'ok' mode every POST gets
 * 200 `{}` (the exporter treats an empty partial-success object as success).
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const mode = options.mode ?? 'ok';
  const spans: ReceivedSpan[] = [];
  const received: ReceivedRequest[] = [];
  const errors: string[] = [];
  let protobufRequests = 0;
  const sockets = new Set<Socket>();
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };

  const respond = (res: ServerResponse, status: number, body: string): void => {
    if (mode === 'hang') return; // leave the exporter waiting; close() destroys the socket
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
    const contentEncoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    received.push({ method: req.method ?? '', path, contentType, contentEncoding, bytes: raw.length, headers: req.headers });
    notify();

    if (req.method !== 'POST' || path !== '/v1/traces') {
      respond(res, 404, JSON.stringify({ message: `no route for ${req.method} ${path}` }));
      return;
    }
    let body: Buffer;
    try {
      if (contentEncoding === 'gzip') body = gunzipSync(raw);
      else if (contentEncoding === '' || contentEncoding === 'identity') body = raw;
      else throw new Error(`unsupported content-encoding ${contentEncoding}`);
    } catch (err) {
      errors.push(String(err));
      respond(res, 415, JSON.stringify({ message: String(err) }));
      return;
    }
    if (contentType.startsWith('application/x-protobuf')) {
      // Protobuf decoding is out of scope: record that it happened and accept.
      protobufRequests++;
      respond(res, 200, '{}');
      return;
    }
    try {
      spans.push(...decodeTraceRequest(JSON.parse(body.toString('utf8')) as Json));
    } catch (err) {
      errors.push(`cannot decode ${contentType} body: ${String(err)}`);
      respond(res, 400, JSON.stringify({ message: String(err) }));
      return;
    }
    notify();
    respond(res, 200, '{}');
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('otlp receiver: no TCP address');
  const url = `http://127.0.0.1:${address.port}`;

  let closing: Promise<void> | undefined;

  return {
    url,
    tracesUrl: `${url}/v1/traces`,
    spans: () => [...spans],
    get requests() {
      return received.length;
    },
    received,
    get protobufRequests() {
      return protobufRequests;
    },
    errors,
    waitForSpans(predicate, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const snapshot = [...spans];
          if (!predicate(snapshot)) return false;
          listeners.delete(listener);
          clearTimeout(timer);
          resolve(snapshot);
          return true;
        };
        const listener = (): void => void check();
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(
            new Error(
              `waitForSpans: predicate not satisfied after ${timeoutMs} ms; ` +
                `${received.length} request(s), spans: ${JSON.stringify(spans.map((s) => s.name))}` +
                (errors.length ? `; decode errors: ${errors.join(' | ')}` : ''),
            ),
          );
        }, timeoutMs);
        listeners.add(listener);
        check();
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        // server.close() alone would wait forever for hung requests / keep-alive sockets.
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
