import { connect } from 'node:net';
import { context, propagation } from '@opentelemetry/api';
import { checkNumber, describeValue } from './common/validate.ts';
import type { HealthCheck } from './health.ts';
import { maskSecrets } from './common/text.ts';

/** Settings of {@link httpCheck}. */
export interface HttpCheckOptions {
  /** The URL to GET. Credentials in it (`https://user:pass@host/`) are sent as Basic auth, never shown. */
  url: string;
  /** Accepted status codes, inclusive (default 200–299). */
  expectStatus?: { min: number; max: number };
  /** A string the body must contain, or a pattern it must match (its `g` and `y` flags are ignored). */
  bodyMatch?: string | RegExp;
  /** How much of the body `bodyMatch` reads, in bytes (default 65,536); the rest is not read. */
  maxBodyBytes?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

/** Defaults of {@link httpCheck}. */
const HTTP_CHECK_DEFAULTS = Object.freeze({
  /** A health body worth matching is small; this bounds the memory of 1,000 concurrent checks to 64 MiB. */
  maxBodyBytes: 65_536,
});

/** Settings of {@link tcpCheck}. */
export interface TcpCheckOptions {
  host: string;
  port: number;
}

/** Thrown when a platform answers with a status outside the expected range. */
export class UnexpectedStatusError extends Error {
  /** The `error_type` this failure is counted under. */
  readonly code = 'unexpected_status';
  readonly status: number;
  constructor(status: number, expected: { min: number; max: number }) {
    super(`HTTP ${status}, expected ${expected.min}–${expected.max}`);
    this.name = 'UnexpectedStatusError';
    this.status = status;
  }
}

/** Thrown when the body does not contain what `bodyMatch` asks for. */
export class BodyMismatchError extends Error {
  readonly code = 'body_mismatch';
  /** `truncatedAt`: the body was longer, and only this many bytes were read. */
  constructor(bodyMatch: string | RegExp, truncatedAt?: number) {
    super(`response body${truncatedAt === undefined ? '' : ` (first ${truncatedAt} bytes)`} does not match ${String(bodyMatch)}`);
    this.name = 'BodyMismatchError';
  }
}

/**
 * The URL without its credentials, and the `Authorization` header they make:
 * fetch refuses a URL with credentials, and a URL shown anywhere must not
 * carry a password.
 */
function splitCredentials(url: string): { url: string; authorization: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`conductor-health: option "url" must be a valid URL, got ${maskSecrets(describeValue(url))}`);
  }
  if (parsed.username === '' && parsed.password === '') return { url, authorization: undefined };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return {
    url: parsed.href,
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  };
}

/** Reads at most `maxBytes` of a body as text; `truncated` when there was more (which is then not read). */
async function readBounded(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let read = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text: text + decoder.decode(), truncated: false };
      const room = maxBytes - read;
      read += Math.min(room, value.byteLength);
      text += decoder.decode(value.byteLength > room ? value.subarray(0, room) : value, { stream: true });
      if (read >= maxBytes) return { text: text + decoder.decode(), truncated: true };
    }
  } finally {
    // Stops the transfer of whatever was not read (an endless body included).
    void reader.cancel().catch(() => {});
  }
}

/**
 * A check that GETs a URL. It sends the W3C `traceparent` of the check's
 * span, so a platform that is traced itself joins the check's trace.
 */
export function httpCheck(options: HttpCheckOptions): HealthCheck {
  const expect = options.expectStatus ?? { min: 200, max: 299 };
  const maxBodyBytes = checkNumber('maxBodyBytes', options.maxBodyBytes ?? HTTP_CHECK_DEFAULTS.maxBodyBytes, { min: 1, integer: true });
  const { url, authorization } = splitCredentials(options.url);
  // A pattern with g or y keeps lastIndex between calls: the same body would pass, then fail.
  const bodyMatch = options.bodyMatch instanceof RegExp ? new RegExp(options.bodyMatch.source, options.bodyMatch.flags.replace(/[gy]/g, '')) : options.bodyMatch;
  return async (signal) => {
    const headers: Record<string, string> = {
      'user-agent': 'conductor-health',
      ...(authorization === undefined ? {} : { authorization }),
      ...options.headers,
    };
    propagation.inject(context.active(), headers);
    const response = await fetch(url, { signal, headers, redirect: 'manual' });
    if (response.status < expect.min || response.status > expect.max) {
      await response.body?.cancel();
      throw new UnexpectedStatusError(response.status, expect);
    }
    if (bodyMatch === undefined) {
      await response.body?.cancel();
      return true;
    }
    const { text, truncated } = response.body === null ? { text: '', truncated: false } : await readBounded(response.body, maxBodyBytes);
    const matches = typeof bodyMatch === 'string' ? text.includes(bodyMatch) : bodyMatch.test(text);
    if (!matches) throw new BodyMismatchError(bodyMatch, truncated ? maxBodyBytes : undefined);
    return true;
  };
}

/** A check that opens a TCP connection and closes it again. */
export function tcpCheck(options: TcpCheckOptions): HealthCheck {
  return (signal) =>
    new Promise<boolean>((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port });
      const onAbort = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        socket.end();
        socket.destroy();
        resolve(true);
      });
      socket.once('error', reject);
      socket.once('close', () => signal.removeEventListener('abort', onAbort));
    });
}
