/** The errors a {@link PlatformCircuitBreaker}'s `execute()` rejects with. */
import type { BreakerState, PlatformCircuitBreaker } from './circuit-breaker.ts';

// Rejections come in bursts with the same time; formatting a date costs a tenth of the whole rejection.
let lastIso: [number | undefined, string] = [undefined, 'an unknown time'];
function isoTime(ms: number | undefined): string {
  if (ms !== lastIso[0]) lastIso = [ms, ms === undefined ? 'an unknown time' : new Date(ms).toISOString()];
  return lastIso[1];
}

/** `execute()` rejected without running the function because the breaker is open (or its half-open trial is taken). */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  /** Same code as opossum's own rejection. */
  readonly code = 'EOPENBREAKER';
  /** The platform whose breaker refused the call. */
  readonly platform: string;
  /** OPEN, or HALF_OPEN with its one trial already running. */
  readonly state: BreakerState;
  /** When the next trial is allowed (ms epoch); in HALF_OPEN, the trial already running began at or after it. */
  readonly nextAttemptAt: number | undefined;

  constructor(platform: string, state: BreakerState, nextAttemptAt: number | undefined) {
    super(
      state === 'HALF_OPEN'
        ? `circuit breaker for platform "${platform}" is half-open and its one trial call is in progress`
        : `circuit breaker for platform "${platform}" is open; next trial at ${isoTime(nextAttemptAt)}`,
    );
    this.platform = platform;
    this.state = state;
    this.nextAttemptAt = nextAttemptAt;
  }
}

/** The breaker was shut down: `execute()` after `shutdown()`, or a call still in flight at shutdown. */
export class BreakerShutdownError extends Error {
  override readonly name = 'BreakerShutdownError';
  /** Same code as opossum's own shutdown rejection. */
  readonly code = 'ESHUTDOWN';
  /** The platform whose breaker was shut down. */
  readonly platform: string;

  constructor(platform: string) {
    super(`breaker for platform "${platform}" is shut down`);
    this.platform = platform;
  }
}
