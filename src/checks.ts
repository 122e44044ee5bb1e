import { connect } from 'node:net';
import { context, propagation } from '@opentelemetry/api';
import type { HealthCheck } from './health.ts';

/** Settings of {@link httpCheck}. */
export interface HttpCheckOptions {
  /** The URL to GET. */
  url: string;
  /** Accepted status codes, inclusive (default 200–299). */
  expectStatus?: { min: number; max: number };
  /** A string the body must contain, or a pattern it must match. */
  bodyMatch?: string | RegExp;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

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
  constructor(bodyMatch: string | RegExp) {
    super(`response body does not match ${String(bodyMatch)}`);
    this.name = 'BodyMismatchError';
  }
}

/**
 * A check that GETs a URL. It sends the W3C `traceparent` of the check's
 * span, so a platform that is traced itself joins the check's trace.
 */
export function httpCheck(options: HttpCheckOptions): HealthCheck {
  const expect = options.expectStatus ?? { min: 200, max: 299 };
  return async (signal) => {
    const headers: Record<string, string> = { 'user-agent': 'conductor-health', ...options.headers };
    propagation.inject(context.active(), headers);
    const response = await fetch(options.url, { signal, headers, redirect: 'manual' });
    if (response.status < expect.min || response.status > expect.max) {
      await response.body?.cancel();
      throw new UnexpectedStatusError(response.status, expect);
    }
    if (options.bodyMatch === undefined) {
      await response.body?.cancel();
      return true;
    }
    const body = await response.text();
    const matches = typeof options.bodyMatch === 'string' ? body.includes(options.bodyMatch) : options.bodyMatch.test(body);
    if (!matches) throw new BodyMismatchError(options.bodyMatch);
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
