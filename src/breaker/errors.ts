/** The errors a breaker's `execute()` rejects with, besides a call's own and its `TimeoutError`. */
import { ConductorHealthError, OptionTypeError } from '../common/errors.ts';
import { isThenable } from '../common/promise.ts';
import { describeValue } from '../common/validate.ts';
import type { BreakerState } from '../core/breaker-state.ts';

// Rejections come in bursts with the same time; formatting a date costs a tenth of the whole rejection.
let lastIso: [number | undefined, string] = [undefined, 'an unknown time'];
function isoTime(ms: number | undefined): string {
  if (ms !== lastIso[0]) lastIso = [ms, ms === undefined ? 'an unknown time' : new Date(ms).toISOString()];
  return lastIso[1];
}

/** `execute()` rejected without running the function (code `ECIRCUITOPEN`): the breaker is open, or its half-open trial is taken. */
export class CircuitOpenError extends ConductorHealthError {
  /** The platform whose breaker refused the call. */
  readonly platform: string;
  /** OPEN, or HALF_OPEN with its one trial already running. */
  readonly state: BreakerState;
  /** When the next trial is allowed (ms epoch); in HALF_OPEN, the trial already running began at or after it. */
  readonly nextAttemptAt: number | undefined;

  constructor(platform: string, state: BreakerState, nextAttemptAt: number | undefined) {
    super(
      'ECIRCUITOPEN',
      state === 'HALF_OPEN'
        ? `circuit breaker for platform "${platform}" is half-open and its one trial call is in progress`
        : `circuit breaker for platform "${platform}" is open; next trial at ${isoTime(nextAttemptAt)}`,
    );
    this.name = 'CircuitOpenError';
    this.platform = platform;
    this.state = state;
    this.nextAttemptAt = nextAttemptAt;
  }
}

/** The breaker was shut down (code `EBREAKERSHUTDOWN`): `execute()` after `shutdown()`, or a call still in flight at shutdown. */
export class BreakerShutdownError extends ConductorHealthError {
  /** The platform whose breaker was shut down. */
  readonly platform: string;

  constructor(platform: string) {
    super('EBREAKERSHUTDOWN', `breaker for platform "${platform}" is shut down`);
    this.name = 'BreakerShutdownError';
    this.platform = platform;
  }
}

/**
 * What the value a function given to `execute()` returned fails with, or
 * undefined when it is a thenable: a non-promise (code `ENOTAPROMISE`), or
 * what reading its `then` threw (a hostile value), as `await` would reject.
 */
export function notThenable(platform: string, result: unknown): unknown {
  try {
    if (isThenable(result)) return undefined;
  } catch (error) {
    return error;
  }
  return new OptionTypeError('ENOTAPROMISE', `conductor-health: the function given to execute() for platform "${platform}" must return a promise, got ${describeValue(result)}`);
}
