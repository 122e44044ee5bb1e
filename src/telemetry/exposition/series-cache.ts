/**
 * What the serializer keeps between scrapes: per metric family, each
 * series' rendered line prefix and its last value, so a warm scrape mostly
 * compares numbers.
 */
import type { Attributes } from '@opentelemetry/api';
import { DataPointType, type Histogram } from '@opentelemetry/sdk-metrics';
import { bucketPrefixes, linePrefix, renderHeader, renderLabels, valueString, type Family, type PrometheusType } from './text.ts';

// ---------------------------------------------------------------------------
// Cache structures
// ---------------------------------------------------------------------------

/** One cached series of a sum or gauge. */
export interface SingleEntry {
  readonly attributes: Attributes;
  /** Scrape generation that last wrote this series; older ones are swept. */
  gen: number;
  /** `\nname{labels} `. */
  readonly prefix: string;
  /**
   * The line written last time and its value: an unchanged value (the usual
   * case between two scrapes) costs a comparison instead of a number
   * formatting. NaN never compares equal, so the initial NaN forces the first
   * render and a NaN value is simply re-rendered.
   */
  lastValue: number;
  line: string;
}

/** One cached series of an explicit-bucket histogram. */
export interface HistogramEntry {
  readonly attributes: Attributes;
  gen: number;
  /** Inside of the braces, kept to rebuild bucket prefixes when the boundaries change. */
  readonly labels: string;
  readonly countPrefix: string;
  readonly sumPrefix: string;
  /** One prefix per `_bucket` line stock writes, `le` included; see {@link bucketLabels}. */
  bucketPrefixes: string[];
  /**
   * A copy of the boundaries the bucket prefixes were built from, compared by
   * value each scrape (the SDK never changes them, a hand-made producer might,
   * in place). Entries built in one scrape share the copy when equal.
   */
  boundaries: readonly number[];
  /** `counts.length` they were built for: stock's line count depends on it too. */
  countsLength: number;
  /**
   * The lines written last time, valid while `memo` is set, with copies of the
   * numbers they came from. Between two scrapes most histograms received no
   * observation, and comparing 12 numbers is much cheaper than formatting and
   * concatenating 13 lines. Compared by value (a copy, not the SDK's array), so
   * a producer that mutates its arrays in place is still rendered correctly.
   */
  memo: boolean;
  lines: string;
  lastCount: number | undefined;
  lastSum: number | undefined;
  lastCounts: number[];
}

export type Entry = SingleEntry | HistogramEntry;

/** Everything cached for one metric family (one exposition name). */
export interface FamilyCache {
  gen: number;
  kind: DataPointType;
  /** Header inputs and the rendered `\n# HELP …\n# TYPE …` it produced. */
  help: string;
  unit: string;
  type: PrometheusType;
  header: string;
  /** Series by attributes object: the SDK keeps the first attributes object of a series for its lifetime. */
  readonly entries: Map<Attributes, Entry>;
  /**
   * Per metric of the family (by its index this scrape), the entries in last
   * scrape's data point order. The SDK emits series in a stable order, so
   * `positional[m][i].attributes === dataPoints[i].attributes` is the usual
   * case and skips the Map lookup.
   */
  readonly positional: Entry[][];
  /** Entries whose `gen` this scrape set; fewer than `entries.size` means some series vanished. */
  touched: number;
}



/** The cache entry of one histogram series, its line prefixes rendered once. */
export function newHistogramEntry(
  attributes: Attributes,
  name: string,
  boundaries: readonly number[],
  countsLength: number,
  copyOf: (boundaries: readonly number[]) => readonly number[],
): HistogramEntry {
  const labels = renderLabels(attributes);
  return {
    attributes,
    gen: 0,
    labels,
    countPrefix: linePrefix(`${name}_count`, labels),
    sumPrefix: linePrefix(`${name}_sum`, labels),
    bucketPrefixes: bucketPrefixes(name, labels, boundaries, countsLength),
    boundaries: copyOf(boundaries),
    countsLength,
    memo: false,
    lines: '',
    lastCount: undefined,
    lastSum: undefined,
    lastCounts: [],
  };
}

/** One histogram series' lines: the last rendering when nothing changed, else rendered and remembered. */
export function histogramLines(entry: HistogramEntry, histogram: Histogram): string {
  const { count, sum } = histogram;
  const counts = histogram.buckets.counts;
  // `===` is exact for rendering: equal numbers print the same (0 and -0
  // both print "0"), and NaN, never equal, is simply re-rendered.
  if (entry.memo && count === entry.lastCount && sum === entry.lastSum && sameNumbers(counts, entry.lastCounts)) return entry.lines;
  // Stock skips count and sum when `== null` (sum is undefined for
  // histograms of instruments that allow negative values).
  let lines = '';
  if (count != null) lines += entry.countPrefix + valueString(count);
  if (sum != null) lines += entry.sumPrefix + valueString(sum);
  const prefixes = entry.bucketPrefixes;
  let cumulative = 0;
  for (let b = 0; b < prefixes.length; b++) {
    cumulative += counts[b]!;
    lines += prefixes[b]! + valueString(cumulative);
  }
  entry.memo = true;
  entry.lines = lines;
  entry.lastCount = count;
  entry.lastSum = sum;
  const lastCounts = entry.lastCounts;
  if (lastCounts.length === counts.length) {
    for (let b = 0; b < counts.length; b++) lastCounts[b] = counts[b]!;
  } else {
    entry.lastCounts = counts.slice();
  }
  return lines;
}


export function newFamilyCache(family: Family): FamilyCache {
  return {
    gen: 0,
    kind: DataPointType.GAUGE,
    help: family.help,
    unit: family.unit,
    type: family.type,
    header: renderHeader(family),
    entries: new Map(),
    positional: [],
    touched: 0,
  };
}

/** `\n# HELP name help[\n# UNIT name unit]\n# TYPE name type`, with stock's placeholder for an empty HELP. */

export function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A family switched between histogram and sum/gauge (an instrument was replaced): its entries are of the wrong shape. */
export function resetKind(cache: FamilyCache, kind: DataPointType): void {
  cache.kind = kind;
  cache.entries.clear();
  cache.positional.length = 0;
  cache.touched = 0;
}

/** Drops the series of a family that this scrape did not write. */
export function sweepEntries(cache: FamilyCache, gen: number): void {
  for (const [attributes, entry] of cache.entries) {
    if (entry.gen !== gen) cache.entries.delete(attributes);
  }
}

/**
 * The `le` values of the `_bucket` lines stock writes for these boundaries and
 * this many counts: one per count, `+Inf` for a missing or infinite boundary,
 * and it stops at a count past the end once an explicit `Infinity` boundary
 * was seen (the SDK sometimes lists `Infinity`, sometimes not).
 */
