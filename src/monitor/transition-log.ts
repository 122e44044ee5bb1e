/** The monitor's record of breaker transitions: each is logged, kept in a ring for `report({ history: true })`, and announced. */
import type { BreakerStateChange } from '../breaker/state.ts';
import type { Emitter } from '../common/emitter.ts';
import type { Logger } from '../common/logger.ts';
import { RingBuffer } from '../common/ring-buffer.ts';
import { printable } from '../common/text.ts';
import type { HealthMonitorEvents } from './report.ts';

export class TransitionLog {
  readonly #recent: RingBuffer<BreakerStateChange>;
  readonly #logger: Logger;
  readonly #events: Emitter<HealthMonitorEvents>;

  /** @param size the recent transitions kept (`transitionHistorySize`) */
  constructor(size: number, logger: Logger, events: Emitter<HealthMonitorEvents>) {
    this.#recent = new RingBuffer(size);
    this.#logger = logger;
    this.#events = events;
  }

  /** Records one transition; bound, for breakers to call. */
  readonly record = (change: BreakerStateChange): void => {
    const level = change.to === 'CLOSED' ? 'info' : 'warn';
    this.#logger[level]({ platform: printable(change.platform), from: change.from, to: change.to, failures: change.failureCount }, 'circuit breaker state change');
    // Frozen copies: a listener or a report reader cannot rewrite history.
    this.#recent.push(Object.freeze({ ...change }));
    this.#events.emit('transition', change);
  };

  /** The recent transitions, oldest first. */
  toArray(): BreakerStateChange[] {
    return this.#recent.toArray();
  }
}
