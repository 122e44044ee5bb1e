/**
 * Validation pieces shared by every module. A bad value throws a
 * `TypeError` (wrong type, `EOPTIONTYPE`) or `RangeError` (right type, out of
 * range, `EOPTIONRANGE`) whose message names the option and quotes the
 * value, so a typo in a conductor's config is found at start-up rather than
 * as a silent misbehaviour later. Options objects are declared as schemas
 * (option-schema.ts); these are for single values.
 */
import { OptionRangeError, OptionTypeError } from './errors.ts';

/** Longest delay `setTimeout` honours; longer ones fire after 1 ms (with a warning), so time options stop here. */
export const MAX_TIMER_MS = 2_147_483_647;


/** Renders a bad value for an error message: strings quoted, numbers as-is (NaN stays NaN). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  try {
    return Array.isArray(value) ? 'an array' : 'an object';
  } catch {
    // A revoked Proxy throws even on Array.isArray.
    return 'an object';
  }
}

function fail(kind: 'type' | 'range', name: string, value: unknown, expected: string): never {
  const message = `conductor-health: option "${name}" must be ${expected}, got ${describeValue(value)}`;
  throw kind === 'type' ? new OptionTypeError('EOPTIONTYPE', message) : new OptionRangeError('EOPTIONRANGE', message);
}

/** Accepts a finite number within [min, max]; `integer` also demands a whole number. */
export function checkNumber(name: string, value: unknown, range: NumberRange = {}): number {
  if (typeof value !== 'number') fail('type', name, value, describeRange(range));
  if (!inRange(value, range)) fail('range', name, value, describeRange(range));
  return value;
}

/** Bounds of a numeric option; `integer` also demands a whole number. */
export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
  /** An exclusive lower bound. */
  readonly above?: number;
}

export function inRange(value: number, { min = -Infinity, max = Infinity, integer = false, above = -Infinity }: NumberRange): boolean {
  return Number.isFinite(value) && (!integer || Number.isInteger(value)) && value >= min && value > above && value <= max;
}

/** The phrase an error completes "must be …" with, e.g. `an integer >= 1`. */
export function describeRange({ min = -Infinity, max = Infinity, integer = false, above }: NumberRange): string {
  const low = above !== undefined ? ` > ${above}` : min > -Infinity ? ` >= ${min}` : '';
  return `${integer ? 'an integer' : 'a finite number'}${low}${max < Infinity ? ` <= ${max}` : ''}`;
}

/** Accepts a non-empty string. */
export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') fail('type', name, value, 'a non-empty string');
  if (value.trim() === '') fail('range', name, value, 'a non-empty string');
  return value;
}

/** True for a URL with the http: or https: scheme. */
export function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** Longest platform name: it becomes a label value on every series of the platform. */
export const MAX_PLATFORM_NAME_LENGTH = 256;

/**
 * Accepts a platform name: a non-empty string of at most
 * {@link MAX_PLATFORM_NAME_LENGTH} characters. Quotes, newlines and any
 * well-formed Unicode are fine — label values are escaped — but length is
 * bounded so a runaway name cannot blow up every scrape.
 */
export function checkPlatformName(value: unknown): string {
  const name = checkString('platform', value);
  if (name.length > MAX_PLATFORM_NAME_LENGTH) fail('range', 'platform', value, `at most ${MAX_PLATFORM_NAME_LENGTH} characters long`);
  // A lone surrogate cannot be encoded: two such names would render as one label value.
  if (!name.isWellFormed()) fail('range', 'platform', value, 'well-formed Unicode (no lone surrogates)');
  return name;
}

/** Accepts one of a fixed set of strings. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(typeof value === 'string' ? 'range' : 'type', name, value, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return value as T;
}

/** Accepts a function. */
export function checkFunction(name: string, value: unknown): (...args: never[]) => unknown {
  if (typeof value !== 'function') fail('type', name, value, 'a function');
  return value as (...args: never[]) => unknown;
}

/** Checks that `options` is a plain object (or undefined, meaning all defaults). */
export function checkOptionsObject(what: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new OptionTypeError('EOPTIONTYPE', `conductor-health: ${what} options must be an object, got ${describeValue(options)}`);
  }
  return options as Record<string, unknown>;
}

/**
 * The known name closest to `name` (a typo's likely intent), or undefined
 * when none is close: at most a third of the longer name's letters differ
 * (Damerau–Levenshtein distance, case ignored).
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3)) ? best : undefined;
}

/** Edits (insert, delete, replace, swap two neighbours) from `a` to `b`. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j += 1) d[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The error for an unknown option `key` of `what`: names the closest known option when one is close. */
export function unknownOption(what: string, key: string, known: readonly string[]): OptionTypeError {
  const closest = closestName(key, known);
  const hint = closest === undefined ? `known: ${known.join(', ')}` : `did you mean "${closest}"?`;
  return new OptionTypeError('EUNKNOWNOPTION', `conductor-health: unknown ${what} option ${describeValue(key)}; ${hint}`);
}
