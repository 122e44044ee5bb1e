// Benchmark of HealthMonitor: what the monitor itself costs per check (a),
// the share of a core 10,000 platforms need (b), heap per platform (c), how
// closely checks start on their planned slots (d), how fast a breaker opens
// and closes on a simulated clock (e), and whether a burst of slots falling
// due at once is checked in full (f).
//
//   node bench/monitor.ts            full run (~2 min)
//   node bench/monitor.ts --quick    a smoke run (~35 s)
//
// Every figure runs in its own child process (started with --expose-gc), so
// global OpenTelemetry state, fake timers and heap from one figure never
// reach another. Telemetry is the real SDK: startTelemetry() (meter provider
// with the Prometheus exporter's reader, cardinality sized for 10,000
// platforms) and a TracerProvider whose BatchSpanProcessor hands every span
// to an exporter that discards it, so spans are created, ended, queued and
// "exported" as in production minus the network. It reports; it asserts nothing.
import { spawn } from 'node:child_process';
import { mock } from 'node:test';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createNoopMeter, type Meter, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { HealthMonitor } from '../src/monitor/health-monitor.ts';
import type { HealthCheck } from '../src/monitor/check-run.ts';
import { silentLogger } from '../src/common/logger.ts';
import { startTelemetry } from '../src/telemetry/start-telemetry.ts';
import { prng } from '../test/helpers/random.ts';
import { advance as advanceClock, settle, useFakeClock, useRealClock } from '../test/helpers/clock.ts';

/**
 * One reported figure. `ours`, `peer` and `ratio` as in bench/breaker.ts;
 * `unit` applies to ours and peer; `goal` is the target in words and `met`
 * says whether this run reached it (a report, never an assertion).
 */
export interface BenchRow {
  figure: string;
  ours: number;
  peer: number | null;
  ratio: number | null;
  unit?: string;
  peerName?: string;
  goal?: string;
  met?: boolean;
}

const SELF = fileURLToPath(import.meta.url);
const GOAL_US_PER_CHECK = 20;
const GOAL_CPU_SHARE = 5;
const GOAL_HEAP_BYTES = 10 * 1024;
const GOAL_ERROR_MS = 5;

// ---------------------------------------------------------------------------
// Shared helpers

/** The span exporter of the bench: counts and drops. */
class DiscardingExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.exported += spans.length;
    resultCallback({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

interface BenchOtel {
  tracer: Tracer;
  exporter: DiscardingExporter;
  flushSpans(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The real SDK, as the command builds it, with spans batched to a discarding exporter. Call before creating monitors. */
export async function setupOtel(): Promise<BenchOtel> {
  const telemetry = await startTelemetry({ startServer: false, hostMetrics: false, maxPlatforms: 10_000 });
  const exporter = new DiscardingExporter();
  // The same queue and batch sizes as startTelemetry() gives its OTLP exporter.
  const provider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 2_048, maxExportBatchSize: 512 })],
  });
  return {
    tracer: provider.getTracer('bench'),
    exporter,
    flushSpans: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.shutdown();
      await telemetry.shutdown();
    },
  };
}

const trivialCheck: HealthCheck = () => true;

function platformNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `platform-${i}`);
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Three significant digits: enough for a report, readable in a table. */
export function sig(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(digits, 6)));
}

function ratioOf(ours: number, peer: number | null): number | null {
  return peer === null || peer === 0 ? null : sig(ours / peer);
}

function progress(message: string): void {
  process.stderr.write(`  monitor: ${message}\n`);
}

// ---------------------------------------------------------------------------
// a. CPU per check

interface LoopSample {
  usPerCheck: number;
  checks: number;
  skipped: number;
}

/** Real loop: N platforms with a trivial check; CPU of the whole process over the window / checks done in it. */
async function monitorLoop(names: string[], intervalMs: number, windowMs: number, tracer: Tracer): Promise<LoopSample> {
  const monitor = new HealthMonitor({ intervalMs, resources: false, logger: silentLogger, tracer });
  for (const name of names) monitor.register(name, trivialCheck);
  let checks = 0;
  monitor.on('check', () => {
    checks += 1;
  });
  collectGarbage();
  monitor.start();
  // Slots are spread from the start: the first cycle is already the steady state.
  await sleep(Math.min(50, intervalMs / 4));
  const k0 = checks;
  const c0 = process.cpuUsage();
  await sleep(windowMs);
  const cpu = cpuMicros(c0);
  const done = checks - k0;
  const { skippedChecks } = monitor.report();
  await monitor.stop();
  return { usPerCheck: cpu / done, checks: done, skipped: skippedChecks };
}

/** The peer: one plain setInterval per platform, started with the same stagger, calling the check bare. */
async function setIntervalLoop(n: number, intervalMs: number, windowMs: number): Promise<LoopSample> {
  let calls = 0;
  const signal = new AbortController().signal;
  const tick = (): void => {
    calls += 1;
    trivialCheck(signal);
  };
  const gap = intervalMs / n;
  const starters: NodeJS.Timeout[] = [];
  const intervals: NodeJS.Timeout[] = [];
  collectGarbage();
  for (let i = 0; i < n; i++) {
    starters.push(
      setTimeout(() => {
        intervals.push(setInterval(tick, intervalMs));
        tick();
      }, i * gap),
    );
  }
  // Every platform has started (setTimeout → setInterval) before the window opens.
  await sleep(intervalMs + Math.min(50, intervalMs / 4));
  const k0 = calls;
  const c0 = process.cpuUsage();
  await sleep(windowMs);
  const cpu = cpuMicros(c0);
  const done = calls - k0;
  for (const t of starters) clearTimeout(t);
  for (const t of intervals) clearInterval(t);
  return { usPerCheck: cpu / done, checks: done, skipped: 0 };
}

/** Tight loop, awaited one after the other: checkPlatformHealth() round-robin over N registered platforms vs the check called bare. */
async function tightLoop(n: number, calls: number, rounds: number, tracer: Tracer): Promise<{ ours: number; bare: number }> {
  const names = platformNames(n);
  const monitor = new HealthMonitor({ resources: false, logger: silentLogger, tracer });
  for (const name of names) monitor.register(name, trivialCheck);
  const signal = new AbortController().signal;
  let next = 0;
  const runOurs = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      await monitor.checkPlatformHealth(names[next] as string);
      next = next + 1 === n ? 0 : next + 1;
    }
    return Number(process.hrtime.bigint() - start) / 1_000 / calls;
  };
  const runBare = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await trivialCheck(signal);
    return Number(process.hrtime.bigint() - start) / 1_000 / calls;
  };
  // Warm-up: one check of every platform creates its metric series, then rounds alternate the order.
  for (const name of names) await monitor.checkPlatformHealth(name);
  const ours: number[] = [];
  const bare: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    const first = round % 2 === 0 ? runOurs : runBare;
    const a = await first();
    const b = await (first === runOurs ? runBare : runOurs)();
    if (round === 0) continue;
    ours.push(first === runOurs ? a : b);
    bare.push(first === runOurs ? b : a);
  }
  await monitor.stop();
  return { ours: median(ours), bare: median(bare) };
}

async function figureA(quick: boolean): Promise<BenchRow[]> {
  const otel = await setupOtel();
  const rows: BenchRow[] = [];
  const rounds = quick ? 5 : 7;
  // Tight loops first: they also warm up the JIT and create the metric series of
  // all 10,000 platform names, so the real loops' rounds start warm.
  for (const n of [1_000, 10_000]) {
    const r = await tightLoop(n, quick ? 3_000 : 20_000, rounds, otel.tracer);
    progress(`a: checkPlatformHealth tight loop, ${n} registered: ${sig(r.ours)} µs/call (bare ${sig(r.bare)})`);
    rows.push({
      figure: `checkPlatformHealth() awaited in a tight loop, ${n.toLocaleString('en')} registered platforms`,
      ours: sig(r.ours),
      peer: sig(r.bare),
      peerName: 'await check() bare',
      ratio: ratioOf(r.ours, r.bare),
      unit: 'µs',
      goal: `≤ ${GOAL_US_PER_CHECK} µs`,
      met: r.ours <= GOAL_US_PER_CHECK,
    });
  }
  const configs = [
    { n: 1_000, intervalMs: 100, windowMs: quick ? 150 : 500 },
    { n: 10_000, intervalMs: 500, windowMs: quick ? 150 : 1_000 },
  ];
  const loopRows: BenchRow[] = [];
  for (const { n, intervalMs, windowMs } of configs) {
    const names = platformNames(n);
    const ours: number[] = [];
    const peer: number[] = [];
    let skipped = 0;
    let checks = 0;
    // The order alternates; the full run also drops a first warm-up round.
    for (let round = quick ? 1 : 0; round <= rounds; round++) {
      const oursFirst = round % 2 === 0;
      for (const who of oursFirst ? ['ours', 'peer'] : ['peer', 'ours']) {
        const sample = who === 'ours' ? await monitorLoop(names, intervalMs, windowMs, otel.tracer) : await setIntervalLoop(n, intervalMs, windowMs);
        if (round === 0) continue;
        if (who === 'ours') {
          ours.push(sample.usPerCheck);
          skipped += sample.skipped;
          checks += sample.checks;
        } else {
          peer.push(sample.usPerCheck);
        }
      }
    }
    const o = median(ours);
    const p = median(peer);
    const rate = Math.round((n * 1000) / intervalMs);
    progress(`a: ${n} platforms @ ${intervalMs} ms: ${sig(o)} µs/check (setInterval + bare ${sig(p)}), ${checks} checks measured, ${skipped} skipped`);
    loopRows.push({
      figure: `CPU per check, real loop, ${n.toLocaleString('en')} platforms @ ${intervalMs} ms (${rate.toLocaleString('en')} checks/s), skipped ${skipped}`,
      ours: sig(o),
      peer: sig(p),
      peerName: 'setInterval per platform + bare check',
      ratio: ratioOf(o, p),
      unit: 'µs',
      goal: `≤ ${GOAL_US_PER_CHECK} µs`,
      met: o <= GOAL_US_PER_CHECK,
    });
  }
  const exported = otel.exporter.exported;
  await otel.shutdown();
  progress(`a: spans handed to the discarding exporter: ${exported}`);
  return [...loopRows, ...rows];
}

// ---------------------------------------------------------------------------
// b. Share of a core for 10,000 platforms at the default 5 s interval

async function figureB(quick: boolean): Promise<BenchRow[]> {
  const otel = await setupOtel();
  const n = 10_000;
  const intervalMs = 5_000;
  const warmMs = quick ? 500 : intervalMs;
  const windowMs = quick ? 10_000 : 20_000;
  const names = platformNames(n);
  const monitor = new HealthMonitor({ intervalMs, resources: false, logger: silentLogger, tracer: otel.tracer });
  for (const name of names) monitor.register(name, trivialCheck);
  // One check of every platform first: metric series and JIT exist before the schedule starts.
  for (const name of names) await monitor.checkPlatformHealth(name);
  let checks = 0;
  monitor.on('check', () => {
    checks += 1;
  });
  collectGarbage();
  monitor.start();
  await sleep(warmMs);
  const k0 = checks;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(windowMs);
  const cpu = cpuMicros(c0);
  const wallMs = performance.now() - t0;
  const done = checks - k0;
  const { skippedChecks } = monitor.report();
  await monitor.stop();
  await otel.shutdown();
  // The peer (full run only, it needs a whole interval to start): one setInterval per
  // platform calling the check bare: the cost of merely waking up this often here.
  let peerShare: number | null = null;
  if (!quick) {
    const peerWindowMs = 10_000;
    const peerSample = await setIntervalLoop(n, intervalMs, peerWindowMs);
    peerShare = ((peerSample.usPerCheck * peerSample.checks) / 1000 / peerWindowMs) * 100;
  }
  const share = (cpu / 1000 / wallMs) * 100;
  const expected = Math.round((n * wallMs) / intervalMs);
  progress(`b: ${sig(share)} % of a core (setInterval peer ${peerShare === null ? '—' : sig(peerShare)} %) over ${Math.round(wallMs)} ms, ${done} checks (expected ${expected}), ${skippedChecks} skipped`);
  const seconds = Math.round(windowMs / 1000);
  return [
    {
      figure: `CPU share of one core, 10,000 platforms @ 5 s, ${seconds} s window (after ${warmMs / 1000} s warm-up)`,
      ours: sig(share),
      peer: peerShare === null ? null : sig(peerShare),
      peerName: peerShare === null ? 'setInterval per platform (full run only)' : 'setInterval per platform + bare check',
      ratio: ratioOf(share, peerShare),
      unit: '%',
      goal: `≤ ${GOAL_CPU_SHARE} %`,
      met: share <= GOAL_CPU_SHARE,
    },
    {
      figure: `  CPU per check at that rate (2,000 checks/s)`,
      ours: sig(cpu / done),
      peer: null,
      ratio: null,
      unit: 'µs',
      goal: `≤ ${GOAL_US_PER_CHECK} µs`,
      met: cpu / done <= GOAL_US_PER_CHECK,
    },
    {
      figure: `  checks done in the window vs N × window / interval`,
      ours: done,
      peer: expected,
      peerName: 'expected',
      ratio: ratioOf(done, expected),
      unit: 'checks',
      goal: '= expected (±1 %)',
      met: Math.abs(done - expected) <= expected * 0.01,
    },
    {
      figure: `  skipped checks, report().skippedChecks`,
      ours: skippedChecks,
      peer: null,
      ratio: null,
      unit: '',
      goal: '0',
      met: skippedChecks === 0,
    },
  ];
}

// ---------------------------------------------------------------------------
// c. Heap per platform (child with --expose-gc; one child per meter)

interface HeapResult {
  meter: 'sdk' | 'noop';
  base: number;
  registered: number;
  afterCycle: number;
  checks: number;
}

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await immediate();
  }
  // Read right after the last collection: the loop keeps checking meanwhile.
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

async function heapRun(meterKind: 'sdk' | 'noop', otel: BenchOtel): Promise<HeapResult> {
  const n = 10_000;
  // A whole cycle's starts squeezed into its first second (staggerMs), so the heap
  // is read in the quiet rest of the interval, with no check or span in flight.
  const intervalMs = 60_000;
  const staggerMs = 0.1;
  const meter: Meter | undefined = meterKind === 'noop' ? createNoopMeter() : undefined;
  const names = platformNames(n);
  const base = await heapAfterGc();
  const monitor = new HealthMonitor({ intervalMs, staggerMs, resources: false, logger: silentLogger, tracer: otel.tracer, ...(meter ? { meter } : {}) });
  for (const name of names) monitor.register(name, trivialCheck);
  const registered = await heapAfterGc();
  let checks = 0;
  monitor.on('check', () => {
    checks += 1;
  });
  const started = performance.now();
  monitor.start();
  // Bounded: a burst of due slots can lose checks (see figure f), and the next cycle is a minute away.
  while (checks < n && performance.now() - started < 10_000) await sleep(20);
  if (checks < n) progress(`c: WARNING: only ${checks} of ${n} platforms were checked in the first cycle`);
  // Spans waiting in the batch queue are not the monitor's: hand them to the exporter first.
  await otel.flushSpans();
  const afterCycle = await heapAfterGc();
  if (performance.now() - started > intervalMs) progress('c: WARNING: the heap was read after the second cycle had begun');
  await monitor.stop();
  return { meter: meterKind, base, registered, afterCycle, checks };
}

async function figureCChild(meterKind: 'sdk' | 'noop'): Promise<HeapResult> {
  if ((globalThis as { gc?: unknown }).gc === undefined) throw new Error('figure c needs --expose-gc');
  const otel = await setupOtel();
  // Warm the code paths on a throwaway monitor with other names, so JIT code is not counted per platform.
  {
    const warm = new HealthMonitor({ resources: false, logger: silentLogger, tracer: otel.tracer, meter: createNoopMeter() });
    for (let i = 0; i < 200; i++) warm.register(`warm-${i}`, trivialCheck);
    for (let i = 0; i < 200; i++) await warm.checkPlatformHealth(`warm-${i}`);
    await warm.stop();
    await otel.flushSpans();
  }
  const result = await heapRun(meterKind, otel);
  await otel.shutdown();
  return result;
}

async function figureC(quick: boolean): Promise<BenchRow[]> {
  const n = 10_000;
  // One child per meter: a stopped monitor's breakers linger in the heap until the
  // next batch of breakers replaces them, which would blur a second run's baseline.
  const [noop, sdk] = (await Promise.all([child(['--figure=c', '--meter=noop'], quick), child(['--figure=c', '--meter=sdk'], quick)])) as [HeapResult, HeapResult];
  const per = (from: number, to: number): number => Math.round((to - from) / n);
  const totalSdk = per(sdk.base, sdk.afterCycle);
  const beyondMetrics = per(noop.base, noop.afterCycle);
  const metricShare = totalSdk - beyondMetrics;
  progress(`c: ${totalSdk} B/platform with the SDK meter, ${beyondMetrics} B with a no-op meter (checks: ${sdk.checks}, ${noop.checks})`);
  return [
    {
      figure: 'heap per platform, 10,000 registered + one full cycle, SDK meter',
      ours: totalSdk,
      peer: null,
      ratio: null,
      unit: 'B',
    },
    {
      figure: '  of which beyond metric storage (same run with a no-op meter)',
      ours: beyondMetrics,
      peer: null,
      ratio: null,
      unit: 'B',
      goal: `≤ ${GOAL_HEAP_BYTES} B`,
      met: beyondMetrics <= GOAL_HEAP_BYTES,
    },
    {
      figure: '  of which metric storage (SDK − no-op)',
      ours: metricShare,
      peer: null,
      ratio: null,
      unit: 'B',
    },
    {
      figure: '  growth during the first cycle, SDK meter (after cycle − registered)',
      ours: per(sdk.registered, sdk.afterCycle),
      peer: null,
      ratio: null,
      unit: 'B',
    },
  ];
}

// ---------------------------------------------------------------------------
// d. Schedule accuracy vs a setInterval per platform

/** Waits for an event-loop turn in which Date.now() has just moved to a new millisecond (libuv's clock is fresh then too). */
export async function atMillisecondBoundary(): Promise<void> {
  const start = Date.now();
  while (Date.now() === start) await immediate();
}

interface Accuracy {
  p50: number;
  p99: number;
  max: number;
  drift: number;
  samples: number;
}

/** Errors of start times vs plan; drift = mean error of the last cycle − that of the first. */
function accuracy(times: number[][], epoch: number, gap: number, intervalMs: number, cycles: number): Accuracy {
  const errors: number[] = [];
  const byCycle: number[][] = Array.from({ length: cycles }, () => []);
  times.forEach((list, i) => {
    for (const t of list) {
      const k = Math.round((t - epoch - i * gap) / intervalMs);
      if (k < 0 || k >= cycles) continue;
      const error = t - (epoch + i * gap + k * intervalMs);
      errors.push(error);
      byCycle[k]?.push(error);
    }
  });
  const abs = errors.map(Math.abs).sort((a, b) => a - b);
  return {
    p50: percentile(abs, 50),
    p99: percentile(abs, 99),
    max: abs[abs.length - 1] ?? Number.NaN,
    drift: mean(byCycle[cycles - 1] ?? []) - mean(byCycle[0] ?? []),
    samples: errors.length,
  };
}

async function figureD(quick: boolean): Promise<BenchRow[]> {
  const otel = await setupOtel();
  const n = 100;
  const intervalMs = 1_000;
  const cycles = quick ? 5 : 20;
  const gap = intervalMs / n;
  const names = platformNames(n);
  const ours: number[][] = names.map(() => []);
  const peer: number[][] = names.map(() => []);
  const monitor = new HealthMonitor({ intervalMs, resources: false, logger: silentLogger, tracer: otel.tracer });
  names.forEach((name, i) =>
    monitor.register(name, () => {
      ours[i]?.push(performance.now());
      return true;
    }),
  );
  // start() takes performance.now() as the epoch; this reading, just before it,
  // agrees with it to a few µs (the millisecond boundary keeps the two runs apart).
  await atMillisecondBoundary();
  const epoch = performance.now();
  monitor.start();
  // The peer runs at the same time, half a gap later, so the two never share a millisecond.
  const intervals: NodeJS.Timeout[] = [];
  const starters = names.map((_, i) => {
    const tick = (): void => {
      peer[i]?.push(performance.now());
    };
    return setTimeout(() => {
      intervals.push(setInterval(tick, intervalMs));
      tick();
    }, i * gap + gap / 2);
  });
  await sleep(cycles * intervalMs + 2 * gap);
  const { skippedChecks } = monitor.report();
  await monitor.stop();
  for (const t of starters) clearTimeout(t);
  for (const t of intervals) clearInterval(t);
  await otel.shutdown();
  const o = accuracy(ours, epoch, gap, intervalMs, cycles);
  const p = accuracy(peer, epoch + gap / 2, gap, intervalMs, cycles);
  progress(`d: ours p50 ${sig(o.p50)} p99 ${sig(o.p99)} max ${sig(o.max)} drift ${sig(o.drift)} (${o.samples} starts, ${skippedChecks} skipped); setInterval p50 ${sig(p.p50)} p99 ${sig(p.p99)} max ${sig(p.max)} drift ${sig(p.drift)}`);
  const label = `${n} platforms @ 1 s, ${cycles} cycles`;
  const row = (figure: string, a: number, b: number, goal: string, met: boolean): BenchRow => ({
    figure,
    ours: sig(a),
    peer: sig(b),
    peerName: 'setInterval per platform',
    ratio: ratioOf(a, b),
    unit: 'ms',
    goal,
    met,
  });
  return [
    row(`start-time error vs plan, p50, ${label}`, o.p50, p.p50, `≤ ${GOAL_ERROR_MS} ms`, o.p50 <= GOAL_ERROR_MS),
    row(`  p99`, o.p99, p.p99, `≤ ${GOAL_ERROR_MS} ms`, o.p99 <= GOAL_ERROR_MS),
    row(`  max`, o.max, p.max, `≤ ${GOAL_ERROR_MS} ms`, o.max <= GOAL_ERROR_MS),
    row(`  drift: mean error of cycle ${cycles} − cycle 1`, o.drift, p.drift, '0 (|drift| < 1 ms)', Math.abs(o.drift) < 1),
  ];
}

// ---------------------------------------------------------------------------
// e. Detection and recovery on a simulated clock

const CLOCK_STEP_MS = 10;
const advance = (ms: number): Promise<void> => advanceClock(ms, CLOCK_STEP_MS);

/** Advances until `done()` or `capMs`; false if the cap was reached. */
async function advanceUntil(done: () => boolean, capMs: number): Promise<boolean> {
  for (let t = 0; t < capMs; t += CLOCK_STEP_MS) {
    if (done()) return true;
    mock.timers.tick(CLOCK_STEP_MS);
    await settle();
  }
  return done();
}

interface Detection {
  openMs: number;
  closeMs: number;
}

/**
 * One trial: 10 platforms at the defaults (5 s interval, 5 s timeout, failMax
 * 3, reset 30 s); one goes down at a random phase of its cycle, by failing
 * at once or by hanging until the timeout; it comes back the moment its
 * breaker opens (the worst case for recovery).
 */
async function detectionTrial(kind: 'fast' | 'hang', random: () => number, tracer: Tracer): Promise<Detection> {
  useFakeClock(1_750_000_000_000);
  try {
    const intervalMs = 5_000;
    const monitor = new HealthMonitor({ intervalMs, timeoutMs: 5_000, breaker: { failMax: 3, resetTimeoutMs: 30_000 }, resources: false, logger: silentLogger, tracer });
    const n = 10;
    const target = `platform-${Math.floor(random() * n)}`;
    let down = false;
    const hang = (signal: AbortSignal): Promise<boolean> =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    for (const name of platformNames(n)) {
      monitor.register(name, name === target ? (signal) => (!down ? true : kind === 'fast' ? false : hang(signal)) : trivialCheck);
    }
    let downAt = 0;
    let openedAt: number | undefined;
    let closedAt: number | undefined;
    monitor.on('transition', (change) => {
      if (change.platform !== target) return;
      if (change.to === 'OPEN' && openedAt === undefined) {
        openedAt = change.at;
        down = false; // back up right away: the longest wait for CLOSED
      } else if (change.to === 'CLOSED' && openedAt !== undefined) {
        closedAt ??= change.at;
      }
    });
    monitor.start();
    await advance(2 * intervalMs);
    await advance(Math.floor(random() * intervalMs));
    down = true;
    downAt = Date.now();
    const opened = await advanceUntil(() => openedAt !== undefined, 120_000);
    const closed = opened && (await advanceUntil(() => closedAt !== undefined, 120_000));
    const stopping = monitor.stop();
    await advance(6_000);
    await stopping;
    if (!opened || !closed || openedAt === undefined || closedAt === undefined) throw new Error(`detection trial (${kind}) did not ${opened ? 'close' : 'open'} within 120 s`);
    return { openMs: openedAt - downAt, closeMs: closedAt - openedAt };
  } finally {
    useRealClock();
  }
}

async function figureE(quick: boolean): Promise<BenchRow[]> {
  const otel = await setupOtel();
  const trials = quick ? 5 : 20;
  const random = prng(20_261_101);
  const intervalMs = 5_000;
  const timeoutMs = 5_000;
  const resetMs = 30_000;
  const openBound = 3 * intervalMs + timeoutMs;
  const closeBound = resetMs + intervalMs;
  const rows: BenchRow[] = [];
  for (const kind of ['fast', 'hang'] as const) {
    const results: Detection[] = [];
    for (let t = 0; t < trials; t++) results.push(await detectionTrial(kind, random, otel.tracer));
    const open = results.map((r) => r.openMs / 1000);
    const close = results.map((r) => r.closeMs / 1000);
    const what = kind === 'fast' ? 'fails at once' : 'hangs until the 5 s timeout';
    progress(`e: ${kind}: down→OPEN ${open.map(sig).join(' ')} s; OPEN→CLOSED ${close.map(sig).join(' ')} s`);
    rows.push({
      figure: `down→OPEN, check ${what}, worst of ${trials} random phases (median ${sig(median(open))} s)`,
      ours: sig(Math.max(...open)),
      peer: openBound / 1000,
      peerName: 'bound 3 × interval + timeout',
      ratio: ratioOf(Math.max(...open), openBound / 1000),
      unit: 's',
      goal: '≤ bound',
      met: Math.max(...open) <= openBound / 1000,
    });
    rows.push({
      figure: `  recovery→CLOSED, back up as the breaker opens (median ${sig(median(close))} s)`,
      ours: sig(Math.max(...close)),
      peer: closeBound / 1000,
      peerName: 'bound resetTimeout + interval',
      ratio: ratioOf(Math.max(...close), closeBound / 1000),
      unit: 's',
      goal: '≤ bound',
      met: Math.max(...close) <= closeBound / 1000,
    });
  }
  await otel.shutdown();
  return rows;
}

// ---------------------------------------------------------------------------
// f. Many slots due at once (staggerMs 0): are all of them checked?

async function figureF(): Promise<BenchRow[]> {
  const otel = await setupOtel();
  const rows: BenchRow[] = [];
  for (const n of [2_000, 5_000]) {
    const monitor = new HealthMonitor({ intervalMs: 60_000, staggerMs: 0, resources: false, logger: silentLogger, tracer: otel.tracer });
    for (const name of platformNames(n)) monitor.register(name, trivialCheck);
    let checks = 0;
    monitor.on('check', () => {
      checks += 1;
    });
    monitor.start();
    await sleep(500);
    const { skippedChecks } = monitor.report();
    const lost = n - checks - skippedChecks;
    // stop() waits for checks in flight; a check lost half-way may never be released.
    const stopped = await Promise.race([monitor.stop().then(() => true), sleep(1_000).then(() => false)]);
    progress(`f: staggerMs 0, ${n} platforms: ${checks} checked, ${skippedChecks} skipped, ${lost} lost; stop() ${stopped ? 'settled' : 'did not settle within 1 s'}`);
    rows.push({
      figure: `burst: ${n.toLocaleString('en')} platforms due at once (staggerMs 0), checks run in the first cycle`,
      ours: checks,
      peer: n,
      peerName: 'expected',
      ratio: ratioOf(checks, n),
      unit: 'checks',
      goal: 'all',
      met: checks === n,
    });
    rows.push({
      figure: `  lost (neither run nor counted as skipped); stop() ${stopped ? 'settled' : 'still pending after 1 s'}`,
      ours: lost,
      peer: null,
      ratio: null,
      unit: 'checks',
      goal: '0',
      met: lost === 0,
    });
  }
  await otel.shutdown();
  return rows;
}

// ---------------------------------------------------------------------------
// Orchestration

/** Runs one figure in a child process started with --expose-gc; resolves with what it printed as JSON. */
function child(args: string[], quick: boolean): Promise<unknown> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', SELF, '--child', ...args, ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    const timer = setTimeout(() => proc.kill(), 600_000);
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`monitor bench child ${args.join(' ')} failed (${code ?? signal})`));
        return;
      }
      progress(`${args.join(' ')} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
      try {
        resolve(JSON.parse(out));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/**
 * Runs every figure, each in its own child process. The timing-sensitive
 * ones (a, b, d) run alone; the two heap runs share the machine (one core
 * each), and so do the simulated clock and the burst, to keep the run short.
 */
export async function runMonitorBench({ quick = false }: { quick?: boolean } = {}): Promise<BenchRow[]> {
  const a = (await child(['--figure=a'], quick)) as BenchRow[];
  const b = (await child(['--figure=b'], quick)) as BenchRow[];
  const d = (await child(['--figure=d'], quick)) as BenchRow[];
  const c = await figureC(quick);
  const [e, f] = (await Promise.all([child(['--figure=e'], quick), child(['--figure=f'], quick)])) as [BenchRow[], BenchRow[]];
  return [...a, ...b, ...c, ...d, ...e, ...f];
}

async function runChild(quick: boolean): Promise<unknown> {
  const figure = process.argv.find((a) => a.startsWith('--figure='))?.slice('--figure='.length);
  switch (figure) {
    case 'a':
      return figureA(quick);
    case 'b':
      return figureB(quick);
    case 'c':
      return figureCChild(process.argv.includes('--meter=noop') ? 'noop' : 'sdk');
    case 'd':
      return figureD(quick);
    case 'e':
      return figureE(quick);
    case 'f':
      return figureF();
    default:
      throw new Error(`unknown figure ${figure}`);
  }
}

function printTable(rows: BenchRow[]): void {
  const width = Math.max(...rows.map((r) => r.figure.length));
  const cell = (v: number | null, unit = ''): string => (v === null ? '—' : `${v}${unit ? ` ${unit}` : ''}`).padStart(14);
  console.log(`${'figure'.padEnd(width)} ${'ours'.padStart(14)} ${'peer'.padStart(14)} ${'ratio'.padStart(8)}  goal`);
  for (const r of rows) {
    const goal = r.goal === undefined ? '' : `${r.goal} ${r.met ? '✓' : '✗'}`;
    console.log(`${r.figure.padEnd(width)} ${cell(r.ours, r.unit)} ${cell(r.peer, r.unit)} ${(r.ratio === null ? '—' : String(r.ratio)).padStart(8)}  ${goal}`);
  }
}

if (process.argv[1] === SELF) {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--child')) {
    const out = await runChild(quick);
    // Exit once written: nothing a figure left behind may hold the child open.
    process.stdout.write(JSON.stringify(out), () => process.exit(0));
  } else {
    console.log(`HealthMonitor bench (${quick ? 'quick' : 'full'}), Node ${process.version}`);
    printTable(await runMonitorBench({ quick }));
  }
}
