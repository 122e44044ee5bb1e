/**
 * A breaker's state: the one type for it, in the breaker, the report, the
 * status page and the metric. `circuit_breaker_state` spells it in lower
 * case as its `state` label.
 */

/** The states of a circuit breaker. */
export const BREAKER_STATES = ['CLOSED', 'OPEN', 'HALF_OPEN'] as const;

/** A breaker's state. */
export type BreakerState = (typeof BREAKER_STATES)[number];

/** The `state` label values of `circuit_breaker_state`, in {@link BREAKER_STATES} order. */
export const BREAKER_STATE_LABELS = ['closed', 'open', 'half_open'] as const;

/** The `state` label of `circuit_breaker_state` for `state`. */
export function breakerStateLabel(state: BreakerState): (typeof BREAKER_STATE_LABELS)[number] {
  return BREAKER_STATE_LABELS[BREAKER_STATES.indexOf(state)]!;
}
