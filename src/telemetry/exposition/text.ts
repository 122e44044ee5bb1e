/**
 * The Prometheus text of metric families, piece by piece: escaping, names,
 * labels, line prefixes, headers and histogram buckets. Verbatim ports of
 * the stock serializer's private functions (exporter-prometheus 0.301,
 * PrometheusSerializer.ts); they only run on a cache miss, so they stay
 * simple and obviously equivalent.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

// ---------------------------------------------------------------------------
// Rendering helpers: verbatim ports of the stock serializer's private
// functions (exporter-prometheus 0.301, PrometheusSerializer.ts). They only
// run on a cache miss, so they stay simple and obviously equivalent.
// ---------------------------------------------------------------------------

/** HELP/UNIT escaping: backslash and newline (not quotes). */
export function escapeString(str: string): string {
  return str.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** Label value escaping; non-string values are JSON-encoded first, like stock. */
export function escapeAttributeValue(val: AttributeValue | undefined = ''): string {
  const str = typeof val === 'string' ? val : JSON.stringify(val);
  // Most values need nothing: one scan instead of three replaces.
  if (!NEEDS_ESCAPE.test(str)) return str;
  return escapeString(str).replace(/"/g, '\\"');
}

const INVALID_CHARACTER = /[^a-z0-9_]/gi;
const MULTIPLE_UNDERSCORES = /_{2,}/g;

/** Metric and label names: anything outside `[a-zA-Z0-9_]` becomes `_`, runs of `_` collapse. */
export function sanitizeName(name: string): string {
  return name.replace(INVALID_CHARACTER, '_').replace(MULTIPLE_UNDERSCORES, '_');
}

/** Same as stock `valueString`: ±Infinity spelled the Prometheus way, everything else `${value}`. */
export function valueString(value: number): string {
  return value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : `${value}`;
}

export type PrometheusType = 'counter' | 'gauge' | 'histogram' | 'untyped';

export function toPrometheusType(metric: MetricData): PrometheusType {
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
export function prometheusName(metric: MetricData): { name: string } | { error: string } {
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
export function validKeys(attributes: Attributes): Attributes {
  if (!Object.keys(attributes).some(startsWithDigit)) return attributes;
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [startsWithDigit(k) ? `_${k}` : k, v]));
}

/**
 * The input of the stock serializer, which writes a label name that starts
 * with a digit as it is (Prometheus then rejects the whole scrape), with such
 * keys given a leading `_` as {@link labelName} does.
 */
export function withValidLabelKeys(resourceMetrics: ResourceMetrics): ResourceMetrics {
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

export function labelName(key: string): string {
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
export function renderLabels(attributes: Attributes): string {
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
export function flat(parts: string[]): string {
  return parts.join('');
}

/** `\nname{labels} ` — a cached line prefix. The newline leads so a line is one concatenation: prefix + value. */
export function linePrefix(name: string, labels: string): string {
  return labels.length > 0 ? flat(['\n', name, '{', labels, '} ']) : flat(['\n', name, ' ']);
}


export function renderHeader(family: Family): string {
  const { name } = family;
  const unit = family.unit ? `\n# UNIT ${name} ${escapeString(family.unit)}` : '';
  return `\n# HELP ${name} ${escapeString(family.help || 'description missing')}${unit}\n# TYPE ${name} ${family.type}`;
}


export function bucketLabels(boundaries: readonly number[], countsLength: number): string[] {
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

export function bucketPrefixes(name: string, labels: string, boundaries: readonly number[], countsLength: number): string[] {
  const bucketName = `${name}_bucket`;
  const separator = labels.length > 0 ? ',' : '';
  return bucketLabels(boundaries, countsLength).map((le) => flat(['\n', bucketName, '{', labels, separator, 'le="', escapeAttributeValue(le), '"} ']));
}

/** A family as assembled for one scrape (mirrors stock's `_collectMetricFamilies`). */
export interface Family {
  readonly name: string;
  readonly type: PrometheusType;
  help: string;
  unit: string;
  readonly metrics: MetricData[];
}
