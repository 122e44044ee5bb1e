import type { IncomingMessage, ServerResponse } from 'node:http';
import { holdForStream } from '../server.ts';

/** Limits of an {@link EventStreams}. */
export interface EventStreamLimits {
  /** Streams open at once; one more is answered 503. */
  maxStreams: number;
  /** Bytes a stream may have queued (unsent) before it is dropped. */
  maxBufferedBytes: number;
  /** Age at which a stream is ended with a `bye` event; an EventSource comes back by itself. */
  maxAgeMs: number;
}

/**
 * How long the feed keeps following for a stream ended at its age: a page's
 * EventSource comes back after its `retry` (2 s), so five times that.
 */
export const RETURN_GRACE_MS = 10_000;

/**
 * The open Server-Sent Events streams of one endpoint, with bounded cost: at
 * most `maxStreams` at once, and a client that stops reading is dropped as
 * soon as more than `maxBufferedBytes` wait for it, so it holds at most that
 * plus one event in this process. Every stream gets the same encoded bytes.
 *
 * A client that never reads is seldom caught by that bound: the kernel's
 * socket buffers take megabytes (4 MB on loopback here) before a byte waits
 * in this process, 27 minutes of updates at 2.5 KB/s (200 platforms), and
 * Node can neither shrink them (no SO_SNDBUF for TCP) nor tell what the
 * client has read, so no "write progress" is seen either. Instead every
 * stream ends at `maxAgeMs` with a `bye` event: a page's EventSource comes
 * back after its 2 s retry with the id of the last event it got and is sent
 * only what it missed, while a client that does not read never comes back,
 * and its place is free.
 */
export class EventStreams {
  readonly #streams = new Set<ServerResponse>();
  readonly #limits: EventStreamLimits;
  readonly #onChange: (open: number) => void;
  #dropped = 0;
  /** Broadcasts being written, oldest first: each reaches every stream in order. */
  #jobs: Array<{ bytes: Buffer; targets: ServerResponse[]; next: number }> = [];
  #writing: NodeJS.Immediate | undefined;
  /** One timer per stream ended at its age whose client may still come back. */
  readonly #returning = new Set<NodeJS.Timeout>();

  /** `onChange` hears the number of streams open or expected back after each change. */
  constructor(limits: EventStreamLimits, onChange: (open: number) => void) {
    this.#limits = limits;
    this.#onChange = onChange;
  }

  /** Streams open now. */
  get size(): number {
    return this.#streams.size;
  }

  /** Streams dropped so far because their client did not read. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Starts a stream with `first` as its first bytes, or answers 503 when
   * `maxStreams` are open. `headers` are added to the event-stream ones.
   */
  open(request: IncomingMessage, response: ServerResponse, headers: Record<string, string>, first: () => Buffer): void {
    if (this.#streams.size >= this.#limits.maxStreams) {
      refuse(response, headers, `too many event streams open (at most ${this.#limits.maxStreams})`);
      return;
    }
    const refusal = holdForStream(response);
    if (refusal) {
      refuse(response, headers, `too many event streams open on this server: they may hold ${refusal.streams} of its ${refusal.connections} connections, the rest stay for probes and scrapes`);
      return;
    }
    response.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      // A proxy must pass events on as they come, not buffer them.
      'x-accel-buffering': 'no',
    });
    // Before the stream joins: building the first bytes may broadcast what other streams still lack.
    response.write(first());
    // A client gone already would never send 'close' again and hold a place forever.
    if (request.socket.destroyed || response.destroyed) return;
    this.#streams.add(response);
    // Presumably one that was ended at its age: it is back.
    const back = this.#returning.values().next().value;
    if (back !== undefined) {
      clearTimeout(back);
      this.#returning.delete(back);
    }
    const age = setTimeout(() => this.#retire(response), this.#limits.maxAgeMs);
    age.unref();
    const close = () => {
      clearTimeout(age);
      if (this.#streams.delete(response)) this.#changed();
    };
    request.socket.once('close', close);
    response.once('close', close);
    this.#changed();
  }

  /** Ends a stream at its age, and keeps the feed going while its client may come back. */
  #retire(response: ServerResponse): void {
    if (!this.#streams.delete(response)) return;
    const grace = setTimeout(() => {
      this.#returning.delete(grace);
      this.#changed();
    }, RETURN_GRACE_MS);
    grace.unref();
    this.#returning.add(grace);
    // Ended, it is an ordinary response: the server's write deadline bounds what it still holds.
    response.end(BYE);
    this.#changed();
  }

  #changed(): void {
    this.#onChange(this.#streams.size + this.#returning.size);
  }

  /**
   * Writes `bytes` to every stream open now; a stream with more than
   * `maxBufferedBytes` unsent is dropped instead. A few streams per
   * event-loop turn, so timers due meanwhile (the monitor's schedule) run
   * between them rather than after a hundred socket writes.
   */
  broadcast(bytes: Buffer): void {
    if (this.#streams.size === 0) return;
    this.#jobs.push({ bytes, targets: [...this.#streams], next: 0 });
    this.#writing ??= setImmediate(() => this.#write());
  }

  #write(): void {
    this.#writing = undefined;
    const before = this.#streams.size;
    for (let budget = STREAMS_PER_TURN; budget > 0 && this.#jobs.length > 0; budget -= 1) {
      const job = this.#jobs[0]!;
      const response = job.targets[job.next++]!;
      if (job.next === job.targets.length) this.#jobs.shift();
      if (!this.#streams.has(response)) continue;
      // writableLength counts the response's queue and its socket's.
      if (response.writableLength + job.bytes.length > this.#limits.maxBufferedBytes) {
        this.#dropped += 1;
        this.#streams.delete(response);
        response.destroy();
        continue;
      }
      response.write(job.bytes);
    }
    if (this.#jobs.length > 0) this.#writing = setImmediate(() => this.#write());
    if (this.#streams.size !== before) this.#changed();
  }

  /** Ends every stream. */
  close(): void {
    const streams = [...this.#streams];
    this.#streams.clear();
    this.#jobs = [];
    clearImmediate(this.#writing);
    this.#writing = undefined;
    for (const timer of this.#returning) clearTimeout(timer);
    this.#returning.clear();
    for (const response of streams) response.end();
    this.#onChange(0);
  }
}

/** Answers 503: the client may come back later. */
function refuse(response: ServerResponse, headers: Record<string, string>, why: string): void {
  response.writeHead(503, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' }).end(`${why}\n`);
}

/** Socket writes per event-loop turn when broadcasting. */
const STREAMS_PER_TURN = 10;

/** One Server-Sent Event; `data` must be a single line (compact JSON is). With `id`, a client coming back sends it as `Last-Event-ID`. */
export function encodeEvent(event: string, data: string, id?: string): Buffer {
  return Buffer.from(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`);
}

/** The last event of a stream ended at its age: the page then reconnects without saying it lost the server. */
const BYE = encodeEvent('bye', '{}');

/** A comment line: keeps idle connections (and proxies) from timing the stream out. */
export const HEARTBEAT = Buffer.from(': keep-alive\n\n');
