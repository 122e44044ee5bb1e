/**
 * `staggeredHealthChecks()`: one check of each platform of a list, platform
 * i of N started i × gap from now. `stop()` answers the starts still to come
 * as cancelled: none rejects, and no timer is left behind.
 */
import { cancelledResult, type HealthCheckResult } from './report.ts';

export class StaggeredStarts {
  /** Starts still to come: each timer, and how to answer its caller instead. */
  readonly #pending = new Map<NodeJS.Timeout, () => void>();

  /** Checks each of `platforms` once with `checkOne`, `gap` ms apart; resolves with the results in input order. */
  run(platforms: readonly string[], gap: number, checkOne: (platform: string) => Promise<HealthCheckResult>): Promise<HealthCheckResult[]> {
    return Promise.all(
      platforms.map(
        (platform, i) =>
          new Promise<HealthCheckResult>((resolve) => {
            const begin = () => resolve(checkOne(platform));
            if (i === 0 || gap === 0) {
              begin();
              return;
            }
            const timer = setTimeout(() => {
              this.#pending.delete(timer);
              begin();
            }, i * gap);
            this.#pending.set(timer, () => resolve(cancelledResult(platform)));
          }),
      ),
    );
  }

  /** Clears every start still to come, answering each as cancelled. */
  cancelAll(): void {
    for (const [timer, cancel] of this.#pending) {
      clearTimeout(timer);
      cancel();
    }
    this.#pending.clear();
  }
}
