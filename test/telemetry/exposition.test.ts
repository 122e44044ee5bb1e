// Differential tests: ExpositionSerializer must write exactly the bytes of
// `new PrometheusSerializer(undefined, false, undefined, false, true)` (the
// configuration src/telemetry.ts uses) for the same ResourceMetrics, scrape
// after scrape on one instance, and log the same diag messages.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diag, DiagLogLevel, ValueType, type Attributes, type AttributeValue, type DiagLogger } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  MeterProvider,
  type DataPoint,
  type Histogram,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { ExpositionSerializer } from '../../src/telemetry/exposition/serializer.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';

const NUM_RUNS = 200;

function stockSerializer(): PrometheusSerializer {
  return new PrometheusSerializer(undefined, false, undefined, false, true);
}

// --- diag capture: both serializers must log the same messages -------------

let captured: string[] | undefined;
const capture = (level: string) => (message: string) => {
  captured?.push(`${level}: ${message}`);
};
const logger: DiagLogger = {
  error: capture('error'),
  warn: capture('warn'),
  info: capture('info'),
  debug: capture('debug'),
  verbose: capture('verbose'),
};
diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
after(() => diag.disable());

/** Runs `render` and returns its text with the diag messages it logged. */
function logged(render: () => string): { text: string; messages: string[] } {
  captured = [];
  try {
    return { text: render(), messages: captured };
  } finally {
    captured = undefined;
  }
}

/**
 * Stock's text with its one known defect mended: a label name that starts
 * with a digit (which Prometheus rejects, dropping the scrape) gets a leading
 * `_`, as ours writes it.
 */
function validLabelNames(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.startsWith('#')) return line;
      let out = '';
      let quoted = false;
      for (let i = 0; i < line.length; i += 1) {
        const c = line[i]!;
        if (quoted) {
          if (c === '\\') {
            out += c + (line[i + 1] ?? '');
            i += 1;
            continue;
          }
          if (c === '"') quoted = false;
        } else if (c === '"') quoted = true;
        else if ((line[i - 1] === '{' || line[i - 1] === ',') && c >= '0' && c <= '9') out += '_';
        else if (c === ' ') return out + line.slice(i);
        out += c;
      }
      return out;
    })
    .join('\n');
}

/** One scrape through both; asserts same text and same diag messages; returns the text. */
function assertSameScrape(ours: ExpositionSerializer, stock: PrometheusSerializer, resourceMetrics: ResourceMetrics, what: string): string {
  const a = logged(() => ours.serialize(resourceMetrics));
  const b = logged(() => stock.serialize(resourceMetrics));
  assert.equal(a.text, validLabelNames(b.text), `${what}: text differs from the stock serializer`);
  assert.deepEqual(a.messages, b.messages, `${what}: diag messages differ from the stock serializer`);
  return a.text;
}

// --- arbitraries -------------------------------------------------------------

/** Strings that need escaping, unicode (lone surrogates included) and exposition syntax. */
const labelValue = fc.oneof(
  fc.constantFrom('', '"', '\\', '\n', '{}', '}', 'a"b\\c\nd', '\\n', '} 1\n# HELP x', 'é', '日本語', '😀', ' ', '=', ',', 'le'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);

/** Non-string attribute values: stock JSON-encodes them. */
const otherAttributeValue: fc.Arbitrary<AttributeValue> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  fc.array(fc.integer(), { maxLength: 3 }),
);

/** Numbers that stress formatting: NaN, ±Inf, ±0, huge, tiny, negative. */
const value = fc.oneof(
  fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.1, 1e21, 1e-7, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, Number.MAX_SAFE_INTEGER),
  fc.double(),
  fc.integer(),
);

const boundaries = fc.oneof(
  fc.constantFrom<number[]>([], [0], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], [-1, 0, 1.5, 1e21]),
  fc.uniqueArray(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 6 }).map((b) => b.sort((x, y) => x - y)),
);

// --- real SDK data -----------------------------------------------------------

type Op =
  | { kind: 'counter' | 'updown' | 'histogram' | 'gaugeHistogram' | 'exponential' | 'otherScope'; p: number; v: number }
  | { kind: 'gauge'; p: number; state: number; v: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('counter', 'updown', 'histogram', 'gaugeHistogram', 'exponential', 'otherScope'), p: fc.nat(7), v: value }),
  fc.record({ kind: fc.constant('gauge'), p: fc.nat(7), state: fc.nat(2), v: value }),
) as fc.Arbitrary<Op>;

const sdkScenario = fc.record({
  platforms: fc.array(fc.record({ name: labelValue, extra: fc.option(otherAttributeValue, { nil: undefined }) }), { minLength: 1, maxLength: 8 }),
  boundaries,
  // The same exposition name from a second scope: merged by stock when it agrees, dropped (TYPE) or first-wins (HELP) when not.
  otherScope: fc.constantFrom('same', 'no-help', 'other-help', 'gauge'),
  resource: fc.dictionary(fc.constantFrom('service.name', 'host.name', 'k8s.pod.name', 'weird key'), labelValue, { maxKeys: 3 }),
  scrapes: fc.array(
    fc.record({
      ops: fc.array(op, { maxLength: 25 }),
      observed: fc.array(fc.record({ p: fc.nat(7), v: value }), { maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

type SdkScenario = typeof sdkScenario extends fc.Arbitrary<infer T> ? T : never;

const STATES = ['closed', 'open', 'half_open'];

async function runSdkScenario(sc: SdkScenario): Promise<void> {
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    resource: resourceFromAttributes(sc.resource),
    readers: [exporter],
    views: [
      // A gauge aggregated as a histogram: its points have no sum (stock omits `_sum`).
      { instrumentName: 'gauge_as_histogram', aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: sc.boundaries } } },
      // Stock writes only the header of an exponential histogram and logs an error.
      { instrumentName: 'exponential_seconds', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } },
    ],
  });
  try {
    const meter = provider.getMeter('conductor-health', '1.0.0');
    const other = provider.getMeter('another-scope');
    const counter = meter.createCounter('health_check', { description: 'Checks, with a \\ backslash\nand a newline' });
    const updown = meter.createUpDownCounter('in_flight', { description: 'In flight', unit: '{check}' });
    const gauge = meter.createGauge('circuit_breaker_state', { valueType: ValueType.DOUBLE });
    const histogram = meter.createHistogram('health_check_duration_seconds', {
      description: 'Duration',
      unit: 's',
      advice: { explicitBucketBoundaries: sc.boundaries },
    });
    const gaugeHistogram = meter.createGauge('gauge_as_histogram');
    const exponential = meter.createHistogram('exponential_seconds');
    const otherScope =
      sc.otherScope === 'gauge'
        ? other.createGauge('health_check_total')
        : other.createCounter('health_check', { description: sc.otherScope === 'same' ? 'Checks, with a \\ backslash\nand a newline' : sc.otherScope === 'no-help' ? '' : 'Different' });
    let observed: Array<{ p: number; v: number }> = [];
    meter.createObservableGauge('system_resources', { description: 'Observed' }).addCallback((result) => {
      for (const o of observed) result.observe(o.v, attrs(o.p));
    });

    const attrs = (p: number): Attributes => {
      const platform = sc.platforms[p % sc.platforms.length]!;
      // A fresh object every call, as most callers do; the SDK keeps the first one per series.
      return platform.extra === undefined ? { platform: platform.name } : { platform: platform.name, 'extra.attr': platform.extra };
    };

    const ours = new ExpositionSerializer();
    const stock = stockSerializer();
    for (const [i, scrape] of sc.scrapes.entries()) {
      for (const o of scrape.ops) {
        switch (o.kind) {
          case 'counter':
            counter.add(o.v, attrs(o.p));
            break;
          case 'updown':
            updown.add(o.v, attrs(o.p));
            break;
          case 'gauge':
            gauge.record(o.v, { ...attrs(o.p), state: STATES[o.state]! });
            break;
          case 'histogram':
            histogram.record(o.v, attrs(o.p));
            break;
          case 'gaugeHistogram':
            gaugeHistogram.record(o.v, attrs(o.p));
            break;
          case 'exponential':
            exponential.record(o.v, attrs(o.p));
            break;
          case 'otherScope':
            if ('add' in otherScope) otherScope.add(o.v, attrs(o.p));
            else otherScope.record(o.v, attrs(o.p));
            break;
        }
      }
      observed = scrape.observed;
      const { resourceMetrics } = await exporter.collect();
      assertSameScrape(ours, stock, resourceMetrics, `scrape ${i}`);
      // Twice on the same collection: the warm path (every line from the cache) too.
      assertSameScrape(ours, stock, resourceMetrics, `scrape ${i} again`);
    }
  } finally {
    await provider.shutdown();
  }
}

// --- hand-built data: what the SDK never produces but a MetricProducer may ---

const NAMES = ['requests', 'requests_total', 'http.server.duration', 'Bad-Name', '1st', 'über', '_', '', 'target_info', 'a..b'];
const KEYS = ['platform', 'status', 'a.b', 'a_b', 'le', '', '0x', 'ключ'];

const attributesArb: fc.Arbitrary<Attributes> = fc.dictionary(
  fc.constantFrom(...KEYS),
  fc.oneof({ weight: 4, arbitrary: labelValue }, { weight: 1, arbitrary: otherAttributeValue }, { weight: 1, arbitrary: fc.constant(undefined) }),
  { maxKeys: 3 },
);

/** Boundaries as producers send them: sometimes with an explicit Infinity, sometimes not. */
const handBoundaries = fc.oneof(boundaries, boundaries.map((b) => [...b, Infinity]));

const histogramValue = (bounds: number[]): fc.Arbitrary<Histogram> =>
  fc.record({
    // counts.length normally is bounds + 1; stock copes with other lengths, so must we.
    counts: fc.array(fc.nat(1000), { minLength: Math.max(0, bounds.length - 1), maxLength: bounds.length + 2 }),
    count: fc.option(fc.nat(5000), { nil: undefined, freq: 8 }),
    sum: fc.option(value, { nil: undefined, freq: 3 }),
  }).map(({ counts, count, sum }) => ({ buckets: { boundaries: bounds, counts }, count: count as number, sum }));

interface SeriesTemplate {
  metric: number;
  attributes: number;
  fresh: boolean;
}

const handScenario = fc
  .record({
    metrics: fc.array(
      fc.record({
        name: fc.constantFrom(...NAMES),
        description: fc.constantFrom('', 'help', 'other help', 'a\\b\nc'),
        unit: fc.constantFrom('', 's', 'By'),
        type: fc.constantFrom(DataPointType.SUM, DataPointType.GAUGE, DataPointType.HISTOGRAM, DataPointType.EXPONENTIAL_HISTOGRAM),
        monotonic: fc.boolean(),
        scope: fc.nat(1),
        boundaries: handBoundaries,
      }),
      { minLength: 1, maxLength: 6 },
    ),
    attributePool: fc.array(attributesArb, { minLength: 1, maxLength: 8 }),
    scrapes: fc.array(
      fc.array(fc.record({ metric: fc.nat(5), attributes: fc.nat(7), fresh: fc.boolean() }), { maxLength: 20 }),
      { minLength: 1, maxLength: 5 },
    ),
    seed: fc.integer(),
  })
  .chain((sc) =>
    fc.record({
      sc: fc.constant(sc),
      // Values per scrape and series slot, drawn up front.
      singles: fc.array(fc.array(value, { minLength: 20, maxLength: 20 }), { minLength: sc.scrapes.length, maxLength: sc.scrapes.length }),
      histograms: fc.tuple(...sc.metrics.map((m) => fc.array(histogramValue(m.boundaries), { minLength: 20, maxLength: 20 }))),
    }),
  );

function descriptor(name: string, description: string, unit: string): MetricData['descriptor'] {
  return { name, description, unit, valueType: ValueType.DOUBLE };
}

/** One ResourceMetrics per scrape; attribute objects come from a shared pool (identity reused) or are fresh copies. */
function buildHandScrapes(input: typeof handScenario extends fc.Arbitrary<infer T> ? T : never): ResourceMetrics[] {
  const { sc, singles, histograms } = input;
  const resource = resourceFromAttributes({ 'service.name': 'hand "built"\n' });
  return sc.scrapes.map((series: SeriesTemplate[], s) => {
    const byMetric = sc.metrics.map(() => [] as DataPoint<unknown>[]);
    series.forEach((t, slot) => {
      const m = t.metric % sc.metrics.length;
      const pooled = sc.attributePool[t.attributes % sc.attributePool.length]!;
      const attributes = t.fresh ? { ...pooled } : pooled;
      const spec = sc.metrics[m]!;
      const v =
        spec.type === DataPointType.HISTOGRAM || spec.type === DataPointType.EXPONENTIAL_HISTOGRAM
          ? (histograms[m] as Histogram[])[slot]!
          : singles[s]![slot]!;
      byMetric[m]!.push({ attributes, startTime: [0, 0], endTime: [1, 0], value: v });
    });
    const scopes = [0, 1].map((scope) => ({
      scope: { name: `scope-${scope}` },
      metrics: sc.metrics.flatMap((spec, m) =>
        spec.scope !== scope || (byMetric[m]!.length === 0 && m % 2 === 1)
          ? []
          : [
              {
                descriptor: descriptor(spec.name, spec.description, spec.unit),
                aggregationTemporality: AggregationTemporality.CUMULATIVE,
                dataPointType: spec.type,
                isMonotonic: spec.monotonic,
                dataPoints: byMetric[m]!,
              } as unknown as MetricData,
            ],
      ),
    }));
    return { resource, scopeMetrics: scopes };
  });
}

// --- the tests ---------------------------------------------------------------

describe('ExpositionSerializer', () => {
  it('writes the stock bytes for real SDK data, scrape after scrape (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(sdkScenario, runSdkScenario), { numRuns: NUM_RUNS, seed: 1_207 });
  });

  it('writes the stock bytes for hand-built data with series appearing and disappearing (fast-check)', () => {
    fc.assert(
      fc.property(handScenario, (input) => {
        const ours = new ExpositionSerializer();
        const stock = stockSerializer();
        for (const [i, resourceMetrics] of buildHandScrapes(input).entries()) {
          const fallbacks = ours.fallbacks;
          assertSameScrape(ours, stock, resourceMetrics, `scrape ${i}`);
          assertSameScrape(ours, stock, resourceMetrics, `scrape ${i} again`);
          if (ours.fallbacks === fallbacks) {
            // No unbounded growth: at most one entry per data point of the last scrape.
            const points = resourceMetrics.scopeMetrics.reduce((n, s) => n + s.metrics.reduce((k, m) => k + m.dataPoints.length, 0), 0);
            assert.ok(ours.size <= points, `cache holds ${ours.size} series after a scrape of ${points} points`);
          }
        }
      }),
      { numRuns: NUM_RUNS, seed: 1_208 },
    );
  });

  it('drops cached series that disappeared and empties with the data', () => {
    const ours = new ExpositionSerializer();
    const stock = stockSerializer();
    const resource = resourceFromAttributes({ 'service.name': 'svc' });
    const a = { platform: 'a' };
    const b = { platform: 'b' };
    const c = { platform: 'c' };
    const scrape = (gauge: Attributes[], histogram: Attributes[]): ResourceMetrics => ({
      resource,
      scopeMetrics: [
        {
          scope: { name: 's' },
          metrics: [
            {
              descriptor: descriptor('state', 'State', ''),
              aggregationTemporality: AggregationTemporality.CUMULATIVE,
              dataPointType: DataPointType.GAUGE,
              dataPoints: gauge.map((attributes) => ({ attributes, startTime: [0, 0], endTime: [1, 0], value: 1 })),
            },
            {
              descriptor: descriptor('latency', 'Latency', 's'),
              aggregationTemporality: AggregationTemporality.CUMULATIVE,
              dataPointType: DataPointType.HISTOGRAM,
              dataPoints: histogram.map((attributes) => ({
                attributes,
                startTime: [0, 0],
                endTime: [1, 0],
                value: { buckets: { boundaries: [1], counts: [1, 2] }, count: 3, sum: 4 },
              })),
            },
          ],
        },
      ],
    });
    assertSameScrape(ours, stock, scrape([a, b, c], [a, b]), 'all');
    assert.equal(ours.size, 5);
    assertSameScrape(ours, stock, scrape([c], [b]), 'some gone');
    assert.equal(ours.size, 2);
    assertSameScrape(ours, stock, scrape([a, c], []), 'back again');
    assert.equal(ours.size, 2);
    const empty: ResourceMetrics = { resource, scopeMetrics: [] };
    assert.match(assertSameScrape(ours, stock, empty, 'no metrics'), /\n# no registered metrics$/);
    assert.equal(ours.size, 0);
  });

  it('keeps the cache across scrapes of a real provider and only re-renders what changed', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    const provider = new MeterProvider({ readers: [exporter] });
    const meter = provider.getMeter('m');
    const counter = meter.createCounter('checks');
    const histogram = meter.createHistogram('seconds', { advice: { explicitBucketBoundaries: [0.1, 1] } });
    const ours = new ExpositionSerializer();
    const stock = stockSerializer();
    for (let round = 0; round < 4; round++) {
      for (let p = 0; p < 50; p++) {
        // Every other platform moves each round; the rest are served from the memo.
        if (p % 2 === round % 2 || round === 0) {
          counter.add(1, { platform: `p${p}` });
          histogram.record(p / 25, { platform: `p${p}` });
        }
      }
      assertSameScrape(ours, stock, (await exporter.collect()).resourceMetrics, `round ${round}`);
      assert.equal(ours.size, 100);
    }
    assert.equal(ours.fallbacks, 0);
    await provider.shutdown();
  });

  it('re-renders a histogram whose arrays were mutated in place or whose boundaries changed', () => {
    const ours = new ExpositionSerializer();
    const stock = stockSerializer();
    const attributes = { platform: 'x' };
    const value: Histogram = { buckets: { boundaries: [1, 2], counts: [1, 0, 0] }, count: 1, sum: 0.5 };
    const resourceMetrics: ResourceMetrics = {
      resource: resourceFromAttributes({}),
      scopeMetrics: [
        {
          scope: { name: 's' },
          metrics: [
            {
              descriptor: descriptor('h', '', ''),
              aggregationTemporality: AggregationTemporality.CUMULATIVE,
              dataPointType: DataPointType.HISTOGRAM,
              dataPoints: [{ attributes, startTime: [0, 0], endTime: [1, 0], value }],
            },
          ],
        },
      ],
    };
    assertSameScrape(ours, stock, resourceMetrics, 'first');
    // Same count and sum, one observation moved between buckets, same array object.
    value.buckets.counts[0] = 0;
    value.buckets.counts[1] = 1;
    assertSameScrape(ours, stock, resourceMetrics, 'counts mutated in place');
    value.buckets.boundaries = [1, 2, Infinity];
    assertSameScrape(ours, stock, resourceMetrics, 'explicit Infinity boundary');
    value.buckets.boundaries[0] = 0.5;
    assertSameScrape(ours, stock, resourceMetrics, 'a boundary changed in place');
    value.buckets.boundaries.push(3);
    value.buckets.counts.push(7, 8);
    assertSameScrape(ours, stock, resourceMetrics, 'boundaries and counts grown in place');
    value.sum = undefined;
    assertSameScrape(ours, stock, resourceMetrics, 'sum gone');
  });

  it('hands conflicting families and a target_info metric to the stock serializer, diag warnings included', () => {
    const ours = new ExpositionSerializer();
    const stock = stockSerializer();
    const resource = resourceFromAttributes({ 'service.name': 'svc' });
    const metric = (name: string, type: DataPointType, description = '', unit = ''): MetricData =>
      ({
        descriptor: descriptor(name, description, unit),
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: type,
        isMonotonic: false,
        dataPoints: [{ attributes: { k: name }, startTime: [0, 0], endTime: [1, 0], value: 1 }],
      }) as MetricData;
    const two = (a: MetricData, b: MetricData): ResourceMetrics => ({
      resource,
      scopeMetrics: [
        { scope: { name: 'one' }, metrics: [a] },
        { scope: { name: 'two' }, metrics: [b] },
      ],
    });
    const typeConflict = two(metric('x', DataPointType.GAUGE), metric('x', DataPointType.HISTOGRAM));
    const helpConflict = two(metric('x', DataPointType.GAUGE, 'one'), metric('x', DataPointType.GAUGE, 'two', 's'));
    const clean = two(metric('x', DataPointType.GAUGE, 'one'), metric('x', DataPointType.GAUGE, '', 's'));
    const targetInfo = two(metric('target_info', DataPointType.GAUGE, 'mine'), metric('y', DataPointType.SUM));
    // Stock warns about a conflict once while it persists and again after a clean scrape.
    for (const [i, rm] of [typeConflict, typeConflict, helpConflict, clean, helpConflict, targetInfo, clean].entries()) {
      assertSameScrape(ours, stock, rm, `step ${i}`);
    }
    assert.equal(ours.fallbacks, 5);
  });

  it('logs what stock logs for names it cannot use and for exponential histograms', () => {
    const ours = new ExpositionSerializer();
    const stock = stockSerializer();
    const exponential = {
      descriptor: descriptor('exp', 'Exponential', 's'),
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
      dataPoints: [],
    } as unknown as MetricData;
    const rm: ResourceMetrics = {
      resource: resourceFromAttributes({}),
      scopeMetrics: [{ scope: { name: 's' }, metrics: [exponential, { ...exponential, descriptor: descriptor('_', '', '') }, { ...exponential, descriptor: descriptor('..', '', '') }] }],
    };
    const text = assertSameScrape(ours, stock, rm, 'odd metrics');
    assert.match(text, /# TYPE exp untyped\n$/);
  });

  it('passes promtool check metrics on a large randomized scrape', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'conductor "health"\n' }), readers: [exporter] });
    const meter = provider.getMeter('conductor-health');
    const checks = meter.createCounter('health_check_total', { description: 'Health checks' });
    const duration = meter.createHistogram('health_check_duration_seconds', {
      description: 'Duration',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] },
    });
    const state = meter.createGauge('circuit_breaker_state', { description: 'State' });
    const inFlight = meter.createUpDownCounter('checks_in_flight', { description: 'In flight' });
    // 1,500 distinct platform names, most of them needing escaping or outside ASCII.
    const names = [...new Set(fc.sample(labelValue, { seed: 20_240_601, numRuns: 4_000 }))].slice(0, 1_500);
    const values = fc.sample(value, { seed: 7, numRuns: names.length });
    names.forEach((platform, i) => {
      const v = values[i]!;
      checks.add(Math.abs(v) || 1, { platform, status: i % 2 ? 'success' : 'failure' });
      duration.record(Math.abs(v), { platform });
      state.record(v, { platform, state: STATES[i % 3]! });
      inFlight.add(-i, { platform });
    });
    const { resourceMetrics } = await exporter.collect();
    const ours = new ExpositionSerializer();
    const stock = stockSerializer();
    assertSameScrape(ours, stock, resourceMetrics, 'cold');
    const text = assertSameScrape(ours, stock, resourceMetrics, 'warm');
    assert.ok(text.length > 200_000, `only ${text.length} characters`);
    const result = await promtoolCheckMetrics(text);
    assert.equal(result.code, 0, result.output);
    await provider.shutdown();
  });
});
