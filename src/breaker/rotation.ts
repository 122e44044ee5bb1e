/**
 * The rotation tick every breaker shares: opossum's rolling window and the
 * never-aborted signal handed to calls nothing can abort.
 */
import { EventEmitter, setMaxListeners } from 'node:events';

/**
 * The one piece of module state. Each opossum breaker rotates its rolling
 * window on a timer; alone, each would own a 1 s interval, and 10,000 of
 * them keep ~18 % of a core busy while idle. Instead one unref'd interval,
 * alive while at least one breaker is, ticks every breaker's own small
 * emitter (one shared emitter would make opossum scan all its listeners on
 * every new breaker and every shutdown: quadratic at 10,000 platforms).
 * A rotation a minute is enough: it only drops the latencies opossum
 * records for half-open trials, which would otherwise pile up for ever. The
 * same tick renews the shared never-aborted signal, so abort listeners that
 * called functions forget to remove do not accumulate.
 */
export const ticker = {
  emitters: new Set<EventEmitter>(),
  interval: undefined as ReturnType<typeof setInterval> | undefined,
  /** Handed to every call that nothing can abort: `new AbortController()` per call costs ~4.4 µs, 40x a bare call. */
  signal: neverAbortedSignal(),
};
export const ROTATE_EVERY_MS = 60_000;

function neverAbortedSignal(): AbortSignal {
  const signal = new AbortController().signal;
  // Many concurrent calls may each listen on it (fetch does); that is not a leak.
  setMaxListeners(0, signal);
  return signal;
}

/** Joins the shared rotation; returns the breaker's own emitter for opossum's `rotateBucketController`. */
export function acquireTicker(): EventEmitter {
  const emitter = new EventEmitter();
  ticker.emitters.add(emitter);
  if (ticker.interval === undefined) {
    ticker.interval = setInterval(() => {
      ticker.signal = neverAbortedSignal();
      for (const e of ticker.emitters) e.emit('rotate');
    }, ROTATE_EVERY_MS);
    ticker.interval.unref?.();
  }
  return emitter;
}

export function releaseTicker(emitter: EventEmitter): void {
  ticker.emitters.delete(emitter);
  if (ticker.emitters.size === 0) {
    clearInterval(ticker.interval);
    ticker.interval = undefined;
  }
}
