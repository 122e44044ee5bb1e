/**
 * Lets one log line per key through per window and counts the rest, so a
 * fault that repeats on every check (a listener that always throws, a
 * process out of file descriptors) logs once a minute, not thousands of
 * times. Runs on the monotonic clock.
 */
export class LogLimiter {
  readonly #windowMs: number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  /** `windowMs`: the quiet time after a line is let through (default 60 s). */
  constructor(windowMs = 60_000) {
    this.#windowMs = windowMs;
  }

  /**
   * Whether a line for `key` may be logged now; if so, `log` is called with
   * the number of lines suppressed since the last one.
   */
  take(key: string, log: (suppressed: number) => void): void {
    const now = performance.now();
    const entry = this.#last.get(key);
    if (entry !== undefined && now - entry.at < this.#windowMs) {
      entry.suppressed += 1;
      return;
    }
    this.#last.set(key, { at: now, suppressed: 0 });
    log(entry?.suppressed ?? 0);
  }
}
