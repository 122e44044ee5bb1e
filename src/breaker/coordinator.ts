/**
 * A breaker that is not alone: several processes (the conductor's replicas)
 * share one breaker per platform. Each process's breaker still answers its
 * callers at once, from its own state; it reports to a coordinator what can
 * change the shared state, and follows the shared state the coordinator
 * applies. The CLOSED hot path reports nothing while no failure is counted.
 * Without a coordinator a breaker decides alone (the default).
 */
import type { BreakerState } from '../core/breaker-state.ts';

/** What a coordinated breaker reports. Each call is fire-and-forget: the breaker never waits on it. */
export interface BreakerCoordinator {
  /** A failure counted in the CLOSED period (the breaker does not open by itself: the shared state decides). */
  failed(): void;
  /** A success in the CLOSED period after failures: the shared count goes back to 0. */
  recovered(): void;
  /** The half-open trial this process held ended: `true` closed the breaker here, `false` re-opened it. */
  trialEnded(ok: boolean): void;
  /** A half-open trial was claimed here for `leaseMs` (the shared claim is renewed). */
  trialClaimed(leaseMs: number): void;
  /** `forceOpen()` or `reset()` was called here. */
  forced(to: 'OPEN' | 'CLOSED'): void;
}

/** The shared state a coordinator applies to a breaker. */
export interface SharedBreakerState {
  readonly state: BreakerState;
  /** Consecutive failures, cluster-wide. */
  readonly failureCount: number;
  /** OPEN: when the next trial may go, in ms from now (negative once due). */
  readonly nextAttemptInMs?: number;
  /** OPEN: the wait of this opening, in ms. */
  readonly resetTimeoutMs?: number;
  /** OPEN and HALF_OPEN: when it opened (wall ms), for reports. */
  readonly openedAt?: number;
  /** HALF_OPEN: the one trial is this process's to run; otherwise it is another's and calls here are refused. */
  readonly trialHere?: boolean;
  /** False when an outcome reported from here caused the change (the answer to it); otherwise it came from elsewhere. */
  readonly remote?: boolean;
}
