/**
 * The one way to subscribe to this package's events: `on(event, listener)`
 * returns the function that unsubscribes (`off(event, listener)` does the
 * same). The monitor, the breaker and the resource monitor all use it.
 *
 * Two promises to listeners. A listener that throws is reported, never
 * thrown into whoever caused the event, and the other listeners still hear
 * it. Events arrive in the order they happened: an event raised by a
 * listener (a `transition` listener that calls `reset()`) waits until every
 * listener has heard the one being delivered.
 */
import { checkFunction } from './validate.ts';

/** Event names and the arguments each delivers. */
export type EventMap = { [event: string]: unknown[] };

/** A listener of `event`. */
export type Listener<E extends EventMap, K extends keyof E> = (...args: E[K]) => void;

/** Subscribing, as every event source of this package offers it. */
export interface Subscribable<E extends EventMap> {
  /** Calls `listener` on every `event` from now on; returns the function that unsubscribes. */
  on<K extends keyof E>(event: K, listener: Listener<E, K>): () => void;
  /** Unsubscribes `listener` from `event` (no-op when it was not subscribed). */
  off<K extends keyof E>(event: K, listener: Listener<E, K>): void;
  /** Listeners of `event` now. */
  listenerCount(event: keyof E): number;
}

/** A listener as kept: its arguments are checked where it subscribes. */
type Stored = (...args: unknown[]) => void;

/** What a listener threw, with the event it was hearing. */
export type ListenerErrorReporter = (error: unknown, event: string) => void;

/** An event source; the owner emits, everyone else subscribes. */
export class Emitter<E extends EventMap> implements Subscribable<E> {
  // Made on the first subscription: 10,000 breakers that nobody listens to pay nothing.
  #listeners: Map<keyof E, Stored[]> | undefined;
  #queue: Array<() => void> | undefined;
  #delivering = false;
  readonly #report: ListenerErrorReporter;

  /** @param report hears what a listener throws */
  constructor(report: ListenerErrorReporter) {
    this.#report = report;
  }

  on<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    checkFunction('listener', listener);
    this.#listeners ??= new Map();
    const list = this.#listeners.get(event) ?? [];
    // A new array: a delivery under way keeps the list it started with.
    this.#listeners.set(event, [...list, listener as unknown as Stored]);
    return () => this.off(event, listener);
  }

  off<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    const list = this.#listeners?.get(event);
    const index = list?.indexOf(listener as unknown as Stored) ?? -1;
    if (list === undefined || index < 0) return;
    const rest = list.filter((_, i) => i !== index);
    if (rest.length > 0) this.#listeners!.set(event, rest);
    else this.#listeners!.delete(event);
  }

  listenerCount(event: keyof E): number {
    return this.#listeners?.get(event)?.length ?? 0;
  }

  /** Drops every listener (the source is gone for good). */
  clear(): void {
    this.#listeners = undefined;
    this.#queue = undefined;
  }

  /** Whether anyone listens to `event` (so the owner may skip building its arguments). */
  hasListeners(event: keyof E): boolean {
    return this.#listeners?.has(event) === true;
  }

  /** Delivers `event` to its listeners, after any delivery under way has finished. */
  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const list = this.#listeners?.get(event);
    if (list === undefined) return;
    const deliver = () => {
      for (const listener of list) {
        try {
          listener(...(args as unknown[]));
        } catch (error) {
          this.#report(error, String(event));
        }
      }
    };
    if (this.#delivering) {
      (this.#queue ??= []).push(deliver);
      return;
    }
    this.#delivering = true;
    try {
      deliver();
      for (let next = this.#queue?.shift(); next !== undefined; next = this.#queue?.shift()) next();
    } finally {
      this.#delivering = false;
    }
  }
}
