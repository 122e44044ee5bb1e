/**
 * The one reader of environment variables. Every variable this package
 * honours is read here, with one rule: unset or blank means "not given";
 * anything else must parse, or an `EENVIRONMENT` RangeError names the
 * variable and quotes its value. A value given in code (or a config file)
 * wins over the variable, which wins over the default: callers read a
 * variable only for a setting that was not given.
 */
import { OptionRangeError } from './errors.ts';
import { maskSecrets, printable } from './text.ts';
import { describeRange, inRange, type NumberRange } from './validate.ts';

/** The environment as this package reads it; tests pass their own. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** A number as a person writes one: `5`, `-1.5`, `2500`; not `0x10`, `1e3`, `0b11` or `Infinity`, which `Number()` would take. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** The variable's value as set, or undefined when unset or blank. */
export function envRaw(name: string, env: Environment = process.env): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw;
}

/** The refusal of a variable's value: what it must be, and what it is. */
export function envError(name: string, expected: string, raw: string | undefined): OptionRangeError {
  // Masked before the cut, so a cut never leaves half a password shown.
  const masked = raw === undefined ? undefined : maskSecrets(raw);
  const shown = masked === undefined ? 'nothing' : JSON.stringify(masked.length > 80 ? `${masked.slice(0, 80)}…` : masked);
  return new OptionRangeError('EENVIRONMENT', `conductor-health: environment variable ${name} must be ${expected}, got ${shown}`);
}

/** The variable's value with white space trimmed, or undefined when unset or blank. */
export function envText(name: string, env: Environment = process.env): string | undefined {
  return envRaw(name, env)?.trim();
}

/** A plain decimal within `range` (`5000`, `2.5`), or undefined when unset or blank. */
export function envNumber(name: string, range: NumberRange = {}, env: Environment = process.env): number | undefined {
  const raw = envRaw(name, env);
  if (raw === undefined) return undefined;
  const value = Number(raw.trim());
  if (!DECIMAL.test(raw.trim()) || !inRange(value, range)) throw envError(name, describeRange(range), raw);
  return value;
}

/** A ratio from 0 to 1 in decimal (`0.01`, `1`), or undefined when unset or blank. */
export function envRatio(name: string, env: Environment = process.env): number | undefined {
  const raw = envRaw(name, env);
  if (raw === undefined) return undefined;
  if (!/^(0|1|0?\.\d+|1\.0*)$/.test(raw.trim())) throw envError(name, 'a ratio from 0 to 1 (such as 0.01)', raw);
  return Number(raw.trim());
}

/**
 * One of `allowed`, matched without regard to case (the OpenTelemetry
 * specification's rule for enum values: `HTTP/PROTOBUF` is `http/protobuf`);
 * returns the allowed spelling, or undefined when unset or blank.
 */
export function envOneOf<T extends string>(name: string, allowed: readonly T[], env: Environment = process.env): T | undefined {
  const raw = envRaw(name, env);
  if (raw === undefined) return undefined;
  const value = raw.trim().toLowerCase();
  const match = allowed.find((a) => a.toLowerCase() === value);
  if (match === undefined) throw envError(name, `one of ${allowed.join(', ')}`, raw);
  return match;
}

/** `true` or `false` in any case, or undefined when unset or blank. */
export function envBoolean(name: string, env: Environment = process.env): boolean | undefined {
  const value = envOneOf(name, ['true', 'false'] as const, env);
  return value === undefined ? undefined : value === 'true';
}

/** What a headers variable must hold, with an example to copy. */
const HEADERS_EXPECTED = 'comma-separated key=value pairs, percent-encoded (such as "x-tenant=acme,authorization=Bearer%20abc")';
/** RFC 9110's token: what an HTTP header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Controls an HTTP header value cannot carry: CR and LF would split the request, NUL and the rest make Node refuse it. */
const HEADER_CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** Past Latin-1: Node writes header values one byte per character and refuses these. */
const BEYOND_LATIN1 = /[^\u0000-\u00ff]/;

/** A further rule a header must follow (a transport's own), as the problem it finds in `key`/`value`, or undefined. */
export type HeaderRule = (key: string, value: string) => string | undefined;

/**
 * HTTP headers as `OTEL_EXPORTER_OTLP_HEADERS` writes them: `key=value` pairs
 * separated by commas, each side percent-encoded (the W3C Baggage format
 * without its `;` metadata, so a `;` is part of the value); white space around
 * a key or value is dropped, an empty entry skipped, a later key wins. Returns
 * undefined when unset or blank.
 *
 * Anything a request could not carry is refused here, at start, rather than
 * silently dropped or failing every export later: an entry that is not
 * key=value, a bad percent-encoding, a name that is not an HTTP token, a value
 * with a control character (CR, LF, NUL…) or past Latin-1, and what `rule`
 * finds. The error names the variable, the entry and the way out, and shows
 * the variable with every value masked: a header often carries a secret.
 */
export function envHeaders(name: string, env: Environment = process.env, rule?: HeaderRule): Record<string, string> | undefined {
  const raw = envRaw(name, env);
  if (raw === undefined) return undefined;
  const refuse = (problem: string) =>
    new OptionRangeError('EENVIRONMENT', `conductor-health: environment variable ${name} must be ${HEADERS_EXPECTED}, got ${maskHeaderValues(raw)} (values masked): ${problem}`);
  const headers: Record<string, string> = {};
  const entries = raw.split(',');
  for (const [i, entry] of entries.entries()) {
    if (entry.trim() === '') continue;
    const equals = entry.indexOf('=');
    const rawKey = entry.slice(0, Math.max(equals, 0)).trim();
    if (rawKey === '') {
      throw refuse(`entry ${i + 1} of ${entries.length} is not key=value; give each header as name=value, and write a "," inside a value as %2C`);
    }
    const key = percentDecoded(rawKey);
    const shownKey = JSON.stringify(printableKey(key ?? rawKey));
    if (key === undefined) throw refuse(`the name ${shownKey} is not valid percent-encoding; write a literal "%" as %25`);
    if (!HEADER_NAME.test(key)) throw refuse(`the name ${shownKey} is not an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~ only); rename it`);
    const value = percentDecoded(entry.slice(equals + 1).trim());
    if (value === undefined) {
      throw refuse(`the value of ${shownKey} is not valid percent-encoding (a "%" starts two hex digits of UTF-8); write a literal "%" as %25`);
    }
    if (HEADER_CONTROL.test(value)) {
      throw refuse(`the value of ${shownKey} holds a control character (CR, LF, NUL or another), which a header cannot carry; remove it`);
    }
    if (BEYOND_LATIN1.test(value)) {
      throw refuse(`the value of ${shownKey} holds a character past U+00FF, which a header cannot carry; remove it`);
    }
    const problem = rule?.(key, value);
    if (problem !== undefined) throw refuse(problem);
    headers[key] = value;
  }
  return headers;
}

/** `text` percent-decoded, or undefined when it is not valid percent-encoding of UTF-8. */
function percentDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** A header name as an error may show it: printable, at most 40 characters. */
function printableKey(key: string): string {
  const shown = printable(key);
  return shown.length > 40 ? `${shown.slice(0, 40)}…` : shown;
}

/** The variable as an error may show it: each entry's key kept, every value `***`, quoted and cut at 80 characters. */
function maskHeaderValues(raw: string): string {
  const masked = raw
    .split(',')
    .map((entry) => {
      if (entry.trim() === '') return entry;
      const equals = entry.indexOf('=');
      // An entry with no "=" may be a bare secret (a token missing its key): mask all of it.
      return equals <= 0 ? '***' : `${printableKey(entry.slice(0, equals).trim())}=***`;
    })
    .join(',');
  return JSON.stringify(masked.length > 80 ? `${masked.slice(0, 80)}…` : masked);
}
