/**
 * The signal a check receives. Node reports an exception thrown by an
 * `abort` listener as an uncaught exception (on the next tick, out of reach
 * of any try/catch around `abort()`), so a check's own listener could crash
 * the process at its timeout. The signal stays a real AbortSignal (fetch and
 * every other API accept it), but its `addEventListener` wraps each listener,
 * and {@link abortCheck} wraps an `onabort` handler just before aborting:
 * what they throw goes to `report` instead. Listeners on signals derived
 * from it (`AbortSignal.any`) are the check's own business.
 */

const GUARD = Symbol('conductor-health.check-signal');

interface Guard {
  report: (error: unknown) => void;
  /** Listener → its wrapper, made on first use, so removeEventListener finds it. */
  wrapped: WeakMap<object, (event: Event) => void> | undefined;
}
type Guarded = AbortSignal & { [GUARD]?: Guard };
type Listener = ((event: Event) => unknown) | { handleEvent(event: Event): unknown } | null | undefined;

// Typed loosely: invalid listeners are passed on as given, for the platform to refuse.
const baseAdd = EventTarget.prototype.addEventListener as (this: EventTarget, type: string, listener: unknown, options?: object | boolean) => void;
const baseRemove = EventTarget.prototype.removeEventListener as (this: EventTarget, type: string, listener: unknown, options?: object | boolean) => void;

function guarded(guard: Guard, listener: object): (this: unknown, event: Event) => void {
  return function (this: unknown, event: Event) {
    try {
      if (typeof listener === 'function') (listener as (e: Event) => unknown).call(this, event);
      else (listener as { handleEvent(event: Event): unknown }).handleEvent(event);
    } catch (error) {
      guard.report(error);
    }
  };
}

function add(this: Guarded, type: string, listener: Listener, options?: object | boolean): void {
  const guard = this[GUARD]!;
  if ((typeof listener !== 'object' && typeof listener !== 'function') || listener === null) {
    baseAdd.call(this, type, listener, options);
    return;
  }
  guard.wrapped ??= new WeakMap();
  let wrapper = guard.wrapped.get(listener);
  if (wrapper === undefined) guard.wrapped.set(listener, (wrapper = guarded(guard, listener)));
  baseAdd.call(this, type, wrapper, options);
}

function remove(this: Guarded, type: string, listener: Listener, options?: object | boolean): void {
  const wrapper = listener ? this[GUARD]!.wrapped?.get(listener) : undefined;
  baseRemove.call(this, type, wrapper ?? listener, options);
}

/** `controller.signal`, made safe to hand to a check: listener errors go to `report`. */
export function checkSignal(controller: AbortController, report: (error: unknown) => void): AbortSignal {
  const signal = controller.signal as Guarded;
  // Plain assignments: a few ns per check (an accessor for onabort would cost ~150 ns; see abortCheck).
  signal[GUARD] = { report, wrapped: undefined };
  signal.addEventListener = add;
  signal.removeEventListener = remove;
  return signal;
}

/** Aborts a check's controller, its `onabort` handler guarded like its listeners. */
export function abortCheck(controller: AbortController, reason: unknown): void {
  const signal = controller.signal as Guarded;
  const guard = signal[GUARD];
  const handler = signal.onabort;
  if (guard !== undefined && typeof handler === 'function') signal.onabort = guarded(guard, handler);
  controller.abort(reason);
}
