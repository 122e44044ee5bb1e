import { OptionRangeError } from './errors.ts';

/**
 * A fixed-capacity ring: pushing past the capacity overwrites the oldest
 * item, so what it holds stays bounded however long the process runs.
 * The backing array grows up to the capacity as items arrive, so a platform
 * checked twice costs two slots, not the whole capacity.
 */
export class RingBuffer<T> {
  readonly #items: T[] = [];
  /** Where the next push goes once the ring is full (the oldest item). */
  #next = 0;
  /** The most items it keeps. */
  readonly capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new OptionRangeError('EOPTIONRANGE', `conductor-health: a ring needs a capacity of at least 1, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Items held now (at most {@link capacity}). */
  get length(): number {
    return this.#items.length;
  }

  /** Adds an item, dropping the oldest when full. */
  push(item: T): void {
    if (this.#items.length < this.capacity) {
      this.#items.push(item);
      return;
    }
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** The items, oldest first (a copy). */
  toArray(): T[] {
    return this.#next === 0 ? this.#items.slice() : [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }

  /** The newest item, if any. */
  last(): T | undefined {
    return this.#items.length === 0 ? undefined : this.#items[(this.#next + this.#items.length - 1) % this.#items.length];
  }
}
