/** What a breaker reports of itself. */
import type { BreakerState } from '../core/breaker-state.ts';

/** What `PlatformCircuitBreaker.getState()` reports. Times are ms since the epoch. */
export interface BreakerSnapshot {
  /** The platform the breaker guards. */
  platform: string;
  /** The state now, a late reset timer accounted for. */
  state: BreakerState;
  /** Consecutive failures since the last success (a failed half-open trial adds one). */
  failureCount: number;
  /** When the breaker last opened; absent while CLOSED. */
  openedAt?: number;
  /**
   * When the breaker allows its next trial; absent while CLOSED. OPEN: the
   * end of the reset timeout, as the wall clock reads now; HALF_OPEN: now
   * (a trial may go, or is going).
   */
  nextAttemptAt?: number;
}

/** What a `transition` listener receives. */
export interface BreakerStateChange {
  /** The platform the breaker guards. */
  platform: string;
  /** The state left. */
  from: BreakerState;
  /** The state entered. */
  to: BreakerState;
  /** Consecutive failures at the transition (0 on closing). */
  failureCount: number;
  /** `Date.now()` at the transition. */
  at: number;
  /** Entering OPEN: how long this opening waits before its trial, in ms (grows with `resetBackoffFactor`). */
  resetTimeoutMs?: number;
  /** Set when the transition was decided elsewhere: another replica of a cluster, applied here from the shared state. */
  remote?: boolean;
}

/** Events a breaker emits. */
export interface BreakerEvents {
  [event: string]: unknown[];
  /** Every transition, in the order they happened. */
  transition: [BreakerStateChange];
}
