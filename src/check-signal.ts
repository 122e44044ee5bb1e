/**
 * The signal a check receives. Node reports an exception thrown by an
 * `abort` listener as an uncaught exception (on the next tick, out of reach
 * of any try/catch around `abort()`), so a check's own listener could crash
 * the process at its timeout. This signal is a real AbortSignal (fetch and
 * every other API accept it) whose `addEventListener` and `onabort` wrap
 * each listener: what it throws goes to `report` instead. Listeners added to
 * signals derived from it (`AbortSignal.any`) are the check's own business.
 */

const GUARD = Symbol('conductor-health.check-signal');

interface Guard {
  report: (error: unknown) => void;
  wrapped: WeakMap<object, (event: Event) => void>;
  onabort: ((this: AbortSignal, event: Event) => unknown) | null;
}
type Guarded = AbortSignal & { [GUARD]: Guard };
type EventListener = (event: Event) => unknown;
type Listener = EventListener | { handleEvent(event: Event): unknown } | null | undefined;

// Typed loosely: invalid listeners are passed on as given, for the platform to refuse.
const baseAdd = EventTarget.prototype.addEventListener as (this: EventTarget, type: string, listener: unknown, options?: object | boolean) => void;
const baseRemove = EventTarget.prototype.removeEventListener as (this: EventTarget, type: string, listener: unknown, options?: object | boolean) => void;

function wrap(signal: Guarded, listener: object): (event: Event) => void {
  const guard = signal[GUARD];
  let wrapped = guard.wrapped.get(listener);
  if (wrapped === undefined) {
    wrapped = function (this: unknown, event: Event) {
      try {
        if (typeof listener === 'function') (listener as (e: Event) => unknown).call(this, event);
        else (listener as { handleEvent(event: Event): unknown }).handleEvent(event);
      } catch (error) {
        guard.report(error);
      }
    };
    guard.wrapped.set(listener, wrapped);
  }
  return wrapped;
}

function add(this: Guarded, type: string, listener: Listener, options?: object | boolean): void {
  // null and non-objects go through untouched, so the platform's own checks answer them.
  baseAdd.call(this, type, typeof listener === 'object' && listener !== null || typeof listener === 'function' ? wrap(this, listener) : listener, options);
}

function remove(this: Guarded, type: string, listener: Listener, options?: object | boolean): void {
  const wrapped = listener ? this[GUARD].wrapped.get(listener) : undefined;
  baseRemove.call(this, type, wrapped ?? listener, options);
}

const ONABORT: PropertyDescriptor = {
  get(this: Guarded) {
    return this[GUARD].onabort;
  },
  set(this: Guarded, handler: unknown) {
    const guard = this[GUARD];
    if (guard.onabort) remove.call(this, 'abort', guard.onabort as EventListener);
    guard.onabort = typeof handler === 'function' ? (handler as Guard['onabort']) : null;
    if (guard.onabort) add.call(this, 'abort', guard.onabort as EventListener);
  },
};

/** `controller.signal`, made safe to hand to a check: listener errors go to `report`. */
export function checkSignal(controller: AbortController, report: (error: unknown) => void): AbortSignal {
  const signal = controller.signal as Guarded;
  signal[GUARD] = { report, wrapped: new WeakMap(), onabort: null };
  signal.addEventListener = add;
  signal.removeEventListener = remove;
  Object.defineProperty(signal, 'onabort', ONABORT);
  return signal;
}
