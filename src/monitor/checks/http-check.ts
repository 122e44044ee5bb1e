/**
 * The built-in `http` check: a GET that must answer a status in
 * `expectStatus` and, optionally, a body matching `bodyMatch`. Its options
 * are declared here once; a config file's `http` targets take the same
 * fields.
 */
import { context, propagation } from '@opentelemetry/api';
import * as z from 'zod';
import { OptionTypeError } from '../../common/errors.ts';
import { fieldMeta, number, options, parseOptions, text } from '../../common/option-schema.ts';
import { maskSecrets } from '../../common/text.ts';
import { describeValue, isHttpUrl } from '../../common/validate.ts';
import type { HealthCheck } from '../check-run.ts';
import { BodyMismatchError, UnexpectedStatusError } from './errors.ts';

const HTTP_URL_EXPECTED = 'an http: or https: URL';
const httpUrlError = { error: () => HTTP_URL_EXPECTED };
/** An http: or https: URL (the pattern is for the config file's JSON Schema, the refinement for what a URL parser accepts). */
const HTTP_URL = z.string(httpUrlError).regex(/^https?:\/\//i, httpUrlError).refine(isHttpUrl, httpUrlError).register(fieldMeta, { expected: HTTP_URL_EXPECTED });

const STATUS_EXPECTED = 'a status code or a range like "200-399"';
const statusError = { error: () => STATUS_EXPECTED };
const STATUS_RANGE = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/;
const STATUS_CODE = z.number(statusError).multipleOf(1, statusError).min(100, statusError).max(599, statusError);

/** `204`, `"200-399"` or `{ min, max }` (absent: 200–299), as `{ min, max }`. */
const EXPECT_STATUS = z
  .union([STATUS_CODE, z.string(statusError).regex(STATUS_RANGE, statusError), z.strictObject({ min: STATUS_CODE, max: STATUS_CODE }, statusError)], statusError)
  .transform((value, ctx) => {
    const match = typeof value === 'object' ? undefined : STATUS_RANGE.exec(String(value));
    const min = typeof value === 'object' ? value.min : Number(match?.[1]);
    const max = typeof value === 'object' ? value.max : Number(match?.[2] ?? match?.[1]);
    if (!(min >= 100 && max <= 599 && min <= max)) {
      ctx.issues.push({ code: 'custom', message: STATUS_EXPECTED, input: value });
      return z.NEVER;
    }
    return { min, max };
  })
  .register(fieldMeta, { expected: STATUS_EXPECTED })
  .prefault('200-299');

const BODY_MATCH_EXPECTED = 'a non-empty string or a RegExp';

/** The fields an `http` check has wherever it is declared: in code, or as a config file's target. */
export const HTTP_CHECK_FIELDS = {
  /** The URL to GET. Credentials in it (`https://user:pass@host/`) are sent as Basic auth, never shown. */
  url: HTTP_URL,
  /** Accepted status codes: `204`, `"200-399"` or `{ min, max }` (default 200–299). */
  expectStatus: EXPECT_STATUS,
  /** A string the body must contain. */
  bodyMatch: text().optional(),
  /** How much of the body `bodyMatch` reads, in bytes (default 65,536: 1,000 checks in flight hold at most 64 MiB); the rest is not read. */
  maxBodyBytes: number({ min: 1, integer: true }).default(65_536),
  /** Extra request headers. */
  headers: z
    .record(z.string(), z.string({ error: () => 'a string' }), { error: () => 'a mapping of header names to strings' })
    .register(fieldMeta, { expected: 'a mapping of header names to strings' })
    .optional(),
};

/** Options of {@link httpCheck}: {@link HTTP_CHECK_FIELDS}, with `bodyMatch` also a RegExp (its `g` and `y` flags are ignored). */
export const HTTP_CHECK_OPTIONS = options({
  ...HTTP_CHECK_FIELDS,
  bodyMatch: z
    .union([text(), z.instanceof(RegExp)], { error: () => BODY_MATCH_EXPECTED })
    .register(fieldMeta, { expected: BODY_MATCH_EXPECTED })
    .optional(),
});

/** Options of {@link httpCheck}. */
export type HttpCheckOptions = z.input<typeof HTTP_CHECK_OPTIONS>;

/**
 * The URL without its credentials, and the `Authorization` header they make:
 * fetch refuses a URL with credentials, and a URL shown anywhere must not
 * carry a password.
 */
function splitCredentials(url: string): { url: string; authorization: string | undefined } {
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return { url, authorization: undefined };
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(parsed.username);
    password = decodeURIComponent(parsed.password);
  } catch {
    throw new OptionTypeError('EOPTIONTYPE', `conductor-health: option "url" must have percent-encoded credentials, got ${maskSecrets(describeValue(url))}`);
  }
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
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
 * A check that GETs a URL, without following redirects. It sends the W3C
 * `traceparent` of the check's span, so a platform that is traced itself
 * joins the check's trace.
 */
export function httpCheck(options: HttpCheckOptions): HealthCheck {
  const opts = parseOptions(HTTP_CHECK_OPTIONS, 'httpCheck', options);
  const expect = opts.expectStatus;
  const { maxBodyBytes } = opts;
  const { url, authorization } = splitCredentials(opts.url);
  // A pattern with g or y keeps lastIndex between calls: the same body would pass, then fail.
  const bodyMatch = opts.bodyMatch instanceof RegExp ? new RegExp(opts.bodyMatch.source, opts.bodyMatch.flags.replace(/[gy]/g, '')) : opts.bodyMatch;
  const extraHeaders = { ...opts.headers };
  return async (signal) => {
    const headers: Record<string, string> = {
      'user-agent': 'conductor-health',
      ...(authorization === undefined ? {} : { authorization }),
      ...extraHeaders,
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
