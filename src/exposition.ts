/**
 * A drop-in, cached replacement for the Prometheus text rendering of
 * `@opentelemetry/exporter-prometheus`.
 *
 * The stock `PrometheusSerializer` re-renders every line from scratch on each
 * scrape: `Object.entries` plus three regex replaces per label, an
 * `Object.assign` per histogram bucket, and nested template strings. With tens
 * of thousands of series that dominates `/metrics`. Between two scrapes,
 * though, almost nothing but the numbers changes, so this serializer renders
 * the text up to the value of each line (`name{labels} `) once per series and
 * keeps it; a warm scrape only formats numbers and concatenates.
 *
 * The output is byte-identical to
 * `new PrometheusSerializer(undefined, false, undefined, false, true)` (no
 * prefix, no timestamps, no resource constant labels, `target_info` on, scope
 * labels off) — the configuration `src/telemetry.ts` uses. The differential
 * test in `test/exposition.test.ts` holds it to that.
 */
import { diag, type Attributes, type AttributeValue } from '@opentelemetry/api';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type Histogram, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

// ---------------------------------------------------------------------------
// Rendering helpers: verbatim ports of the stock serializer's private
// functions (exporter-prometheus 0.301, PrometheusSerializer.ts). They only
// run on a cache miss, so they stay simple and obviously equivalent.
// ---------------------------------------------------------------------------

/** HELP/UNIT escaping: backslash and newline (not quotes). */
function escapeString(str: string): string {
  return str.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** Label value escaping; non-string values are JSON-encoded first, like stock. */
function escapeAttributeValue(val: AttributeValue | undefined = ''): string {
  const str = typeof val === 'string' ? val : JSON.stringify(val);
  // Most values need nothing: one scan instead of three replaces.
  if (!NEEDS_ESCAPE.test(str)) return str;
  return escapeString(str).replace(/"/g, '\\"');
}

const INVALID_CHARACTER = /[^a-z0-9_]/gi;
const MULTIPLE_UNDERSCORES = /_{2,}/g;

/** Metric and label names: anything outside `[a-zA-Z0-9_]` becomes `_`, runs of `_` collapse. */
function sanitizeName(name: string): string {
  return name.replace(INVALID_CHARACTER, '_').replace(MULTIPLE_UNDERSCORES, '_');
}

/** Same as stock `valueString`: ±Infinity spelled the Prometheus way, everything else `${value}`. */
function valueString(value: number): string {
  return value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : `${value}`;
}

type PrometheusType = 'counter' | 'gauge' | 'histogram' | 'untyped';

function toPrometheusType(metric: MetricData): PrometheusType {
  switch (metric.dataPointType) {
    case DataPointType.SUM:
      return metric.isMonotonic ? 'counter' : 'gauge';
    case DataPointType.GAUGE:
      return 'gauge';
    case DataPointType.HISTOGRAM:
      return 'histogram';
    default:
      return 'untyped';
  }
}

/**
 * The family name stock would use, or an error message when stock drops the
 * metric (it then logs that message with `diag.error`).
 */
function prometheusName(metric: MetricData): { name: string } | { error: string } {
  const raw = metric.descriptor.name;
  let name = sanitizeName(escapeString(raw));
  if (name === '') return { error: `Normalization for metric "${raw}" resulted in empty name` };
  if (name === '_') return { error: `Normalization for metric "${raw}" resulted in an invalid name: "_"` };
  if (name[0]! >= '0' && name[0]! <= '9') name = `_${name}`;
  if (!name.endsWith('_total') && metric.dataPointType === DataPointType.SUM && metric.isMonotonic) name += '_total';
  return { name };
}

const startsWithDigit = (key: string): boolean => key.charCodeAt(0) >= 48 && key.charCodeAt(0) <= 57;

/** The attributes with every key that starts with a digit given a leading `_`; the same object when none does. */
function validKeys(attributes: Attributes): Attributes {
  if (!Object.keys(attributes).some(startsWithDigit)) return attributes;
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [startsWithDigit(k) ? `_${k}` : k, v]));
}

/**
 * The input of the stock serializer, which writes a label name that starts
 * with a digit as it is (Prometheus then rejects the whole scrape), with such
 * keys given a leading `_` as {@link labelName} does.
 */
function withValidLabelKeys(resourceMetrics: ResourceMetrics): ResourceMetrics {
  const { resource } = resourceMetrics;
  return {
    // The getter is read as often as stock reads it: it may log.
    resource: Object.create(resource, { attributes: { get: () => validKeys(resource.attributes) } }) as typeof resource,
    scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({
      ...scope,
      metrics: scope.metrics.map((metric) => ({
        ...metric,
        dataPoints: metric.dataPoints.map((point) => ({ ...point, attributes: validKeys(point.attributes) })),
      })) as MetricData[],
    })),
  };
}

/** Sanitized label names: a handful of distinct keys recur in every series. Bounded in case keys are unbounded. */
const labelNames = new Map<string, string>();

function labelName(key: string): string {
  let name = labelNames.get(key);
  if (name === undefined) {
    if (labelNames.size >= 1_000) labelNames.clear();
    name = sanitizeName(key);
    // A label name cannot start with a digit (stock writes it as is, and Prometheus drops the whole scrape).
    if (startsWithDigit(name)) name = `_${name}`;
    labelNames.set(key, name);
  }
  return name;
}

/** `k="v",k2="v2"` exactly as stock's `stringify` writes the inside of the braces. */
function renderLabels(attributes: Attributes): string {
  let labels = '';
  for (const [key, val] of Object.entries(attributes)) {
    labels += `${labels.length > 0 ? ',' : ''}${labelName(key)}="${escapeAttributeValue(val)}"`;
  }
  return labels;
}

/**
 * Concatenates into a flat string. `+` and template literals make V8 ropes
 * (ConsStrings) of their pieces; a cached prefix that is a rope of five pieces
 * makes the final text a rope five times deeper, and flattening it when the
 * response is written took twice as long as for a flat-prefixed text (measured:
 * 5.3 vs 2.6 ms at 1,000 platforms). `join` of two or more non-empty parts
 * copies them into one sequential string.
 */
function flat(parts: string[]): string {
  return parts.join('');
}

/** `\nname{labels} ` — a cached line prefix. The newline leads so a line is one concatenation: prefix + value. */
function linePrefix(name: string, labels: string): string {
  return labels.length > 0 ? flat(['\n', name, '{', labels, '} ']) : flat(['\n', name, ' ']);
}

// ---------------------------------------------------------------------------
// Cache structures
// ---------------------------------------------------------------------------

/** One cached series of a sum or gauge. */
interface SingleEntry {
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
interface HistogramEntry {
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

type Entry = SingleEntry | HistogramEntry;

/** Everything cached for one metric family (one exposition name). */
interface FamilyCache {
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

/** A family as assembled for one scrape (mirrors stock's `_collectMetricFamilies`). */
interface Family {
  readonly name: string;
  readonly type: PrometheusType;
  help: string;
  unit: string;
  readonly metrics: MetricData[];
}

/** The serializer configuration this class reproduces. */
function stockSerializer(): PrometheusSerializer {
  return new PrometheusSerializer(undefined, false, undefined, false, true);
}

const NO_REGISTERED_METRICS = '# no registered metrics';

/**
 * Renders OpenTelemetry `ResourceMetrics` as Prometheus text exposition,
 * byte-identical to `new PrometheusSerializer(undefined, false, undefined,
 * false, true).serialize(...)`, caching every series' rendered labels between
 * scrapes.
 *
 * Keep one instance per reader and call {@link ExpositionSerializer.serialize}
 * on every scrape: the cache is keyed by the attribute objects the SDK hands
 * out, which (for the cumulative temporality Prometheus uses) are the same
 * objects scrape after scrape. Series absent from a scrape are dropped from
 * the cache at the end of it, so memory follows the live series count.
 *
 * Assumption, shared with the SDK (which hashes attributes when they are
 * recorded and keeps the object): an attributes object is not mutated after
 * it has been recorded.
 *
 * Inputs it does not render itself — two metrics with the same exposition
 * name but different TYPE/HELP/UNIT, or a metric named `target_info` — are
 * handed to a stock serializer for that whole scrape, so the output (and the
 * `diag` warnings) stay exactly the stock ones.
 */
export class ExpositionSerializer {
  private _gen = 0;
  private readonly _families = new Map<string, FamilyCache>();
  private _targetInfoAttributes: Attributes | undefined;
  private _targetInfo = '';
  /** Stock serializer for the fallback; dropped after a clean scrape, see `serialize`. */
  private _stock: PrometheusSerializer | undefined;
  private _fallbacks = 0;

  /** Number of series currently cached (for tests and monitoring of the cache itself). */
  get size(): number {
    let n = 0;
    for (const family of this._families.values()) n += family.entries.size;
    return n;
  }

  /** How many scrapes were delegated to the stock serializer (conflicting families, a `target_info` metric). */
  get fallbacks(): number {
    return this._fallbacks;
  }

  /** Forgets every cached series and header. */
  clear(): void {
    this._families.clear();
    this._targetInfoAttributes = undefined;
    this._targetInfo = '';
  }

  /**
   * Renders one scrape. Same text as the stock serializer for the same input;
   * the first call for a set of series costs about what stock does, later calls
   * mostly format numbers.
   */
  serialize(resourceMetrics: ResourceMetrics): string {
    const families = this._collectFamilies(resourceMetrics);
    if (families === undefined) {
      this._fallbacks++;
      this._stock ??= stockSerializer();
      return this._stock.serialize(withValidLabelKeys(resourceMetrics));
    }
    // Stock remembers the metadata conflicts it warned about in the previous
    // scrape to not repeat them; a clean scrape resets that memory, so the
    // next fallback must start from a fresh instance too.
    this._stock = undefined;

    const gen = ++this._gen;
    // Stock reads `resource.attributes` twice per scrape (constant-label filter,
    // then target_info); the getter can log, so read it the same number of times.
    void resourceMetrics.resource.attributes;
    let out = this._renderTargetInfo(resourceMetrics.resource.attributes);
    const targetInfoLength = out.length;

    for (const family of families) {
      let cache = this._families.get(family.name);
      if (cache === undefined) {
        cache = newFamilyCache(family);
        this._families.set(family.name, cache);
      } else if (cache.help !== family.help || cache.unit !== family.unit || cache.type !== family.type) {
        cache.help = family.help;
        cache.unit = family.unit;
        cache.type = family.type;
        cache.header = renderHeader(family);
      }
      cache.gen = gen;
      cache.touched = 0;

      // Stock writes the header with the first metric of the family that
      // renders anything, and the header alone counts as something: so it is
      // always written once, before the family's first metric, even without points.
      out += cache.header;
      const metrics = family.metrics;
      cache.positional.length = metrics.length;
      for (let m = 0; m < metrics.length; m++) {
        const metric = metrics[m]!;
        switch (metric.dataPointType) {
          case DataPointType.SUM:
          case DataPointType.GAUGE:
            out += this._renderSingle(cache, m, family.name, metric.dataPoints, gen);
            break;
          case DataPointType.HISTOGRAM:
            out += this._renderHistogram(cache, m, family.name, metric.dataPoints, gen);
            break;
          default:
            // Exponential histograms (and anything newer): stock writes only the header.
            diag.error(`Unrecognizable DataPointType: ${metric.dataPointType} for metric "${family.name}"`);
        }
      }
      if (cache.touched < cache.entries.size) sweepEntries(cache, gen);
    }

    for (const [name, cache] of this._families) {
      if (cache.gen !== gen) this._families.delete(name);
    }

    // target_info has no newline before it and each line after it starts with
    // one; stock ends every metric with a newline instead, so add the last one.
    if (out.length === targetInfoLength) return `${out}\n${NO_REGISTERED_METRICS}`;
    return `${out}\n`;
  }

  /**
   * Groups metrics by exposition name in first-appearance order, like stock.
   * Returns undefined when stock must handle the scrape (see the class doc).
   */
  private _collectFamilies(resourceMetrics: ResourceMetrics): Family[] | undefined {
    const byName = new Map<string, Family>();
    const families: Family[] = [];
    let errors: string[] | undefined;
    for (const scopeMetrics of resourceMetrics.scopeMetrics) {
      for (const metric of scopeMetrics.metrics) {
        const named = prometheusName(metric);
        if ('error' in named) {
          (errors ??= []).push(named.error);
          continue;
        }
        const name = named.name;
        // Stock merges such a metric into its resource family; rare enough to not replicate.
        if (name === 'target_info') return undefined;
        const type = toPrometheusType(metric);
        const family = byName.get(name);
        if (family === undefined) {
          const created: Family = { name, type, help: metric.descriptor.description, unit: metric.descriptor.unit, metrics: [metric] };
          byName.set(name, created);
          families.push(created);
        } else if (family.type !== type) {
          return undefined; // stock drops the family and warns
        } else {
          family.metrics.push(metric);
        }
      }
    }
    for (const family of families) {
      // Stock keeps the first non-empty HELP/UNIT and warns on a different one.
      for (let m = 1; m < family.metrics.length; m++) {
        const { description, unit } = family.metrics[m]!.descriptor;
        if (description) {
          if (!family.help) family.help = description;
          else if (family.help !== description) return undefined;
        }
        if (unit) {
          if (!family.unit) family.unit = unit;
          else if (family.unit !== unit) return undefined;
        }
      }
    }
    // Logged only once it is certain stock will not run (and log them itself).
    if (errors) for (const error of errors) diag.error(error);
    return families;
  }

  /** `target_info{resource attributes} 1`, re-rendered only when the resource's attributes object changes. */
  private _renderTargetInfo(attributes: Attributes): string {
    if (attributes !== this._targetInfoAttributes) {
      const labels = renderLabels(attributes);
      this._targetInfoAttributes = attributes;
      // The one block without a leading line break: the text starts with it.
      this._targetInfo = flat(['# HELP target_info Target metadata\n# TYPE target_info gauge', linePrefix('target_info', labels), '1']);
    }
    return this._targetInfo;
  }

  /** Lines of one sum or gauge metric: cached prefix + value per data point. */
  private _renderSingle(cache: FamilyCache, m: number, name: string, points: MetricData['dataPoints'], gen: number): string {
    if (cache.kind !== DataPointType.SUM && cache.kind !== DataPointType.GAUGE) resetKind(cache, DataPointType.GAUGE);
    const entries = cache.entries;
    const positional = (cache.positional[m] ??= []);
    let out = '';
    const n = points.length;
    for (let i = 0; i < n; i++) {
      const point = points[i]!;
      const attributes = point.attributes;
      let entry = positional[i] as SingleEntry | undefined;
      if (entry === undefined || entry.attributes !== attributes) {
        entry = entries.get(attributes) as SingleEntry | undefined;
        if (entry === undefined) {
          const prefix = linePrefix(name, renderLabels(attributes));
          entry = { attributes, gen: 0, prefix, lastValue: Number.NaN, line: '' };
          entries.set(attributes, entry);
        }
        positional[i] = entry;
      }
      if (entry.gen !== gen) {
        entry.gen = gen;
        cache.touched++;
      }
      const value = point.value as number;
      if (value !== entry.lastValue) {
        entry.lastValue = value;
        entry.line = entry.prefix + valueString(value);
      }
      out += entry.line;
    }
    positional.length = n;
    return out;
  }

  /** Lines of one histogram metric: `_count`, `_sum` (when defined), then the cumulative buckets. */
  private _renderHistogram(cache: FamilyCache, m: number, name: string, points: MetricData['dataPoints'], gen: number): string {
    if (cache.kind !== DataPointType.HISTOGRAM) resetKind(cache, DataPointType.HISTOGRAM);
    const entries = cache.entries;
    const positional = (cache.positional[m] ??= []);
    let boundariesCopy: readonly number[] = [];
    const copyOf = (boundaries: readonly number[]): readonly number[] =>
      sameNumbers(boundaries, boundariesCopy) ? boundariesCopy : (boundariesCopy = boundaries.slice());
    let out = '';
    const n = points.length;
    for (let i = 0; i < n; i++) {
      const point = points[i]!;
      const attributes = point.attributes;
      const histogram = point.value as Histogram;
      const { boundaries, counts } = histogram.buckets;
      let entry = positional[i] as HistogramEntry | undefined;
      if (entry === undefined || entry.attributes !== attributes) {
        entry = entries.get(attributes) as HistogramEntry | undefined;
        if (entry === undefined) {
          entry = newHistogramEntry(attributes, name, boundaries, counts.length, copyOf);
          entries.set(attributes, entry);
        }
        positional[i] = entry;
      }
      if (entry.gen !== gen) {
        entry.gen = gen;
        cache.touched++;
      }
      if (entry.countsLength !== counts.length || !sameNumbers(boundaries, entry.boundaries)) {
        entry.bucketPrefixes = bucketPrefixes(name, entry.labels, boundaries, counts.length);
        entry.boundaries = copyOf(boundaries);
        entry.countsLength = counts.length;
        entry.memo = false;
      }
      out += histogramLines(entry, histogram);
    }
    positional.length = n;
    return out;
  }
}

/** The cache entry of one histogram series, its line prefixes rendered once. */
function newHistogramEntry(
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
function histogramLines(entry: HistogramEntry, histogram: Histogram): string {
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

function newFamilyCache(family: Family): FamilyCache {
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
function renderHeader(family: Family): string {
  const { name } = family;
  const unit = family.unit ? `\n# UNIT ${name} ${escapeString(family.unit)}` : '';
  return `\n# HELP ${name} ${escapeString(family.help || 'description missing')}${unit}\n# TYPE ${name} ${family.type}`;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A family switched between histogram and sum/gauge (an instrument was replaced): its entries are of the wrong shape. */
function resetKind(cache: FamilyCache, kind: DataPointType): void {
  cache.kind = kind;
  cache.entries.clear();
  cache.positional.length = 0;
  cache.touched = 0;
}

/** Drops the series of a family that this scrape did not write. */
function sweepEntries(cache: FamilyCache, gen: number): void {
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
function bucketLabels(boundaries: readonly number[], countsLength: number): string[] {
  const les: string[] = [];
  let infiniteBoundaryDefined = false;
  for (let idx = 0; idx < countsLength; idx++) {
    const upperBound = boundaries[idx];
    if (upperBound === undefined && infiniteBoundaryDefined) break;
    if (upperBound === Infinity) infiniteBoundaryDefined = true;
    les.push(upperBound === undefined || upperBound === Infinity ? '+Inf' : String(upperBound));
  }
  return les;
}

function bucketPrefixes(name: string, labels: string, boundaries: readonly number[], countsLength: number): string[] {
  const bucketName = `${name}_bucket`;
  const separator = labels.length > 0 ? ',' : '';
  return bucketLabels(boundaries, countsLength).map((le) => flat(['\n', bucketName, '{', labels, separator, 'le="', escapeAttributeValue(le), '"} ']));
}
