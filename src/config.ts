/**
 * Defaults and validation shared by every module. A bad value throws a
 * `TypeError` (wrong type) or `RangeError` (right type, out of range) whose
 * message names the option and quotes the value, so a typo in a conductor's
 * config is found at start-up rather than as a silent misbehaviour later.
 */

/** Longest delay `setTimeout` honours; longer ones fire after 1 ms (with a warning), so time options stop here. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Circuit-breaker defaults: open after 3 consecutive failures, try again after 30 s, a trial settles within 30 s. */
export const BREAKER_DEFAULTS = Object.freeze({
  failMax: 3,
  resetTimeoutMs: 30_000,
  halfOpenTimeoutMs: 30_000,
  /** 0 means `execute()` puts no timeout of its own on a call. */
  timeoutMs: 0,
  /** Distinct `error_type` label values kept per platform before `other`. */
  maxErrorTypes: 10,
});

/**
 * The breaker settings a conductor may tune, and the range of each: checked
 * alike wherever they are given (breaker options, the environment, the
 * monitor's `breaker` option, `register()`, a config file).
 */
export const BREAKER_SETTINGS = Object.freeze({
  failMax: { min: 1, integer: true },
  resetTimeoutMs: { min: 0, max: MAX_TIMER_MS },
  // 0 would mean "wait for ever" for a trial: the wedge the lease exists to prevent.
  halfOpenTimeoutMs: { min: 1, max: MAX_TIMER_MS },
} as const);

/** The tunable breaker settings, as the monitor and a config file pass them on. */
export type BreakerSettings = { -readonly [K in keyof typeof BREAKER_SETTINGS]?: number };

/** The names of {@link BREAKER_SETTINGS}. */
export const BREAKER_SETTING_KEYS = Object.freeze(Object.keys(BREAKER_SETTINGS) as (keyof typeof BREAKER_SETTINGS)[]);

/** Health-monitor defaults: every platform every 5 s, each check bounded by 5 s. */
export const MONITOR_DEFAULTS = Object.freeze({
  intervalMs: 5_000,
  timeoutMs: 5_000,
  maxConcurrent: 1_000,
  stopTimeoutMs: 5_000,
  // A pass overdue this long is a stuck process, not a busy one: kubelet restarts it after its failureThreshold.
  stallMs: 30_000,
  historySize: 30,
  transitionHistorySize: 100,
});

/**
 * Environment variables that override the defaults (but not values the
 * conductor passes explicitly). Each maps to the option of the same meaning.
 */
export const ENV_OVERRIDES = Object.freeze({
  CONDUCTOR_HEALTH_FAIL_MAX: 'failMax',
  CONDUCTOR_HEALTH_RESET_TIMEOUT_MS: 'resetTimeoutMs',
  CONDUCTOR_HEALTH_HALF_OPEN_TIMEOUT_MS: 'halfOpenTimeoutMs',
  CONDUCTOR_HEALTH_INTERVAL_MS: 'intervalMs',
  CONDUCTOR_HEALTH_TIMEOUT_MS: 'timeoutMs',
  CONDUCTOR_HEALTH_MAX_CONCURRENT: 'maxConcurrent',
} as const);

/** Renders a bad value for an error message: strings quoted, numbers as-is (NaN stays NaN). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

function fail(kind: 'type' | 'range', name: string, value: unknown, expected: string): never {
  const message = `conductor-health: option "${name}" must be ${expected}, got ${describeValue(value)}`;
  throw kind === 'type' ? new TypeError(message) : new RangeError(message);
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
}

function inRange(value: number, { min = -Infinity, max = Infinity, integer = false }: NumberRange): boolean {
  return Number.isFinite(value) && (!integer || Number.isInteger(value)) && value >= min && value <= max;
}

function describeRange({ min = -Infinity, max = Infinity, integer = false }: NumberRange): string {
  return `${integer ? 'an integer' : 'a finite number'}${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`;
}

/** Accepts a non-empty string. */
export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') fail('type', name, value, 'a non-empty string');
  if (value.trim() === '') fail('range', name, value, 'a non-empty string');
  return value;
}

/** Accepts undefined, or an object with the named methods (a meter, tracer, logger, metrics). */
export function checkMethods(name: string, value: unknown, methods: readonly string[]): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function')) {
    throw new TypeError(`conductor-health: option "${name}" must be an object with ${methods.join(', ')} methods, got ${describeValue(value)}`);
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

/** Throws if `options` has a key outside `known`: a misspelt option must not be ignored. */
export function checkKnownKeys(what: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`conductor-health: unknown ${what} option "${key}" (known: ${known.join(', ')})`);
    }
  }
}

/** Checks that `options` is a plain object (or undefined, meaning all defaults). */
export function checkOptionsObject(what: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`conductor-health: ${what} options must be an object, got ${describeValue(options)}`);
  }
  return options as Record<string, unknown>;
}

/**
 * Checks the breaker settings in `given` (absent ones stay absent), each
 * under `prefix` + its name, so the error says where the value came from.
 */
export function checkBreakerSettings(given: Record<string, unknown>, prefix = ''): BreakerSettings {
  const out: BreakerSettings = {};
  for (const key of BREAKER_SETTING_KEYS) {
    if (given[key] !== undefined) out[key] = checkNumber(`${prefix}${key}`, given[key], BREAKER_SETTINGS[key]);
  }
  return out;
}

/** The environment variable that overrides `option`, if any. */
export function envVariableOf(option: string): string | undefined {
  return Object.entries(ENV_OVERRIDES).find(([, o]) => o === option)?.[0];
}

/** A number as a person writes one: `5`, `-1.5`, `2500`; not `0x10`, `1e3`, `0b11` or `Infinity`, which `Number()` would take. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * Reads a numeric environment variable. Unset or blank means "not given"
 * (undefined); anything else must be a plain decimal within `range`, or a
 * RangeError names the variable and quotes its value.
 */
export function envNumber(variable: string, range: NumberRange = {}, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw.trim());
  if (!DECIMAL.test(raw.trim()) || !inRange(value, range)) {
    throw new RangeError(`conductor-health: environment variable ${variable} must be ${describeRange(range)}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/**
 * A numeric option, from the one place every option with several sources is
 * resolved: the value given in code (or a config file) wins over its
 * environment variable ({@link ENV_OVERRIDES}), which wins over `fallback`.
 */
export function numberSetting(option: string, given: unknown, fallback: number, range: NumberRange = {}): number {
  if (given !== undefined) return checkNumber(option, given, range);
  const variable = envVariableOf(option);
  return (variable === undefined ? undefined : envNumber(variable, range)) ?? fallback;
}
