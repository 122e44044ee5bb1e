/**
 * The platform rows as the open pages have them, in order: updates address a
 * row by its index here and carry only what changed — the rows that came and
 * went, and the fields that changed in the others.
 */
import type { CheckSample, PlatformReport } from '../../monitor/report.ts';
import { rowChange, type PlatformView, type RowChange } from './status-view.ts';

/** One row: its platform, the breaker it had (registered again, a platform has a new one), its view as sent and the report's row it was made from. */
interface Row {
  readonly name: string;
  readonly breaker: unknown;
  view: PlatformView;
  from: PlatformReport;
}

/** How the rows changed: `removed` are indices before the change, `added` indices after it, both ascending. */
export interface RowSetChange {
  removed: number[];
  added: number[];
}

/** The breaker of a platform now, by which a platform registered again is told from the one it replaced. */
export type BreakerOf = (platform: string) => unknown;

export class PageRows {
  #rows: Row[] = [];
  #index = new Map<string, number>();
  readonly #breakerOf: BreakerOf;

  constructor(breakerOf: BreakerOf) {
    this.#breakerOf = breakerOf;
  }

  /** Row index of `platform` on the pages, if they show it. */
  indexOf(platform: string): number | undefined {
    return this.#index.get(platform);
  }

  /** Starts over from a snapshot: `views[i]` shows `platforms[i]`. */
  reset(platforms: readonly PlatformReport[], views: PlatformView[]): void {
    this.#set(platforms.map((p, i) => ({ name: p.platform, breaker: this.#breakerOf(p.platform), view: views[i]!, from: p })));
  }

  /**
   * Brings the rows to `platforms` (the report's order): a row whose platform
   * left, or was registered again, goes; a new platform's row comes at its
   * place with `viewOf(i)`, the view for `platforms[i]`. The rows kept stay in
   * their order, so removing then inserting in index order gives the pages the
   * report's order. Undefined when the rows are the same platforms.
   */
  follow(platforms: readonly PlatformReport[], viewOf: (i: number) => PlatformView): RowSetChange | undefined {
    const old = this.#rows;
    const same = platforms.length === old.length && platforms.every((p, i) => old[i]!.name === p.platform && old[i]!.breaker === this.#breakerOf(p.platform));
    if (same) return undefined;
    const change: RowSetChange = { removed: [], added: [] };
    const rows: Row[] = [];
    // The next old row that may still be kept: a kept row is never before one kept earlier.
    let next = 0;
    platforms.forEach((p, i) => {
      const at = this.#index.get(p.platform);
      const breaker = this.#breakerOf(p.platform);
      if (at !== undefined && at >= next && old[at]!.breaker === breaker) {
        for (; next < at; next += 1) change.removed.push(next);
        rows.push(old[at]!);
        next = at + 1;
      } else {
        change.added.push(i);
        rows.push({ name: p.platform, breaker, view: viewOf(i), from: p });
      }
    });
    for (; next < old.length; next += 1) change.removed.push(next);
    this.#set(rows);
    return change;
  }

  /** The view of row `i` as it is sent now. */
  view(i: number): PlatformView {
    return this.#rows[i]!.view;
  }

  /** Whether row `i` was made from a report's row saying what `p` says: then its view would be the same. */
  unchanged(i: number, p: PlatformReport): boolean {
    const from = this.#rows[i]!.from as unknown as Record<string, unknown>;
    const now = p as unknown as Record<string, unknown>;
    for (const key in now) if (key !== 'history' && now[key] !== from[key]) return false;
    for (const key in from) if (key !== 'history' && !(key in now) && from[key] !== undefined) return false;
    return true;
  }

  /** Row `i` becomes `next`, made from `from`; returns what changed besides its checks (`newest` the newest check the update brings), or undefined. */
  update(i: number, from: PlatformReport, next: PlatformView, newest?: CheckSample): RowChange | undefined {
    const row = this.#rows[i]!;
    const change = rowChange(i, row.view, next, newest);
    row.view = next;
    row.from = from;
    return change;
  }

  #set(rows: Row[]): void {
    this.#rows = rows;
    this.#index = new Map(rows.map((r, i) => [r.name, i]));
  }
}
