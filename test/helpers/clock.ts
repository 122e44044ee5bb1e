import { mock } from 'node:test';
import { setImmediate as realImmediate } from 'node:timers/promises';

/**
 * The fake clock. `mock.timers` fakes setTimeout, setInterval and Date but
 * not `performance.now()`, the monotonic clock the package schedules on; so
 * `performance.now()` is faked here too and follows the fake timers (it
 * reads 0 at the start). The wall clock (`Date.now()`) follows them as well
 * until {@link stepWallClock} moves it on its own, as NTP or an operator can.
 */
let fake: { timersNow: () => number; origin: number; wallOffset: number; restore: Array<() => void> } | undefined;

/**
 * Replaces `owner[key]` with `fn` until restored. Not `mock.method`: that
 * records every call, and a soak reads the clock millions of times.
 */
function replace(owner: object, key: string, fn: () => number): () => void {
  const own = Object.getOwnPropertyDescriptor(owner, key);
  Object.defineProperty(owner, key, { value: fn, configurable: true, writable: true });
  return () => (own ? Object.defineProperty(owner, key, own) : delete (owner as Record<string, unknown>)[key]);
}

/** Fake setTimeout, setInterval, Date and performance.now, with Date starting at `now` (default 0). */
export function useFakeClock(now = 0): void {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now });
  // The faked Date.now() reads the fake timers' own clock; keep it before any wall step.
  const timersNow = Date.now.bind(Date);
  const state = { timersNow, origin: now, wallOffset: 0, restore: [] as Array<() => void> };
  fake = state;
  state.restore.push(replace(performance, 'now', () => state.timersNow() - state.origin));
}

/**
 * Steps the wall clock (`Date.now()`) by `ms`, back when negative, without
 * moving the fake timers or `performance.now()`: what a clock correction does.
 */
export function stepWallClock(ms: number): void {
  if (!fake) throw new Error('stepWallClock needs useFakeClock()');
  const state = fake;
  if (state.wallOffset === 0) state.restore.push(replace(Date, 'now', () => state.timersNow() + state.wallOffset));
  state.wallOffset += ms;
}

/** Restores the real timers and clocks. */
export function useRealClock(): void {
  for (const restore of (fake?.restore ?? []).reverse()) restore();
  fake = undefined;
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

/**
 * Advances the fake clock by `ms` (in steps of `stepMs`) and tells whether
 * `promise` settled by then: a bound is checked on the fake clock, never as
 * elapsed wall time.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number, stepMs = ms): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await advance(ms, stepMs);
  return settled;
}

/**
 * Counts the timers that are set and have neither fired nor been cleared, by
 * wrapping the (fake) globals. Call after {@link useFakeClock}; `restore()`
 * puts the wrapped functions back.
 */
export function countLiveTimers(): { live: () => number; restore: () => void } {
  const g = globalThis as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved = { setTimeout: g.setTimeout!, clearTimeout: g.clearTimeout!, setInterval: g.setInterval!, clearInterval: g.clearInterval! };
  const live = new Set<unknown>();
  g.setTimeout = (fn: unknown, ms: unknown, ...args: unknown[]) => {
    const handle: unknown = saved.setTimeout((...a: unknown[]) => {
      live.delete(handle);
      (fn as (...a: unknown[]) => void)(...a);
    }, ms, ...args);
    live.add(handle);
    return handle;
  };
  g.clearTimeout = (handle: unknown) => (live.delete(handle), saved.clearTimeout(handle));
  g.setInterval = (...args: unknown[]) => {
    const handle = saved.setInterval(...args);
    live.add(handle);
    return handle;
  };
  g.clearInterval = (handle: unknown) => (live.delete(handle), saved.clearInterval(handle));
  return { live: () => live.size, restore: () => Object.assign(g, saved) };
}
