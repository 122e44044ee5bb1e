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
 * labels off) — the configuration `startTelemetry()` uses. The differential
 * test in `test/telemetry/exposition.test.ts` holds it to that. The
 * rendering pieces are text.ts, what is kept between scrapes series-cache.ts.
 */
import { diag, type Attributes } from '@opentelemetry/api';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type Histogram, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { histogramLines, newFamilyCache, newHistogramEntry, resetKind, sameNumbers, sweepEntries, type FamilyCache, type HistogramEntry, type SingleEntry } from './series-cache.ts';
import type { Family } from './text.ts';
import { bucketPrefixes, flat, linePrefix, prometheusName, renderHeader, renderLabels, toPrometheusType, valueString, withValidLabelKeys } from './text.ts';

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

