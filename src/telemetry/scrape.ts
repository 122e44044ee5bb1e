import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowMethod } from '../http/request-handler.ts';

/** The Content-Type of the Prometheus text format. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Renderings still being sent to clients that read slowly, past which a new
 * scrape is served the newest of them instead of a fresh one. Each is the
 * whole exposition (13 MB at 10,000 platforms); with clients that never read,
 * memory would otherwise grow by one rendering per scrape until their write
 * timeout.
 */
export const MAX_HELD_RENDERINGS = 2;

/** One rendering of the exposition, as text and as the bytes every scrape of it is sent. */
interface Rendering {
  readonly text: string;
  readonly bytes: Buffer;
}

/** What `/metrics` serves, built on a function that collects and renders the text. */
export interface ScrapeSource {
  /** The exposition text; scrapes that arrive while one is rendered share it. */
  text(): Promise<string>;
  /** Serves `/metrics` (GET and HEAD). */
  handle(request: IncomingMessage, response: ServerResponse): void;
}

/**
 * Shares renderings between scrapes, so that clients which ask and never read
 * cannot multiply memory: scrapes that arrive while a rendering is under way
 * share it, and while {@link MAX_HELD_RENDERINGS} renderings are still being
 * sent, a scrape gets the newest of them (at most the write timeout old) rather
 * than a new one. Clients that read promptly always get a fresh rendering.
 */
export function scrapeSource(collect: () => Promise<string>): ScrapeSource {
  let rendering: Promise<Rendering> | undefined;
  /** Renderings with responses still being written, and how many each has. */
  const held = new Map<Rendering, number>();
  let newestHeld: Rendering | undefined;

  const render = (): Promise<Rendering> => {
    if (rendering) return rendering;
    const current = collect().then((text) => {
      // The stock serializer leaves the last line open when there are no instruments; promtool rejects that.
      const whole = text.endsWith('\n') ? text : `${text}\n`;
      return { text: whole, bytes: Buffer.from(whole, 'utf8') };
    });
    rendering = current;
    const done = () => {
      if (rendering === current) rendering = undefined;
    };
    current.then(done, done);
    return current;
  };

  const hold = (r: Rendering, response: ServerResponse): void => {
    held.set(r, (held.get(r) ?? 0) + 1);
    newestHeld = r;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = held.get(r)! - 1;
      if (left > 0) held.set(r, left);
      else {
        held.delete(r);
        if (newestHeld === r) newestHeld = [...held.keys()].at(-1);
      }
    };
    response.once('finish', release);
    response.once('close', release);
  };

  return {
    async text() {
      return (await render()).text;
    },
    handle(request, response) {
      if (!allowMethod(request, response)) return;
      const source = held.size >= MAX_HELD_RENDERINGS && newestHeld ? Promise.resolve(newestHeld) : render();
      source.then(
        (r) => {
          if (request.method === 'HEAD') {
            response.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE }).end();
            return;
          }
          hold(r, response);
          // The shared bytes: a socket that is slow to read holds a reference, not a copy.
          response.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE }).end(r.bytes);
        },
        (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`# failed to collect metrics: ${String(error)}\n`),
      );
    },
  };
}
