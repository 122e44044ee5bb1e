/**
 * The lease of a half-open trial: whoever claimed it must settle it within
 * `halfOpenTimeoutMs`, or it counts as a failed trial, so a lost trial (its
 * caller crashed, or forgot it) cannot keep a breaker half-open. Runs on the
 * monotonic clock, on a timer that never keeps the process alive, and is
 * caught up at the next look (`expired()`) when a busy loop has not run the
 * timer yet.
 */
import type { Trial } from './trial.ts';

export class TrialLease {
  /** The claimed trial; undefined while none is. */
  trial: Trial | undefined;
  /** When the claimed trial's lease runs out (`performance.now()` ms). */
  #deadline = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onExpiry: () => void;

  /** @param onExpiry called by the timer when a claimed trial's lease runs out */
  constructor(onExpiry: () => void) {
    this.#onExpiry = onExpiry;
  }

  /** Holds `trial` for `ms`. */
  claim(trial: Trial, ms: number): void {
    this.trial = trial;
    this.#deadline = performance.now() + ms;
    this.#timer = setTimeout(this.#onExpiry, ms);
    this.#timer.unref?.();
  }

  /** True when a trial is held and its lease has run out. */
  expired(): boolean {
    return this.trial !== undefined && performance.now() >= this.#deadline;
  }

  /** Forgets the trial and stops its timer. */
  drop(): void {
    this.trial = undefined;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
