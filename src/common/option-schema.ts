/**
 * The pieces every options schema is built from, and the one parser that
 * turns a schema's first complaint into the package's error: a TypeError
 * (wrong type) or RangeError (right type, out of range) naming the option and
 * quoting the value. Each field says once what it expects; that sentence is
 * the error message, the range is the JSON Schema's, the environment
 * variable (if any) is read here.
 *
 * zod 4 rather than valibot: validation runs only at construction, so speed
 * and tree-shaking matter little on a Node server, while `z.toJSONSchema`
 * (built in, no second package) gives the config file's JSON Schema, and
 * per-check `error` functions keep today's messages word for word.
 */
import type { Meter, Tracer } from '@opentelemetry/api';
import * as z from 'zod';
import type { Logger } from './logger.ts';
import { envNumber, envText, type Environment } from './env.ts';
import { isConductorHealthError, OptionRangeError, OptionTypeError } from './errors.ts';
import { boundLine, maskSecrets } from './text.ts';
import { checkOptionsObject, closestName, describeRange, describeValue, unknownOption, type NumberRange } from './validate.ts';

/** What a field adds to its zod type: the phrase errors use, and what may stand in for a missing value. */
export interface FieldMeta {
  /** Completes "must be …", e.g. `an integer >= 1`. */
  readonly expected: string;
  readonly range?: NumberRange;
}

/** Every field built here, with its {@link FieldMeta}. */
export const fieldMeta = z.registry<FieldMeta>();

/** Fields of one options object that an environment variable may set, keyed by the field as it sits in that object. */
export const fieldEnv = z.registry<{ env: string }>();

/** Marks `field` (as it sits in one options object) as settable by the environment variable `env`. */
export function fromEnv<T extends z.ZodType>(field: T, env: string): T {
  fieldEnv.add(field, { env });
  return field;
}

/** A finite number within `range` (`above`: an exclusive lower bound). */
export function number(range: NumberRange = {}) {
  const expected = describeRange(range);
  const error = (): string => expected;
  // Not z.int(): it stops at 2^53, where Number.isInteger (the rule before zod, and the config file's) does not.
  let schema = z.number({ error });
  if (range.integer) schema = schema.multipleOf(1, { error });
  if (range.min !== undefined) schema = schema.min(range.min, { error });
  if (range.above !== undefined) schema = schema.gt(range.above, { error });
  if (range.max !== undefined) schema = schema.max(range.max, { error });
  return schema.register(fieldMeta, { expected, range });
}

/** A string with something other than white space in it. */
export function text() {
  const expected = 'a non-empty string';
  return z.string({ error: () => expected }).regex(/\S/, { error: () => expected }).register(fieldMeta, { expected });
}

/** `true` or `false`. */
export function boolean() {
  return z.boolean({ error: () => 'a boolean' }).register(fieldMeta, { expected: 'a boolean' });
}

/** An object with the named methods: a meter, tracer, logger, metrics. */
export function withMethods<T>(methods: readonly string[]) {
  const expected = `an object with ${methods.join(', ')} methods`;
  return z
    .custom<T>((value) => typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function'), {
      error: () => expected,
    })
    .register(fieldMeta, { expected });
}

/** A Meter, for the instruments. */
export function meter() {
  return withMethods<Meter>(['createCounter', 'createGauge', 'createHistogram']);
}

/** A Tracer, for spans. */
export function tracer() {
  return withMethods<Tracer>(['startSpan']);
}

/** A pino-like logger (see `Logger`). */
export function logger() {
  return withMethods<Logger>(['debug', 'info', 'warn', 'error']);
}

/** Shape of an options object: every field optional, unknown keys refused. */
export function options<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: () => 'an object' });
}

type AnyObject = z.ZodObject<z.ZodRawShape>;

/** A field as given, before defaults: a default becomes optional (the default stays in the JSON Schema, as documentation). */
type Given<F> = F extends z.ZodDefault<infer I> ? z.ZodOptional<I> : F;

/**
 * The same options without their defaults, for where they are passed on
 * rather than used (a per-platform override, a config file): a default
 * filled in there would hide the environment variable the receiver reads.
 */
export function given<S extends z.ZodRawShape>(schema: z.ZodObject<S>): z.ZodObject<{ [K in keyof S]: Given<S[K]> }, z.core.$strict> {
  const shape = Object.fromEntries(
    Object.entries(schema.shape as z.ZodRawShape).map(([key, field]) => [
      key,
      field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType).optional().meta({ default: field.def.defaultValue }) : field,
    ]),
  );
  return options(shape) as unknown as z.ZodObject<{ [K in keyof S]: Given<S[K]> }, z.core.$strict>;
}

/** Unwraps optional/default wrappers to the field's own schema (where its meta lives). */
export function inner(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
  return s;
}

/**
 * The schema at `path` inside `root`, for the known keys of an object an
 * unknown key was found in and for a field's own words. Given the value, a
 * union is followed into the branch the value takes (a target's `type`).
 */
export function schemaAt(root: z.ZodType, path: readonly PropertyKey[], value?: unknown): z.ZodType | undefined {
  let s: z.ZodType | undefined = branchOf(inner(root), value);
  let v = value;
  for (const key of path) {
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(key)];
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else return undefined;
    v = valueAt(v, [key]);
    if (s) s = branchOf(inner(s), v);
  }
  return s;
}

/** The branch of a union that `value` takes: by its discriminator, else the object branch for an object; other schemas as they are. */
function branchOf(schema: z.ZodType, value: unknown): z.ZodType {
  if (schema instanceof z.ZodDiscriminatedUnion) {
    const key = schema.def.discriminator;
    const tag = valueAt(value, [key]);
    const match = (schema.options as z.ZodType[]).find((o) => o instanceof z.ZodObject && (o.shape as Record<string, z.ZodType>)[key]?.safeParse(tag).success);
    return match ?? schema;
  }
  if (schema instanceof z.ZodUnion && typeof value === 'object' && value !== null) {
    return (schema.options as z.ZodType[]).map(inner).find((o) => o instanceof z.ZodObject) ?? schema;
  }
  return schema;
}

/** `targets[0].breaker.failMax` from zod's path. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** The value at `path` inside `root` (what the error quotes). */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) v = v === null || typeof v !== 'object' ? undefined : (v as Record<PropertyKey, unknown>)[key];
  return v;
}

/** zod's own message stands here until {@link findProblem} puts the package's words in its place. */
const ZOD_DEFAULT = '\u0000zod';

/**
 * The issue to report. An unknown key comes first, wherever it is: a typo
 * (`nme:`) is the cause of the missing field zod also reports (`name`).
 * Otherwise the first issue, except that a union's own issue gives way to
 * its branch that got furthest (a bad `resources.threshold` names that
 * field, not `resources`), unless the union is a field that words itself
 * (`expectStatus`: `{}` is not a status, whatever its missing `min` says).
 */
function firstIssue(error: z.ZodError, schema: z.ZodType, value: unknown): z.core.$ZodIssue {
  const unknown = error.issues.find((i) => i.code === 'unrecognized_keys');
  let issue = unknown ?? error.issues[0]!;
  while (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const field = schemaAt(schema, issue.path, value);
    if (field && fieldMeta.has(field)) break;
    const branches = issue.errors.map((branch) => branch.find((i) => i.code === 'unrecognized_keys') ?? branch[0]);
    const deepest = branches.filter((i): i is z.core.$ZodIssue => i !== undefined).sort((a, b) => b.path.length - a.path.length)[0];
    if (!deepest || deepest.path.length === 0) break;
    issue = { ...deepest, path: [...issue.path, ...deepest.path] };
  }
  return issue;
}

/** Whether the value is of the wrong kind altogether (a TypeError) rather than out of range (a RangeError). */
function isTypeProblem(issue: z.core.$ZodIssue, value: unknown): boolean {
  if (issue.code === 'invalid_type') return !(typeof value === 'number' && (issue.expected === 'number' || issue.expected === 'int'));
  if (issue.code === 'invalid_value') return typeof value !== 'string';
  return issue.code === 'custom' || issue.code === 'unrecognized_keys' || issue.code === 'invalid_union';
}

const KINDS: Record<string, string> = { number: 'a finite number', string: 'a string', boolean: 'a boolean', object: 'a mapping', array: 'a list', function: 'a function' };

/** What a value must be, in the package's words, for an issue no field of ours words itself. */
function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return KINDS[issue.expected] ?? `a ${issue.expected}`;
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      const limit = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      if (issue.origin === 'number') return `a finite number ${bound} ${String(limit)}`;
      return `${issue.origin === 'array' ? 'a list' : 'a string'} of ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(limit)} ${issue.origin === 'array' ? 'items' : 'characters'}`;
    }
    case 'not_multiple_of':
      return `a multiple of ${String(issue.divisor)}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return 'a value of the documented form';
  }
}

/** What is wrong with a value a schema refused. */
export type Problem =
  /** A key no field declares; `closest` is the known key it most likely meant. */
  | { kind: 'unknown'; path: PropertyKey[]; key: string; known: string[]; closest: string | undefined }
  /** A field's value: `expected` completes "must be …"; `typeError` tells a TypeError from a RangeError. */
  | { kind: 'value'; path: PropertyKey[]; expected: string; value: unknown; typeError: boolean };

/**
 * Validates `value` against `schema`; on failure, the one problem to report
 * in the package's own words. The options' parser and the config file
 * reader both word their errors from it.
 */
export function findProblem<S extends z.ZodType>(schema: S, value: unknown): { data: z.output<S> } | { problem: Problem } {
  const result = schema.safeParse(value, { error: () => ZOD_DEFAULT });
  if (result.success) return { data: result.data };
  const issue = firstIssue(result.error, schema, value);
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys((schemaAt(schema, issue.path, value) as AnyObject | undefined)?.shape ?? {});
    const key = issue.keys[0]!;
    return { problem: { kind: 'unknown', path: issue.path, key, known, closest: closestName(key, known) } };
  }
  const got = valueAt(value, issue.path);
  const field = schemaAt(schema, issue.path, value);
  const expected = issue.message !== ZOD_DEFAULT ? issue.message : ((field && fieldMeta.get(field)?.expected) ?? expectedOf(issue));
  return { problem: { kind: 'value', path: issue.path, expected, value: got, typeError: isTypeProblem(issue, got) } };
}

/**
 * Validates `given` against `schema`, after filling each absent field that
 * names an environment variable from it (code wins, then the environment,
 * then the schema's default). Throws the package's TypeError
 * (`EOPTIONTYPE`, `EUNKNOWNOPTION`) or RangeError (`EOPTIONRANGE`) for the
 * first problem; returns the parsed options, defaults applied.
 */
export function parseOptions<S extends AnyObject>(schema: S, what: string, given: unknown, env: Environment = process.env): z.output<S> {
  const opts = readOptions(what, given);
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const variable = fieldEnv.get(field)?.env;
    if (opts[key] !== undefined || variable === undefined) continue;
    // A number field reads a plain decimal; any other reads the variable's text.
    const range = fieldMeta.get(inner(field))?.range;
    const value = range === undefined ? envText(variable, env) : envNumber(variable, range, env);
    if (value !== undefined) opts[key] = value;
  }
  const found = findProblem(schema, opts);
  if ('data' in found) return found.data;
  const { problem } = found;
  if (problem.kind === 'unknown') throw unknownOption(problem.path.length > 0 ? formatPath(problem.path) : what, problem.key, problem.known);
  // A URL quoted back (an endpoint, a check's URL) shows no password.
  const message = `conductor-health: option "${formatPath(problem.path)}" must be ${problem.expected}, got ${maskSecrets(describeValue(problem.value))}`;
  throw problem.typeError ? new OptionTypeError('EOPTIONTYPE', message) : new OptionRangeError('EOPTIONRANGE', message);
}

/** A plain copy of an options object, each value read once; a getter that throws or a revoked Proxy is the caller's error, worded as ours. */
function readOptions(what: string, given: unknown): Record<string, unknown> {
  try {
    return { ...checkOptionsObject(what, given) };
  } catch (error) {
    if (isConductorHealthError(error)) throw error;
    throw new OptionTypeError('EOPTIONTYPE', `conductor-health: ${what} options could not be read: ${maskSecrets(boundLine(String((error as Error)?.message ?? error)))}`);
  }
}

/** The defaults a schema declares, e.g. for `BREAKER_DEFAULTS`. */
export function defaultsOf<S extends AnyObject>(schema: S): z.output<S> {
  return Object.freeze(schema.parse({})) as z.output<S>;
}

/** The environment variables the schemas' fields name, each with its option. */
export function envVariablesOf(...schemas: AnyObject[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const schema of schemas) {
    for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      const env = fieldEnv.get(field)?.env;
      if (env !== undefined) out[env] = key;
    }
  }
  return out;
}
