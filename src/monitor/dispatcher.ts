/**
 * Which due check starts, and when: the slots ({@link Schedule}), the one
 * scheduling timer, the queue of due checks waiting for the concurrency cap,
 * and the accounting of skipped slots. It knows nothing of spans, breakers
 * or results: it asks its host whether a platform is busy and tells it to
 * start a check.
 */
import { MAX_TIMER_MS } from '../common/validate.ts';
import type { Logger } from '../common/logger.ts';
import { Schedule } from './schedule.ts';

/** Why a slot was skipped: it came too late to start (`missed`), or the previous check still ran (`busy`). */
export type SkipReason = 'missed' | 'busy';

/** A platform as the dispatcher sees it. */
export interface Dispatchable {
  /** The platform's name. */
  readonly name: string;
  /** Kept by the dispatcher: the platform waits in its queue (a flag on the item, not a set: this runs once per check). */
  queued: boolean;
}

/** Where the dispatcher finds the platforms it schedules (the monitor's registry). */
export interface DispatchTargets<T extends Dispatchable> {
  /** The platform under a slot's key, if it still has a check to run. */
  lookup(key: string): T | undefined;
  /** Still the registered platform (not unregistered, or replaced, since it was queued)? */
  isCurrent(item: T): boolean;
}

/** What runs the checks the dispatcher starts (the monitor's check runner). */
export interface DispatchRunner<T extends Dispatchable> {
  /** Its previous scheduled check still runs at `now`; one past its deadline is ended first. */
  isBusy(item: T, now: number): boolean;
  /** Starts its check; {@link Dispatcher.pump} is to be called when a check ends. */
  start(item: T): void;
  /** Checks in flight now, counted against the cap. */
  readonly inFlight: number;
}

/** Where skipped slots are counted (`health_check_skipped_total`). */
export interface SkipRecorder {
  recordSkippedCheck(platform: string, reason: SkipReason, count: number): void;
}

/** Options of a {@link Dispatcher}, validated by the monitor. */
export interface DispatcherOptions {
  intervalMs: number;
  staggerMs?: number | undefined;
  maxConcurrent: number;
  maxLatenessMs: number;
  degradedIntervalFactor: number;
  degradedConcurrencyFactor: number;
}

/**
 * The scheduling timer never wakes sooner than this after its last planned
 * wake-up (twice this when slots come more than one per 2 ms). Sparse
 * schedules keep their exact slots; dense ones (10,000 platforms at 5 s put
 * a slot every 0.5 ms) start a batch at once, each check at most 20 ms late,
 * which costs far less CPU than a wake-up per check on cold caches.
 */
const MIN_WAKE_GAP_MS = 10;

/** Starts due checks on their slots, at most the concurrency cap at once; a slot that cannot start in time is skipped, never made up. */
export class Dispatcher<T extends Dispatchable> {
  readonly #schedule: Schedule;
  readonly #options: DispatcherOptions;
  readonly #targets: DispatchTargets<T>;
  readonly #runner: DispatchRunner<T>;
  readonly #skips: SkipRecorder;
  readonly #logger: Logger;
  /** Due checks waiting for the concurrency cap; `#queueHead` avoids O(n) shifts. */
  #queue: Array<{ item: T; slotAt: number }> = [];
  #queueHead = 0;
  #timer: NodeJS.Timeout | undefined;
  /** When the current timer was planned to fire, and when the last one was: the gap is between plans, so timer lateness does not pile up. */
  #armedFor = -Infinity;
  #lastWake = -Infinity;
  /** `performance.now()` by which the armed timer should have fired; liveness reads it on the monotonic clock. */
  #wakeDuePerf = Infinity;
  #pumping = false;
  #running = false;
  #replanQueued = false;
  #degraded = false;
  #skipped = 0;
  #skipLog = { missed: 0, busy: 0, maxLatenessMs: 0 };

  constructor(options: DispatcherOptions, targets: DispatchTargets<T>, runner: DispatchRunner<T>, skips: SkipRecorder, logger: Logger) {
    this.#options = options;
    this.#targets = targets;
    this.#runner = runner;
    this.#skips = skips;
    this.#logger = logger;
    this.#schedule = new Schedule(options.staggerMs);
  }

  /** Between {@link start} and {@link stop}. */
  get running(): boolean {
    return this.#running;
  }

  /** Slots skipped since start. */
  get skipped(): number {
    return this.#skipped;
  }

  /** How far the scheduling timer is overdue now, in ms (negative when not yet due; -Infinity when none is armed). */
  overdueMs(): number {
    return performance.now() - this.#wakeDuePerf;
  }

  /** Gives `key` slots every `intervalMs` (re-planned soon, once for a burst of calls). */
  add(key: string, intervalMs: number): void {
    this.#schedule.add(key, intervalMs);
    this.#replanSoon();
  }

  /** Drops `key`'s slots. */
  remove(key: string): void {
    this.#schedule.remove(key);
    this.#replanSoon();
  }

  /** `performance.now()` time of `key`'s first slot at or after `at`. */
  slotAtOrAfter(key: string, at: number): number | undefined {
    return this.#schedule.slotAtOrAfter(key, at);
  }

  /** Degraded mode stretches every interval and narrows the cap. */
  setDegraded(degraded: boolean): void {
    this.#degraded = degraded;
    this.#schedule.setFactor(degraded ? this.#options.degradedIntervalFactor : 1);
    if (this.#running) this.#replan();
  }

  /** Plans every slot from now and arms the timer. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule.plan(performance.now(), true);
    this.#arm();
  }

  /** Stops the timer and drops the queue; final. */
  stop(): void {
    this.#running = false;
    this.#wakeDuePerf = Infinity;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let i = this.#queueHead; i < this.#queue.length; i++) this.#queue[i]!.item.queued = false;
    this.#queue = [];
    this.#queueHead = 0;
  }

  /** Re-plans in a microtask (only while running: start() plans everything anyway). */
  #replanSoon(): void {
    if (!this.#running || this.#replanQueued) return;
    this.#replanQueued = true;
    // Registering many platforms in one go plans once, not once per platform.
    queueMicrotask(() => {
      this.#replanQueued = false;
      if (this.#running) this.#replan();
    });
  }

  /** Starts queued checks while the concurrency cap allows; late ones are skipped. Call it whenever a check ends. */
  pump(): void {
    // Not re-entered: a check that finishes synchronously calls back into
    // pump(); the loop below carries on instead of recursing once per
    // queued check (thousands deep when a large batch is due at once).
    if (!this.#running || this.#pumping) return;
    this.#pumping = true;
    try {
      const { maxConcurrent, degradedConcurrencyFactor, maxLatenessMs } = this.#options;
      const cap = this.#degraded ? Math.max(1, Math.floor(maxConcurrent * degradedConcurrencyFactor)) : maxConcurrent;
      while (this.#queueHead < this.#queue.length && this.#runner.inFlight < cap) {
        const { item, slotAt } = this.#queue[this.#queueHead]!;
        this.#queueHead += 1;
        item.queued = false;
        if (!this.#targets.isCurrent(item)) continue;
        const lateness = performance.now() - slotAt;
        if (lateness > maxLatenessMs) {
          this.#skip(item, 'missed', 1, lateness);
          continue;
        }
        this.#runner.start(item);
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    }
    this.#flushSkipLog();
  }

  /** Re-plans the slots; slots already due are queued first, so a re-plan never drops one. */
  #replan(): void {
    const now = performance.now();
    this.#queueDue(now);
    this.#schedule.plan(now);
    this.pump();
    this.#arm();
  }

  /** Points the one scheduling timer at the earliest due slot. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wakeDuePerf = Infinity;
    const next = this.#schedule.nextDueAt();
    if (!this.#running || next === undefined) return;
    // Slots denser than one per 2 ms (10,000 platforms at 5 s): wake half as often again.
    // Never so wide that batching alone would make a check miss its slot (maxLatenessMs).
    const gap = Math.min(this.#schedule.size * 2 > this.#options.intervalMs ? 2 * MIN_WAKE_GAP_MS : MIN_WAKE_GAP_MS, this.#options.maxLatenessMs / 2);
    const at = Math.max(next, this.#lastWake + gap);
    this.#armedFor = at;
    // Longer delays overflow setTimeout into 1 ms; a tick before the slot just re-arms.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - performance.now()));
    this.#wakeDuePerf = performance.now() + delay;
    this.#timer = setTimeout(() => this.#tick(), delay);
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const now = performance.now();
    if (now < this.#armedFor) {
      // Timers may fire a fraction of a millisecond early by performance.now(): wait for the planned moment.
      this.#timer = setTimeout(() => this.#tick(), this.#armedFor - now);
      return;
    }
    this.#lastWake = this.#armedFor;
    this.#queueDue(now);
    this.pump();
    this.#arm();
  }

  /** Queues every slot due at `now`; a platform still busy with its previous check skips the slot. */
  #queueDue(now: number): void {
    for (const { key, slotAt, skippedSlots } of this.#schedule.takeDue(now)) {
      const item = this.#targets.lookup(key);
      if (item === undefined) continue;
      if (skippedSlots > 0) this.#skip(item, 'missed', skippedSlots, now - slotAt);
      // isBusy() settles a check whose deadline has come before its timer
      // fires, so the next one starts on time instead of being skipped.
      if (item.queued || this.#runner.isBusy(item, now)) {
        this.#skip(item, 'busy', 1, now - slotAt);
        continue;
      }
      item.queued = true;
      this.#queue.push({ item, slotAt });
    }
  }

  #skip(item: T, reason: SkipReason, count: number, latenessMs: number): void {
    this.#skipped += count;
    this.#skips.recordSkippedCheck(item.name, reason, count);
    this.#skipLog[reason] += count;
    this.#skipLog.maxLatenessMs = Math.max(this.#skipLog.maxLatenessMs, Math.round(latenessMs));
  }

  /** One warning per scheduling pass, not one per platform: a stall can skip thousands. */
  #flushSkipLog(): void {
    const log = this.#skipLog;
    if (log.missed === 0 && log.busy === 0) return;
    this.#logger.warn({ ...log }, 'health checks skipped: missed slots are not made up, to avoid a burst');
    this.#skipLog = { missed: 0, busy: 0, maxLatenessMs: 0 };
  }
}
