/**
 * How long an opening lasts: the rule every breaker applies, and the one a
 * cluster of replicas applies to its shared breaker, so the two cannot
 * disagree. Peers do the same: cockatiel's `halfOpenAfter` with a backoff,
 * Resilience4j's `waitIntervalFunctionInOpenState`, Envoy's ejection time ×
 * the number of ejections.
 */

/** The settings the rule reads. */
export interface ResetDelaySettings {
  readonly resetTimeoutMs: number;
  /** 1: every opening waits `resetTimeoutMs`. */
  readonly resetBackoffFactor: number;
  readonly maxResetTimeoutMs: number;
}

/** The wait of the `opening`-th opening in a row (1 for the first after a close), in ms. */
export function resetDelay(opening: number, { resetTimeoutMs, resetBackoffFactor, maxResetTimeoutMs }: ResetDelaySettings): number {
  if (resetBackoffFactor === 1 || opening <= 1) return resetTimeoutMs;
  // The cap bounds the growth; it never shortens the first wait.
  return Math.max(resetTimeoutMs, Math.min(maxResetTimeoutMs, resetTimeoutMs * resetBackoffFactor ** (opening - 1)));
}
