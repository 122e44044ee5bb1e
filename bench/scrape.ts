// Benchmark of the /metrics rendering: ExpositionSerializer against the stock
// PrometheusSerializer, prom-client 15 and a plain loop writing the same text
// (the floor), for the package's series at 1,000 and 10,000 platforms.
//
//   node bench/scrape.ts            full run: 1,000 and 10,000 platforms, 7 rounds (~1 min)
//   node bench/scrape.ts --quick    1,000 platforms, 5 rounds (~5 s)
//
// Per platform: health_check_total × 2 statuses, one 10-bucket
// health_check_duration_seconds histogram, circuit_breaker_state × 3 states,
// plugin_failure_total × 1 error type — recorded through the package's own
// initMetrics() helpers on a real MeterProvider, collected once by a
// PrometheusExporter. Every contender renders that same collection (prom-client
// renders its own registry holding the same series and values), so the figures
// compare rendering only; collect() is timed on its own.
//
// Contenders are interleaved inside every round (order rotated) so drift hits
// them alike, with a full GC before each sample so none pays for another's
// garbage; a sample is the mean of enough calls to last ~25 ms; the figure is
// the median over the rounds, the warm-up round dropped. "Values changed"
// alternates between two collections of the same series in which every series
// moved, so each scrape re-renders every value (the worst case for the cache).
// It reports; it asserts only that every contender writes the text it should.
import { createServer, get, Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzip as gzipCallback } from 'node:zlib';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ExpositionSerializer } from '../src/telemetry/exposition/serializer.ts';
import { BREAKER_STATE_LABELS } from '../src/core/breaker-state.ts';
import { DURATION_BUCKETS_SECONDS, initMetrics, METRIC_NAMES, seriesPerPlatform } from '../src/core/metrics.ts';

const gzip = promisify(gzipCallback);

/** One reported figure: ours, the peer's, and ours / peer; `goal`/`met` on the rows the goals are about. */
export interface ScrapeBenchRow {
  figure: string;
  ours: number;
  peer: number;
  peerName: string;
  ratio: number;
  unit: string;
  goal?: string;
  met?: boolean;
}

/** The goals: at most a quarter of prom-client's time and twice the floor's. */
const GOAL_VS_PROM_CLIENT = 0.25;
const GOAL_VS_FLOOR = 2;

type Task = () => unknown;

// A full GC before every sample, so no contender pays for the garbage of the
// one that ran before it (the stock serializer leaves ~100 MB at 10,000
// platforms). The flag must be set before a context is created to expose `gc`.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timeOnce(task: Task): Promise<number> {
  const start = performance.now();
  await task();
  return performance.now() - start;
}

/**
 * Median ms per call of each contender. Round 0 warms up and sizes the number
 * of calls per sample (so fast contenders are not measured at timer
 * resolution); it is dropped.
 */
async function race(contenders: Record<string, Task>, rounds: number, sampleMs = 25): Promise<Record<string, number>> {
  const names = Object.keys(contenders);
  const reps: Record<string, number> = {};
  const samples: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (const name of names) {
    const task = contenders[name]!;
    await timeOnce(task); // first call: JIT, caches
    const ms = await timeOnce(task);
    reps[name] = Math.max(1, Math.min(200, Math.ceil(sampleMs / Math.max(ms, 0.01))));
  }
  for (let round = 0; round <= rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      const task = contenders[name]!;
      const n = reps[name]!;
      collectGarbage();
      const start = performance.now();
      for (let r = 0; r < n; r++) await task();
      if (round > 0) samples[name]!.push((performance.now() - start) / n);
    }
  }
  return Object.fromEntries(names.map((k) => [k, median(samples[k]!)]));
}

/** Deterministic pseudo-random durations, so every run (and every contender) sees the same values. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Fixture {
  platforms: number;
  exporter: PrometheusExporter;
  provider: MeterProvider;
  collected: ResourceMetrics;
  /** A second collection of the same series where every series changed value since `collected`. */
  collectedNext: ResourceMetrics;
  registry: Registry;
  floor: () => string;
  stockText: string;
}

/** The same series, values included, in an OTel MeterProvider and in a prom-client Registry. */
async function buildFixture(platforms: number): Promise<Fixture> {
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  // Cardinality limits as src/telemetry.ts sizes them (the SDK default, 2,000, would overflow).
  const provider = new MeterProvider({
    readers: [exporter],
    views: Object.entries(seriesPerPlatform()).map(([instrumentName, perPlatform]) => ({
      instrumentName,
      aggregationCardinalityLimit: platforms * perPlatform + 1,
    })),
  });
  const otel = initMetrics({ meter: provider.getMeter('conductor-health') });

  const registry = new Registry();
  const checks = new Counter({ name: METRIC_NAMES.healthCheck, help: 'checks', labelNames: ['platform', 'status'], registers: [registry] });
  const duration = new Histogram({
    name: METRIC_NAMES.duration,
    help: 'duration',
    labelNames: ['platform'],
    buckets: [...DURATION_BUCKETS_SECONDS],
    registers: [registry],
  });
  const breaker = new Gauge({ name: METRIC_NAMES.breakerState, help: 'state', labelNames: ['platform', 'state'], registers: [registry] });
  const failures = new Counter({ name: METRIC_NAMES.pluginFailure, help: 'failures', labelNames: ['platform', 'error_type'], registers: [registry] });

  const random = lcg(42);
  for (let p = 0; p < platforms; p++) {
    const platform = `platform-${String(p).padStart(5, '0')}`;
    for (const status of ['success', 'failure'] as const) {
      for (let k = 0; k < 3; k++) {
        const seconds = random() * 3;
        otel.recordHealthCheck(platform, status, seconds);
        checks.inc({ platform, status });
        duration.observe({ platform }, seconds);
      }
    }
    otel.setBreakerState(platform, 'CLOSED');
    for (const state of BREAKER_STATE_LABELS) breaker.set({ platform, state }, state === 'closed' ? 1 : 0);
    otel.recordPluginFailure(platform, 'ETIMEDOUT');
    failures.inc({ platform, error_type: 'ETIMEDOUT' });
  }

  const collected = (await exporter.collect()).resourceMetrics;
  // Every series moves: counters and histograms get one more observation, breakers flip.
  for (let p = 0; p < platforms; p++) {
    const platform = `platform-${String(p).padStart(5, '0')}`;
    otel.recordHealthCheck(platform, 'success', random() * 3);
    otel.recordHealthCheck(platform, 'failure', random() * 3);
    otel.setBreakerState(platform, 'OPEN');
    otel.recordPluginFailure(platform, 'ETIMEDOUT');
  }
  const collectedNext = (await exporter.collect()).resourceMetrics;
  const stockText = new PrometheusSerializer(undefined, false, undefined, false, true).serialize(collected);
  return { platforms, exporter, provider, collected, collectedNext, registry, floor: floorRenderer(stockText), stockText };
}

/**
 * The floor: the same text written by a plain loop from arrays of
 * precomputed `name{labels} ` strings and numbers — no lookups, no escaping.
 * The arrays are cut out of the stock text, so the floor writes the very same bytes.
 */
function floorRenderer(text: string): () => string {
  const prefixes: string[] = [];
  const values: number[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    if (line.startsWith('#')) {
      prefixes.push(line);
      values.push(Number.NaN);
      continue;
    }
    const space = line.lastIndexOf(' ');
    const raw = line.slice(space + 1);
    prefixes.push(line.slice(0, space + 1));
    values.push(raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw));
  }
  const headers = prefixes.map((p) => p.startsWith('#'));
  return () => {
    let out = '';
    for (let i = 0; i < prefixes.length; i++) {
      if (headers[i]) {
        out += prefixes[i] + '\n';
      } else {
        const v = values[i]!;
        out += prefixes[i]! + (v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : `${v}`) + '\n';
      }
    }
    return out;
  };
}

/** A loopback server rendering `/<contender>` on every GET, as `/metrics` does. */
async function startServer(routes: Record<string, () => Promise<string>>): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').slice(1);
    const gz = path.endsWith('+gzip');
    const route = routes[gz ? path.slice(0, -5) : path];
    if (route === undefined) {
      response.writeHead(404).end();
      return;
    }
    void route().then(async (text) => {
      if (gz) {
        const body = await gzip(text, { level: 1 });
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-encoding': 'gzip' }).end(body);
      } else {
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** GET and read the whole body (inflating it when gzipped, as Prometheus does); resolves with the body size. */
function fetchBody(agent: Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent, headers: { 'accept-encoding': 'gzip' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve(response.headers['content-encoding'] === 'gzip' ? gunzipSync(body).length : body.length);
      });
      response.on('error', reject);
    }).on('error', reject);
  });
}

async function benchPlatforms(platforms: number, rounds: number): Promise<ScrapeBenchRow[]> {
  const fx = await buildFixture(platforms);
  const stock = new PrometheusSerializer(undefined, false, undefined, false, true);
  const warm = new ExpositionSerializer();
  // Alternates between the two collections: every value differs from the previous scrape's.
  const moving = new ExpositionSerializer();
  let flip = false;
  const movingScrape = (): string => moving.serialize((flip = !flip) ? fx.collectedNext : fx.collected);
  const stockNext = new PrometheusSerializer(undefined, false, undefined, false, true).serialize(fx.collectedNext);
  for (let i = 0; i < 3; i++) {
    if (movingScrape() !== (flip ? stockNext : fx.stockText)) throw new Error('ExpositionSerializer output differs from stock (changing values)');
  }

  // Every contender must write what it claims to: ours and the floor the stock bytes.
  if (warm.serialize(fx.collected) !== fx.stockText) throw new Error('ExpositionSerializer output differs from stock');
  if (warm.serialize(fx.collected) !== fx.stockText) throw new Error('ExpositionSerializer (warm) output differs from stock');
  if (fx.floor() !== fx.stockText) throw new Error('floor output differs from stock');
  const promText = await fx.registry.metrics();
  const mb = (s: string): string => (Buffer.byteLength(s) / 1e6).toFixed(2);
  console.log(
    `${platforms} platforms: ${fx.stockText.split('\n').length - 1} lines, ${mb(fx.stockText)} MB (prom-client ${mb(promText)} MB, no target_info), cache ${warm.size} series`,
  );

  const t = await race(
    {
      stock: () => stock.serialize(fx.collected),
      ours: () => warm.serialize(fx.collected),
      moving: movingScrape,
      cold: () => new ExpositionSerializer().serialize(fx.collected),
      promClient: () => fx.registry.metrics(),
      floor: () => fx.floor(),
      collect: () => fx.exporter.collect(),
      // What `/metrics` pays before the socket: the text encoded to UTF-8 (flattening the rope included).
      oursEncoded: () => Buffer.from(movingScrape()),
      promEncoded: async () => Buffer.from(await fx.registry.metrics()),
      floorEncoded: () => Buffer.from(fx.floor()),
    },
    rounds,
  );

  const { server, port } = await startServer({
    ours: async () => movingScrape(),
    stock: async () => stock.serialize(fx.collected),
    promClient: () => fx.registry.metrics(),
    floor: async () => fx.floor(),
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const http = await race(
    {
      ours: () => fetchBody(agent, port, '/ours'),
      oursGzip: () => fetchBody(agent, port, '/ours+gzip'),
      stock: () => fetchBody(agent, port, '/stock'),
      promClient: () => fetchBody(agent, port, '/promClient'),
      floor: () => fetchBody(agent, port, '/floor'),
    },
    rounds,
  );
  agent.destroy();
  await new Promise((resolve) => server.close(resolve));

  // What the cache costs: heap retained by a warm serializer (prefixes, memoised lines, entries).
  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  const measured = new ExpositionSerializer();
  measured.serialize(fx.collectedNext);
  measured.serialize(fx.collected);
  collectGarbage();
  const cacheMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
  const textMb = Buffer.byteLength(fx.stockText) / 1e6;
  await fx.provider.shutdown();

  const n = platforms.toLocaleString('en-US');
  const row = (figure: string, ours: number, peer: number, peerName: string, goal?: number): ScrapeBenchRow => ({
    figure: `${n} platforms: ${figure}`,
    ours: round2(ours),
    peer: round2(peer),
    peerName,
    ratio: Math.round((ours / peer) * 1000) / 1000,
    unit: 'ms',
    ...(goal === undefined ? {} : { goal: `≤ ${goal}×`, met: ours / peer <= goal }),
  });
  const P = GOAL_VS_PROM_CLIENT;
  const F = GOAL_VS_FLOOR;
  return [
    row('serialize, warm, values unchanged', t.ours!, t.promClient!, 'prom-client registry.metrics()', P),
    row('serialize, warm, values unchanged', t.ours!, t.floor!, 'floor (plain loop)', F),
    row('serialize, warm, every value changed', t.moving!, t.promClient!, 'prom-client registry.metrics()', P),
    row('serialize, warm, every value changed', t.moving!, t.floor!, 'floor (plain loop)', F),
    row('serialize, warm, every value changed', t.moving!, t.stock!, 'stock PrometheusSerializer'),
    row('serialize, cold (first scrape)', t.cold!, t.stock!, 'stock PrometheusSerializer'),
    row('serialize + UTF-8 encode, values changed', t.oursEncoded!, t.promEncoded!, 'prom-client + encode', P),
    row('serialize + UTF-8 encode, values changed', t.oursEncoded!, t.floorEncoded!, 'floor + encode', F),
    row('collect() alone (not ours; for scale)', t.collect!, t.moving!, 'our serialize, values changed'),
    row('metrics() = collect + serialize, changed', t.collect! + t.moving!, t.collect! + t.stock!, 'collect + stock'),
    row('HTTP GET loopback, values changed', http.ours!, http.promClient!, 'prom-client over HTTP', P),
    row('HTTP GET loopback, values changed', http.ours!, http.floor!, 'floor over HTTP', F),
    row('HTTP GET loopback, values changed', http.ours!, http.stock!, 'stock over HTTP'),
    row('HTTP GET gzip level 1 (incl. gunzip)', http.oursGzip!, http.ours!, 'ours uncompressed'),
    { ...row(`heap retained by the warm cache (${measured.size} series)`, cacheMb, textMb, 'size of the exposition text'), unit: 'MB' },
  ];
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Runs every figure: 1,000 platforms, plus 10,000 unless quick. */
export async function runScrapeBench({ quick }: { quick: boolean }): Promise<ScrapeBenchRow[]> {
  const rounds = quick ? 5 : 7;
  const rows: ScrapeBenchRow[] = [];
  for (const platforms of quick ? [1_000] : [1_000, 10_000]) rows.push(...(await benchPlatforms(platforms, rounds)));
  return rows;
}

function printTable(rows: ScrapeBenchRow[]): void {
  const width = Math.max(...rows.map((r) => r.figure.length));
  const peerWidth = Math.max(...rows.map((r) => r.peerName.length));
  const cell = (v: number): string => String(v).padStart(9);
  console.log(`${'figure'.padEnd(width)} ${'ours'.padStart(9)} ${'peer'.padStart(9)} ${'ratio'.padStart(9)}  unit  ${'peer'.padEnd(peerWidth)}  goal`);
  for (const r of rows) {
    const goal = r.goal === undefined ? '' : `${r.goal} ${r.met ? 'met' : 'NOT met'}`;
    console.log(`${r.figure.padEnd(width)} ${cell(r.ours)} ${cell(r.peer)} ${cell(r.ratio)}  ${r.unit.padEnd(4)}  ${r.peerName.padEnd(peerWidth)}  ${goal}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  console.log(`/metrics rendering bench (${quick ? 'quick' : 'full'}), Node ${process.version}`);
  const start = performance.now();
  printTable(await runScrapeBench({ quick }));
  console.log(`done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
