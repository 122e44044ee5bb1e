/**
 * The one place that decides what a check's or a call's outcome means: its
 * status, its `error_type`, its short message and the verdict its breaker
 * gets. The monitor classifies every check with it, and the breaker's
 * `recordResult()` / `recordPluginHealth()` classify through it too, so the
 * two cannot disagree on what counts as a success.
 */
import { describeValue } from '../common/validate.ts';
import { boundLine } from '../common/text.ts';
import { captureFailure, errorTypeOf, type Failure } from './failure.ts';
import type { HealthCheckStatus } from './metrics.ts';
import { isPluginHealth, type PluginHealth, type PluginHealthStatus } from './plugin-health.ts';

/** What a check or a call produced, read once. */
export type Outcome =
  /** The breaker refused: nothing ran. */
  | { readonly kind: 'rejected' }
  /** It returned (or resolved to) this value. */
  | { readonly kind: 'value'; readonly value: unknown }
  /** It threw or rejected. */
  | { readonly kind: 'threw'; readonly failure: Failure }
  /** It ran out of time; `error` says whose and how long. */
  | { readonly kind: 'timeout'; readonly error: Error };

/**
 * A value a check returned (or a caller recorded), read once: a
 * PluginHealth is copied to a plain object (its getters may throw, or
 * answer differently, on a later read); reading it throwing is the check
 * failing. Any other object is only described later ("an object", "an
 * array"), so it becomes a plain stand-in of the same kind.
 */
export function captureValue(value: unknown): Outcome {
  try {
    if (typeof value === 'object' && value !== null) {
      const copy = { status: (value as PluginHealth).status, message: (value as PluginHealth).message };
      if (isPluginHealth(copy)) return { kind: 'value', value: typeof copy.message === 'string' ? copy : { status: copy.status } };
      return { kind: 'value', value: Array.isArray(value) ? [] : copy };
    }
    return { kind: 'value', value };
  } catch (error) {
    return { kind: 'threw', failure: captureFailure(error) };
  }
}

/**
 * What the breaker takes from an outcome: a success, a failure, or a release
 * (no verdict: nothing counted, a half-open trial goes to the next caller).
 * A rejected outcome has none: the breaker allowed no call.
 */
export type Verdict = 'success' | 'failure' | 'release';

/** What an {@link Outcome} means. */
export interface Classification {
  status: Exclude<HealthCheckStatus, 'cancelled'>;
  /** The plugin's own status, when the outcome was a {@link PluginHealth}. */
  health?: PluginHealthStatus;
  /** The `plugin_failure_total` error type, for failures and timeouts. */
  errorType?: string;
  /** A short, single-line reason for a failure or timeout. */
  message?: string;
  /** Undefined only for a rejected outcome. */
  verdict: Verdict | undefined;
  /** For a failure verdict: what the breaker is handed (`errorTypeOf(cause)` is `errorType`). */
  cause?: unknown;
}

const SUCCESS: Classification = Object.freeze({ status: 'success', verdict: 'success' });
const REJECTED: Classification = Object.freeze({ status: 'rejected', verdict: undefined });

/**
 * The rule. `true` or nothing: success. A {@link PluginHealth}: `healthy` and
 * `degraded` succeed, `unknown` succeeds for the report but releases the
 * breaker, `unhealthy` fails (`unhealthy`). `false`: failure (`check_failed`).
 * Any other value: failure (`invalid_result`): a check that returns garbage
 * is not a healthy one. A throw: failure under its error type, released when
 * the process itself ran out of a resource. A timeout: `timeout`.
 */
export function classifyOutcome(outcome: Outcome): Classification {
  switch (outcome.kind) {
    case 'rejected':
      return REJECTED;
    case 'timeout':
      return { status: 'timeout', errorType: errorTypeOf(outcome.error), message: outcome.error.message, verdict: 'failure', cause: outcome.error };
    case 'threw': {
      const { errorType, message, error, processResource } = outcome.failure;
      return processResource === undefined
        ? { status: 'failure', errorType, message, verdict: 'failure', cause: error }
        : { status: 'failure', errorType, message, verdict: 'release' };
    }
    case 'value':
      return classifyValue(outcome.value);
  }
}

function classifyValue(value: unknown): Classification {
  if (value === true || value === undefined) return SUCCESS;
  if (isPluginHealth(value)) {
    const health = value.status;
    if (health === 'unhealthy') {
      const message = boundLine(typeof value.message === 'string' ? value.message : 'plugin reported unhealthy');
      return { status: 'failure', health, errorType: 'unhealthy', message, verdict: 'failure', cause: value };
    }
    return { status: 'success', health, verdict: health === 'unknown' ? 'release' : 'success' };
  }
  const [errorType, message] =
    value === false ? ['check_failed', 'check returned false'] : ['invalid_result', `check returned ${describeValue(value)}; expected a boolean, nothing or a PluginHealth`];
  // An Error carrying the type as its code: errorTypeOf() reads it back unchanged.
  return { status: 'failure', errorType, message, verdict: 'failure', cause: Object.assign(new Error(message), { code: errorType }) };
}
