/**
 * The one reader of environment variables. Every variable this package
 * honours is read here, with one rule: unset or blank means "not given";
 * anything else must parse, or an `EENVIRONMENT` RangeError names the
 * variable and quotes its value. A value given in code (or a config file)
 * wins over the variable, which wins over the default: callers read a
 * variable only for a setting that was not given.
 */
import { OptionRangeError } from './errors.ts';
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
  const shown = raw === undefined ? 'nothing' : JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
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
