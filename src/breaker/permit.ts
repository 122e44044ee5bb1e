/**
 * A breaker's consent to one call. The breaker decides what a verdict does;
 * a permit only remembers the period that issued it and takes one verdict.
 */
import type { Verdict } from '../core/outcome.ts';
import type { Trial } from './trial.ts';

/**
 * The breaker's consent to one call, from `PlatformCircuitBreaker.tryAcquire()`.
 * Give it the call's outcome exactly once: {@link success}, {@link failure}
 * or {@link release}; later calls on it do nothing and return false. It
 * remembers the period that issued it: an outcome given after that period
 * ended (the breaker opened, closed, was reset, or the trial's lease ran
 * out) changes nothing in the breaker, though a failure still counts in
 * `plugin_failure_total`, and the active span gets the event
 * `circuit_breaker.stale_outcome`.
 */
export interface BreakerPermit {
  /** The state that issued it: CLOSED, or HALF_OPEN for the one trial. */
  readonly state: 'CLOSED' | 'HALF_OPEN';
  /** The period that issued it; the breaker starts a new one at every transition and at `reset()`. */
  readonly generation: number;
  /** True once an outcome or a release was given. */
  readonly settled: boolean;
  /**
   * The call succeeded: CLOSED sets the count to 0, a trial closes the breaker.
   * @returns true if the breaker took it; false if the period had ended, the permit was settled or the breaker shut down
   */
  success(): boolean;
  /**
   * The call failed; counts in `plugin_failure_total` under `errorTypeOf(error)`
   * even when stale. CLOSED adds one to the count (opening at `failMax`), a
   * trial re-opens the breaker for a full `resetTimeoutMs`.
   * @returns true if the breaker took it; false if the period had ended, the permit was settled or the breaker shut down
   */
  failure(error?: unknown): boolean;
  /**
   * The call ended without a verdict (aborted, `unknown` plugin health):
   * nothing is counted, and a trial goes to the next caller.
   * @returns true if the permit's period was still current
   */
  release(): boolean;
}

/** A {@link BreakerPermit}: the period it came from, and one settlement handed to its breaker. */
export class Permit implements BreakerPermit {
  readonly state: 'CLOSED' | 'HALF_OPEN';
  readonly generation: number;
  /** The half-open trial it holds; undefined for a CLOSED permit. */
  readonly trial: Trial | undefined;
  settled = false;
  private readonly settle: (permit: Permit, verdict: Verdict, error: unknown) => boolean;

  constructor(settle: (permit: Permit, verdict: Verdict, error: unknown) => boolean, generation: number, trial: Trial | undefined) {
    this.settle = settle;
    this.state = trial === undefined ? 'CLOSED' : 'HALF_OPEN';
    this.generation = generation;
    this.trial = trial;
  }

  success(): boolean {
    return this.once('success', undefined);
  }

  failure(error?: unknown): boolean {
    return this.once('failure', error);
  }

  release(): boolean {
    return this.once('release', undefined);
  }

  private once(verdict: Verdict, error: unknown): boolean {
    if (this.settled) return false;
    this.settled = true;
    return this.settle(this, verdict, error);
  }
}
