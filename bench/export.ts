// The trace path's cost: CPU per check at 2,000 checks/s (2,000 platforms @ 1 s)
// with everything a deployment has (span, metrics, breaker, schedule, and OTLP
// export to the real OpenTelemetry Collector, which forwards to a real Jaeger),
// against the same loop without telemetry; the CPU of a Prometheus scrape of
// those platforms, apart; and bytes per exported span, protobuf against JSON.
//
//   node bench/export.ts [--quick]      (needs the peers .ci/peers.sh builds)
//
// Each loop runs in its own child process, so every variant starts with fresh
// OpenTelemetry globals. The variants of a round run at the same time, on the
// same Collector: CPU time is counted per process, and whatever else this shared
// machine is doing then weighs on all of them alike. Figures are the median of
// the rounds; what telemetry adds is the median of each round's difference
// (variant − no telemetry, paired in the round), which drift moves less.
import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { HealthMonitor } from '../src/monitor/health-monitor.ts';
import type { HealthCheck } from '../src/monitor/check-run.ts';
import { silentLogger } from '../src/common/logger.ts';
import type { OtlpProtocol } from '../src/telemetry/otlp.ts';
import { startTelemetry } from '../src/telemetry/start-telemetry.ts';
import { startCollector, startJaeger } from '../test/helpers/peers.ts';
import { median, sig, type BenchRow } from './monitor.ts';

const SELF = fileURLToPath(import.meta.url);
const PLATFORMS = 2_000;
const INTERVAL_MS = 1_000;
const GOAL_FULL_US = 20;
const GOAL_SHARE_US = 12;
const ROUNDS = 5;

interface Variant {
  name: string;
  protocol?: OtlpProtocol;
  successSpanRatio?: number;
}

interface LoopResult {
  usPerCheck: number;
  checks: number;
  skipped: number;
  /** CPU of one warm scrape of the variant's 2,000 platforms (telemetry variants), ms. */
  scrapeMs?: number;
}

const VARIANTS: Record<string, Variant> = {
  none: { name: 'no telemetry (no SDK: the API is a no-op)' },
  protobuf: { name: 'OTLP http/protobuf, every check', protocol: 'http/protobuf' },
  json: { name: 'OTLP http/json, every check', protocol: 'http/json' },
  share: { name: 'OTLP http/protobuf, 1 % of successful checks', protocol: 'http/protobuf', successSpanRatio: 0.01 },
};

// A check that succeeds at once: what is measured is the package, not the platform.
const trivialCheck: HealthCheck = () => true;

/** In the child: the loop for one variant, CPU of the whole process over the window / checks done in it. */
async function loop(variant: Variant, endpoint: string, quick: boolean): Promise<LoopResult> {
  const telemetry = variant.protocol
    ? await startTelemetry({
        startServer: false,
        hostMetrics: false,
        otlpEndpoint: endpoint,
        otlpProtocol: variant.protocol,
        ...(variant.successSpanRatio === undefined ? {} : { successSpanRatio: variant.successSpanRatio }),
      })
    : undefined;
  const monitor = new HealthMonitor({ intervalMs: INTERVAL_MS, resources: false, logger: silentLogger });
  const names = Array.from({ length: PLATFORMS }, (_, i) => `platform-${i}`);
  for (const name of names) monitor.register(name, trivialCheck);
  // One check of every platform first: series, breakers and JIT exist before the schedule starts.
  for (const name of names) await monitor.checkPlatformHealth(name);
  let checks = 0;
  monitor.on('check', () => {
    checks += 1;
  });
  monitor.start();
  await sleep(quick ? 1_000 : 3_000);
  // No scrape in the window: the checks' counts and durations wait for one
  // until 10,000 do, then go to the instruments at once, so the window pays
  // for every metric record. What a scrape costs is measured after it.
  const k0 = checks;
  const c0 = process.cpuUsage();
  await sleep(quick ? 5_000 : 15_000);
  const used = process.cpuUsage(c0);
  // A scrape as Prometheus makes one, warm (the first two render every series from scratch).
  let scrapeMs: number | undefined;
  if (telemetry) {
    for (let i = 0; i < 2; i += 1) await telemetry.registry.metrics();
    await sleep(1_000);
    const s0 = process.cpuUsage();
    await telemetry.registry.metrics();
    const s = process.cpuUsage(s0);
    scrapeMs = (s.user + s.system) / 1000;
  }
  const done = checks - k0;
  const { skippedChecks } = monitor.report();
  await monitor.stop();
  await telemetry?.shutdown();
  return { usPerCheck: (used.user + used.system) / done, checks: done, skipped: skippedChecks, ...(scrapeMs === undefined ? {} : { scrapeMs }) };
}

function child(variant: string, endpoint: string, quick: boolean): Promise<LoopResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [SELF, '--child', `--variant=${variant}`, `--endpoint=${endpoint}`, ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    proc.on('error', reject);
    proc.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as LoopResult) : reject(new Error(`export bench child ${variant} exited with ${code}`))));
  });
}

/** Bytes of one OTLP request body per span, for a batch of 512 real check spans (the batch processor's batch size). */
async function bytesPerSpan(): Promise<Record<'protobuf' | 'json' | 'protobufGzip' | 'jsonGzip', number>> {
  const telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource: telemetry.resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const monitor = new HealthMonitor({ resources: false, logger: silentLogger, tracer: provider.getTracer('conductor-health') });
  // Mostly successes, as in a healthy deployment, with a failing platform's spans among them.
  for (let i = 0; i < 512; i += 1) await monitor.checkPlatformHealth(`platform-${i % 100}`, i % 50 === 0 ? () => false : trivialCheck);
  await monitor.stop();
  const spans = exporter.getFinishedSpans();
  const protobuf = ProtobufTraceSerializer.serializeRequest(spans)!;
  const json = JsonTraceSerializer.serializeRequest(spans)!;
  await provider.shutdown();
  await telemetry.shutdown();
  const per = (bytes: Uint8Array) => Math.round(bytes.length / spans.length);
  return { protobuf: per(protobuf), json: per(json), protobufGzip: per(gzipSync(protobuf)), jsonGzip: per(gzipSync(json)) };
}

/** Runs every variant against a real Collector and Jaeger, then measures span sizes. */
export async function runExportBench({ quick = false }: { quick?: boolean } = {}): Promise<BenchRow[]> {
  const jaeger = await startJaeger();
  const collector = await startCollector(jaeger.otlpGrpcEndpoint);
  const rounds: Record<string, LoopResult>[] = [];
  try {
    for (let round = 0; round < (quick ? 1 : ROUNDS); round += 1) {
      const names = Object.keys(VARIANTS);
      const done = await Promise.all(names.map((variant) => child(variant, collector.otlpHttpUrl, quick)));
      rounds.push(Object.fromEntries(names.map((name, i) => [name, done[i]!])));
      process.stderr.write(`  export: round ${round + 1}: ${names.map((n, i) => `${n} ${sig(done[i]!.usPerCheck)} µs (${done[i]!.skipped} skipped)`).join(', ')}\n`);
    }
  } finally {
    await collector.stop();
    await jaeger.stop();
  }
  const results: Record<string, LoopResult> = Object.fromEntries(
    Object.keys(VARIANTS).map((name) => {
      const sorted = rounds.map((r) => r[name]!).sort((a, b) => a.usPerCheck - b.usPerCheck);
      return [name, sorted[sorted.length >> 1]!];
    }),
  );
  const addedUs = (variant: string): number => median(rounds.map((r) => r[variant]!.usPerCheck - r.none!.usPerCheck));
  const bytes = await bytesPerSpan();
  const none = results.none!.usPerCheck;
  const row = (variant: string): BenchRow => {
    const us = results[variant]!.usPerCheck;
    return {
      figure: `CPU per check, ${PLATFORMS.toLocaleString('en')} platforms @ 1 s, ${VARIANTS[variant]!.name} to the real Collector, skipped ${results[variant]!.skipped}`,
      ours: sig(us),
      peer: sig(none),
      peerName: 'same loop, no telemetry',
      ratio: sig(us / none),
      unit: 'µs',
    };
  };
  /**
   * What telemetry adds to the loop, the figure the goals are about: the
   * variant's CPU per check minus the no-telemetry loop's, paired per round.
   */
  const added = (variant: string, goal: number): BenchRow => {
    const us = addedUs(variant);
    return {
      figure: '  ↳ added by telemetry (span, metrics, export) over the same loop without it',
      ours: sig(us),
      peer: null,
      ratio: null,
      unit: 'µs',
      goal: `≤ ${goal} µs`,
      met: us <= goal,
    };
  };
  /** What Prometheus adds, apart: one warm scrape, and per check at a 15 s scrape interval. */
  const scrapeRow = (): BenchRow => {
    const ms = median(rounds.map((r) => r.protobuf!.scrapeMs!));
    return {
      figure: `one warm scrape of these ${PLATFORMS.toLocaleString('en')} platforms (collect, hand over the waiting checks, render), CPU; per check at a 15 s scrape interval: ${sig((ms * 1000) / (PLATFORMS * 15))} µs`,
      ours: sig(ms),
      peer: null,
      ratio: null,
      unit: 'ms',
    };
  };
  return [
    row('protobuf'),
    added('protobuf', GOAL_FULL_US),
    row('share'),
    added('share', GOAL_SHARE_US),
    row('json'),
    scrapeRow(),
    { figure: 'bytes per exported span, OTLP protobuf vs JSON (batch of 512 check spans)', ours: bytes.protobuf, peer: bytes.json, peerName: 'JSON', ratio: sig(bytes.protobuf / bytes.json), unit: 'B' },
    { figure: '  the same, gzip', ours: bytes.protobufGzip, peer: bytes.jsonGzip, peerName: 'JSON, gzip', ratio: sig(bytes.protobufGzip / bytes.jsonGzip), unit: 'B' },
  ];
}

if (process.argv[1] === SELF) {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--child')) {
    const variant = process.argv.find((a) => a.startsWith('--variant='))!.slice('--variant='.length);
    const endpoint = process.argv.find((a) => a.startsWith('--endpoint='))!.slice('--endpoint='.length);
    const out = await loop(VARIANTS[variant]!, endpoint, quick);
    process.stdout.write(JSON.stringify(out), () => process.exit(0));
  } else {
    for (const row of await runExportBench({ quick })) console.log(`${row.figure}: ${row.ours} ${row.unit} (${row.peerName} ${row.peer} ${row.unit}, ratio ${row.ratio})${row.goal ? ` goal ${row.goal} ${row.met ? '✓' : '✗'}` : ''}`);
    process.exit(0);
  }
}
