/**
 * The errors this package throws, with one marker and a stable `code` on
 * each, so a caller can tell them apart without matching messages:
 * `isConductorHealthError(error) && error.code === 'ECIRCUITOPEN'`.
 *
 * Most extend {@link ConductorHealthError}. A bad option or environment
 * variable stays a `TypeError` (wrong kind of value) or `RangeError` (right
 * kind, out of range), as Node's own argument errors are, so those carry the
 * same marker and a code on a subclass of the built-in instead.
 */

const MARK = Symbol.for('conductor-health.error');

/** What every error of this package has. */
export interface ConductorHealthErrorLike extends Error {
  /** Stable across versions; README lists every one. */
  readonly code: string;
}

/** True for an error this package threw (or built), whatever its class. */
export function isConductorHealthError(value: unknown): value is ConductorHealthErrorLike {
  try {
    return typeof value === 'object' && value !== null && (value as { [MARK]?: unknown })[MARK] === true;
  } catch {
    // A revoked Proxy throws on any property read: it is not ours.
    return false;
  }
}

function mark(prototype: object): void {
  Object.defineProperty(prototype, MARK, { value: true });
}

/** The base of this package's errors that are neither a TypeError nor a RangeError. */
export class ConductorHealthError extends Error implements ConductorHealthErrorLike {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConductorHealthError';
    this.code = code;
  }
}
mark(ConductorHealthError.prototype);

/** A value of the wrong kind: an option (`EOPTIONTYPE`), an unknown option (`EUNKNOWNOPTION`), a misused API. */
export class OptionTypeError extends TypeError implements ConductorHealthErrorLike {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
mark(OptionTypeError.prototype);

/** A value of the right kind out of range: an option (`EOPTIONRANGE`) or an environment variable (`EENVIRONMENT`). */
export class OptionRangeError extends RangeError implements ConductorHealthErrorLike {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
mark(OptionRangeError.prototype);

/** Every code this package's errors carry, with the class that carries it (README's table is checked against it). */
export const ERROR_CODES = Object.freeze({
  /** An option of the wrong type. */
  EOPTIONTYPE: 'OptionTypeError',
  /** An option out of its range. */
  EOPTIONRANGE: 'OptionRangeError',
  /** An option no schema knows (a typo, usually: the message names the closest known one). */
  EUNKNOWNOPTION: 'OptionTypeError',
  /** An environment variable this package reads holds a value it refuses. */
  EENVIRONMENT: 'OptionRangeError',
  /** `execute()` refused the call: the breaker is open, or its half-open trial is taken. */
  ECIRCUITOPEN: 'CircuitOpenError',
  /** The breaker was shut down. */
  EBREAKERSHUTDOWN: 'BreakerShutdownError',
  /** A check or an `execute()` call ran out of time. */
  ETIMEDOUT: 'TimeoutError',
  /** The function given to `execute()` returned something other than a promise. */
  ENOTAPROMISE: 'OptionTypeError',
  /** The http check got a status outside `expectStatus`. */
  EUNEXPECTEDSTATUS: 'UnexpectedStatusError',
  /** The http check's body did not match `bodyMatch`. */
  EBODYMISMATCH: 'BodyMismatchError',
  /** The monitor was stopped and cannot be used again. */
  ESTOPPED: 'ConductorHealthError',
  /** A platform registered twice. */
  EDUPLICATE: 'ConductorHealthError',
  /** `checkPlatformHealth()` of a platform with no registered check and none given. */
  ENOCHECK: 'ConductorHealthError',
  /** The platform was unregistered, or the monitor stopped, while its check ran. */
  ECANCELLED: 'ConductorHealthError',
  /** `getMetricsRegistry()` before `startTelemetry()`. */
  ENOTELEMETRY: 'ConductorHealthError',
  /** `startTelemetry()` while its telemetry, or another OpenTelemetry SDK, is registered. */
  ETELEMETRYRUNNING: 'ConductorHealthError',
  /** The metrics server could not listen (the cause says why: EADDRINUSE, EACCES…). */
  ELISTEN: 'ConductorHealthError',
  /** A config file that cannot be read or does not validate. */
  ECONFIGFILE: 'ConfigFileError',
  /** The resource sampler did not settle within `sampleTimeoutMs`. */
  ESAMPLERTIMEOUT: 'ConductorHealthError',
});

/** A code of {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;
