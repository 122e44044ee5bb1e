import { mock } from 'node:test';
import { setImmediate as realImmediate } from 'node:timers/promises';

/** Fake setTimeout, setInterval and Date, starting at `now` (default 0). */
export function useFakeClock(now = 0): void {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now });
}

/** Restores the real timers. */
export function useRealClock(): void {
  mock.timers.reset();
}

/** Lets pending promise callbacks run (setImmediate is not faked). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await realImmediate();
}

/**
 * Advances the fake clock by `ms` in steps of `stepMs`, letting promises
 * settle after each step. Node's `mock.timers.tick(n)` moves Date to the end
 * of the step before running the timers due inside it, so a step must not be
 * longer than the precision a test reads times with.
 */
export async function advance(ms: number, stepMs = ms): Promise<void> {
  // Timers due now (a setTimeout of 0) run before the clock moves.
  mock.timers.tick(0);
  await settle();
  for (let done = 0; done < ms; done += stepMs) {
    mock.timers.tick(Math.min(stepMs, ms - done));
    await settle();
  }
}
