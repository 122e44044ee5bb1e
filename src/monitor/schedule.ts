/**
 * When each platform is due. Slots are absolute times on the monotonic clock
 * (`performance.now()`: a wall clock that steps back or forward moves no slot)
 * — slot k of a platform is `epoch + offset + k × interval` — so lateness
 * never accumulates into drift. Offsets spread the platforms' starts evenly across the interval (or
 * a fixed `staggerMs` apart). A min-heap keyed by the next due time lets one
 * timer serve any number of platforms, each with its own interval.
 */

/** A slot handed out by {@link Schedule.takeDue}. */
export interface DueSlot {
  key: string;
  /** The planned start of this slot, on the monotonic clock (`performance.now()`). */
  slotAt: number;
  /** Whole slots that fell entirely inside a stall before this one. */
  skippedSlots: number;
}

interface Entry {
  key: string;
  /** The platform's own interval before the degraded-mode factor. */
  baseIntervalMs: number;
  intervalMs: number;
  due: number;
  lastSlotAt: number | undefined;
  /** Position in the plan: breaks ties between equal due times, so starts keep registration order. */
  seq: number;
  heapIndex: number;
}

export class Schedule {
  readonly #entries = new Map<string, Entry>();
  readonly #heap: Entry[] = [];
  readonly #staggerMs: number | undefined;
  #epoch = 0;
  #factor = 1;

  /** `staggerMs` undefined spreads platform i of N to i × interval / N. */
  constructor(staggerMs: number | undefined) {
    this.#staggerMs = staggerMs;
  }

  /** Number of platforms in the plan. */
  get size(): number {
    return this.#entries.size;
  }

  /** Adds a platform; it gets a slot at the next {@link Schedule.plan}. */
  add(key: string, intervalMs: number): void {
    this.#entries.set(key, { key, baseIntervalMs: intervalMs, intervalMs, due: Infinity, lastSlotAt: undefined, seq: 0, heapIndex: -1 });
  }

  /** Removes a platform; the others keep their slots until the next {@link Schedule.plan}. */
  remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    if (entry.heapIndex >= 0) this.#removeAt(entry.heapIndex);
  }

  /** Stretches every interval by `factor` (degraded mode) at the next {@link Schedule.plan}. */
  setFactor(factor: number): void {
    this.#factor = factor;
  }

  /**
   * Assigns offsets in insertion order and each platform's next slot at or
   * after `now`. Starting sets the epoch; later calls (after a platform joins
   * or leaves, or the factor changes) keep it, and never put a platform's next
   * slot less than half an interval after its previous one.
   */
  plan(now: number, starting = false): void {
    if (starting) this.#epoch = now;
    const count = this.#entries.size;
    this.#heap.length = 0;
    let index = 0;
    for (const entry of this.#entries.values()) {
      const interval = entry.baseIntervalMs * this.#factor;
      entry.intervalMs = interval;
      const offset = this.#staggerMs === undefined ? (index * interval) / count : index * this.#staggerMs;
      let earliest = now;
      if (entry.lastSlotAt !== undefined) earliest = Math.max(earliest, entry.lastSlotAt + interval / 2);
      const base = this.#epoch + offset;
      const cycles = earliest <= base ? 0 : Math.ceil((earliest - base) / interval);
      entry.due = base + cycles * interval;
      entry.seq = index;
      entry.heapIndex = this.#heap.length;
      this.#heap.push(entry);
      index += 1;
    }
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i -= 1) this.#down(i);
  }

  /** The first slot of `key` at or after `at`, or undefined when it has none planned. */
  slotAtOrAfter(key: string, at: number): number | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || !Number.isFinite(entry.due)) return undefined;
    return entry.due >= at ? entry.due : entry.due + Math.ceil((at - entry.due) / entry.intervalMs) * entry.intervalMs;
  }

  /** When the earliest slot is due, or undefined with nothing planned. */
  nextDueAt(): number | undefined {
    return this.#heap[0]?.due;
  }

  /**
   * Hands out every slot due at `now`, earliest first, and moves each platform
   * to its next slot. After a stall longer than an interval only the latest
   * missed slot is handed out; the ones before it are reported as skipped.
   */
  takeDue(now: number): DueSlot[] {
    const due: DueSlot[] = [];
    for (let top = this.#heap[0]; top !== undefined && top.due <= now; top = this.#heap[0]) {
      let slotAt = top.due;
      let skippedSlots = 0;
      if (now - slotAt >= top.intervalMs) {
        skippedSlots = Math.floor((now - slotAt) / top.intervalMs);
        slotAt += skippedSlots * top.intervalMs;
      }
      top.lastSlotAt = slotAt;
      top.due = slotAt + top.intervalMs;
      this.#down(0);
      due.push({ key: top.key, slotAt, skippedSlots });
    }
    return due;
  }

  #removeAt(index: number): void {
    const last = this.#heap.pop()!;
    if (index < this.#heap.length) {
      this.#heap[index] = last;
      last.heapIndex = index;
      this.#down(index);
      this.#up(index);
    }
  }

  #less(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const a = this.#heap[i]!;
    const b = this.#heap[j]!;
    this.#heap[i] = b;
    this.#heap[j] = a;
    a.heapIndex = j;
    b.heapIndex = i;
  }

  #down(i: number): void {
    const n = this.#heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(this.#heap[l]!, this.#heap[m]!)) m = l;
      if (r < n && this.#less(this.#heap[r]!, this.#heap[m]!)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }

  #up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(this.#heap[i]!, this.#heap[p]!)) return;
      this.#swap(i, p);
      i = p;
    }
  }
}
