/**
 * Lets one log line per key through per window and counts the rest, so a
 * fault that repeats on every check (a listener that always throws, a
 * process out of file descriptors) logs once a minute, not thousands of
 * times. Runs on the monotonic clock.
 */
export class LogLimiter {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  /**
   * `windowMs`: the quiet time after a line is let through (default 60 s);
   * `now`: the monotonic clock in ms (tests pass their own).
   */
  constructor(windowMs = 60_000, now: () => number = () => performance.now()) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /**
   * Whether a line for `key` may be logged now; if so, `log` is called with
   * the number of lines suppressed since the last one.
   */
  take(key: string, log: (suppressed: number) => void): void {
    const now = this.#now();
    const entry = this.#last.get(key);
    if (entry !== undefined && now - entry.at < this.#windowMs) {
      entry.suppressed += 1;
      return;
    }
    this.#last.set(key, { at: now, suppressed: 0 });
    log(entry?.suppressed ?? 0);
  }

  /** Forgets `key`: its next line is let through at once (the fault ended; a new one is news). */
  reset(key: string): void {
    this.#last.delete(key);
  }
}
