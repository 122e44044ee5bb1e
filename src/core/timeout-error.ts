import { ConductorHealthError } from '../common/errors.ts';
import { describeValue } from '../common/validate.ts';

/**
 * A check or an `execute()` call ran out of time (code `ETIMEDOUT`,
 * `error_type` `timeout`). Named `TimeoutError`, as `AbortSignal.timeout()`
 * names its reason, so `error.name === 'TimeoutError'` checks keep working.
 */
export class TimeoutError extends ConductorHealthError {
  /** The platform whose check or call timed out. */
  readonly platform: string;
  /** The bound it ran into, in ms. */
  readonly timeoutMs: number;

  /** @param what `check` for a health check, `call` for an `execute()` call */
  constructor(platform: string, timeoutMs: number, what: 'check' | 'call' = 'call') {
    super('ETIMEDOUT', `${what === 'check' ? 'health check' : 'call'} of platform ${describeValue(platform)} timed out after ${timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.platform = platform;
    this.timeoutMs = timeoutMs;
  }
}
