/**
 * What a failed check or call threw, read once. Everything the monitor and
 * the breaker later need (the `error_type`, the one-line message, the span's
 * exception) is read from the thrown value here, field by field, each read
 * guarded: a getter that throws on its second read, a revoked Proxy or a
 * hostile `prepareStackTrace` costs that one field, never the schedule or
 * the caller. Afterwards only the plain copy travels on.
 */
import { isConductorHealthError } from '../common/errors.ts';
import { describeValue } from '../common/validate.ts';
import { boundLine, boundStack } from '../common/text.ts';
import { sanitizeErrorType } from './metrics.ts';
import { isPluginHealth } from './plugin-health.ts';

/** A plain, bounded copy of a failure: what `classifyOutcome()` reads, spans record and the breaker counts. */
export interface Failure {
  /** The `plugin_failure_total` error type. */
  errorType: string;
  /** One line, at most 200 characters. */
  message: string;
  /** What the span records: bounded name, message and stack. */
  exception: { name: string; message: string; stack?: string };
  /** An Error carrying only the above, for the breaker (`errorTypeOf(error)` is `errorType`). */
  error: Error;
  /** Set when the process itself ran out of a resource: not the platform's fault. */
  processResource?: ProcessResourceCode;
}

/**
 * Errors that say the process ran out of something (file descriptors, the
 * system's file table, memory). A check failing with one of them says
 * nothing about the platform, so it is not counted against its breaker.
 */
const PROCESS_RESOURCE_CODES = ['EMFILE', 'ENFILE', 'ENOMEM'] as const;
export type ProcessResourceCode = (typeof PROCESS_RESOURCE_CODES)[number];

/**
 * An error and its causes, outermost first: fetch wraps what went wrong
 * (`connect ECONNREFUSED …`) in a `TypeError: fetch failed`, whose `cause`
 * says it. A few levels are enough (fetch's error → undici's → the socket's),
 * and a cause that cannot be read ends the chain.
 */
function causeChain(thrown: unknown): object[] {
  const chain: object[] = [];
  for (let error = thrown; chain.length < 4 && typeof error === 'object' && error !== null && !chain.includes(error); ) {
    chain.push(error);
    error = read(() => (error as { cause?: unknown }).cause, undefined);
  }
  return chain;
}

/** The process-resource code of an error or of its causes, if any. */
function processResourceCode(thrown: unknown): ProcessResourceCode | undefined {
  for (const error of causeChain(thrown)) {
    const code = read(() => (error as { code?: unknown }).code, undefined);
    if ((PROCESS_RESOURCE_CODES as readonly unknown[]).includes(code)) return code as ProcessResourceCode;
  }
  return undefined;
}

/** An Error's own message, or its name when it has none. */
function messageOf(error: Error): string {
  const message: unknown = error.message;
  return typeof message === 'string' && message !== '' ? message : String(error.name);
}

const UNREADABLE = 'the check threw a value that cannot be read';

function read<T>(get: () => T, fallback: T): T {
  try {
    return get();
  } catch {
    return fallback;
  }
}

/** The first line of an error's message, bounded: spans and reports get this, never a stack. */
export function shortMessage(error: unknown): string {
  return read(() => {
    if (error instanceof Error) {
      // The causes' messages follow, each once: `fetch failed: connect ECONNREFUSED 127.0.0.1:8080`.
      const parts: string[] = [];
      for (const cause of causeChain(error)) {
        const part = read(() => (cause instanceof Error ? messageOf(cause) : undefined), undefined);
        if (part !== undefined && !parts.some((p) => p.includes(part))) parts.push(part);
      }
      return boundLine(parts.join(': '));
    }
    if (typeof error === 'string') return boundLine(error);
    return boundLine(`threw ${describeValue(error)}`);
  }, UNREADABLE);
}

/** True for an Error (a revoked Proxy, on which `instanceof` throws, is not one). */
export function isError(value: unknown): boolean {
  return read(() => value instanceof Error, false);
}

/** Reads a thrown value once into a {@link Failure}. */
export function captureFailure(thrown: unknown): Failure {
  const errorType = read(() => errorTypeOf(thrown), 'other');
  const message = shortMessage(thrown);
  const isError = read(() => thrown instanceof Error, false);
  const name = isError ? read(() => boundLine(String((thrown as Error).name)), 'Error') : errorType;
  const stack = isError ? read(() => (typeof (thrown as Error).stack === 'string' ? boundStack((thrown as Error).stack!) : undefined), undefined) : undefined;
  const processResource = read(() => processResourceCode(thrown), undefined);
  const error = Object.assign(new Error(message), { name, code: errorType });
  return {
    errorType: processResource ?? errorType,
    message,
    exception: { name, message, ...(stack === undefined ? {} : { stack }) },
    error,
    ...(processResource === undefined ? {} : { processResource }),
  };
}

/**
 * The `error_type` label for a failure: a string `code` (`ECONNREFUSED`), its causes' when it has none,
 * `timeout` for timeouts, an Error's class name (`TypeError`), `unhealthy`
 * for an unhealthy PluginHealth, `other` for anything else. Never a
 * message: label values must stay few. Never throws: a getter that throws,
 * or a revoked Proxy, gives `other`.
 */
export function errorTypeOf(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'other';
  return read(() => readErrorType(error), 'other');
}

function readErrorType(error: object): string {
  const { code, name } = error as { code?: unknown; name?: unknown };
  // AbortSignal.timeout() rejects with a DOMException named TimeoutError, as this package's TimeoutError is named.
  if (name === 'TimeoutError' && error instanceof Error) return 'timeout';
  if (isConductorHealthError(error)) {
    const ours = (error as { errorType?: unknown }).errorType;
    if (typeof ours === 'string') return ours;
  }
  if (typeof code === 'string' && code !== '') return toLabel(code);
  // No code of its own: a cause's says what went wrong (fetch's `TypeError` wraps `ECONNREFUSED`).
  for (const cause of causeChain(error).slice(1)) {
    const causeCode = read(() => (cause as { code?: unknown }).code, undefined);
    if (typeof causeCode === 'string' && causeCode !== '') return toLabel(causeCode);
  }
  if (error instanceof Error) {
    // Every DOMException shares one class; its name (AbortError, ...) is the informative part.
    return toLabel(error instanceof DOMException ? String(name) : String(error.constructor?.name ?? name));
  }
  if (isPluginHealth(error) && error.status === 'unhealthy') return 'unhealthy';
  return 'other';
}

const LABEL_SAFE = /^[A-Za-z0-9_]{1,40}$/;
// Most codes and class names are label-safe already; skip the two regex replacements then.
const toLabel = (value: string): string => (LABEL_SAFE.test(value) ? value : sanitizeErrorType(value));
