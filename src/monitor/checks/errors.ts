/** What the built-in checks fail with, besides the network's own errors. */
import { ConductorHealthError } from '../../common/errors.ts';

/** The platform answered with a status outside `expectStatus` (code `EUNEXPECTEDSTATUS`, `error_type` `unexpected_status`). */
export class UnexpectedStatusError extends ConductorHealthError {
  /** The `error_type` this failure is counted under. */
  readonly errorType = 'unexpected_status';
  /** The status the platform answered with. */
  readonly status: number;

  constructor(status: number, expected: { min: number; max: number }) {
    super('EUNEXPECTEDSTATUS', `HTTP ${status}, expected ${expected.min === expected.max ? expected.min : `${expected.min}–${expected.max}`}`);
    this.name = 'UnexpectedStatusError';
    this.status = status;
  }
}

/** The body did not contain what `bodyMatch` asks for (code `EBODYMISMATCH`, `error_type` `body_mismatch`). */
export class BodyMismatchError extends ConductorHealthError {
  /** The `error_type` this failure is counted under. */
  readonly errorType = 'body_mismatch';

  /** `truncatedAt`: the body was longer, and only this many bytes were read. */
  constructor(bodyMatch: string | RegExp, truncatedAt?: number) {
    super('EBODYMISMATCH', `response body${truncatedAt === undefined ? '' : ` (first ${truncatedAt} bytes)`} does not match ${String(bodyMatch)}`);
    this.name = 'BodyMismatchError';
  }
}
