// Benchmark of PlatformCircuitBreaker against a bare call, tuned opossum and
// cockatiel (the fastest peer), plus the cost of 10,000 idle breakers.
//
//   node bench/breaker.ts            full run (~1 min)
//   node bench/breaker.ts --quick    a smoke run (~10 s)
//
// Per-call figures: sequential awaited calls, contenders interleaved inside
// every round so drift hits them alike, median over the rounds. Idle figures
// run in a child process started with --expose-gc, for a clean heap. It
// reports; it asserts nothing.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { PlatformCircuitBreaker } from '../src/breaker/circuit-breaker.ts';

/** One reported figure: ours, the peer's (null when there is none) and ours / peer. */
export interface BenchRow {
  figure: string;
  ours: number;
  peer: number | null;
  ratio: number | null;
}

interface OpossumLike {
  fire(...args: unknown[]): Promise<unknown>;
  open(): void;
  shutdown(): void;
}
const Opossum = createRequire(import.meta.url)('opossum') as new (action: (...args: never[]) => unknown, options?: Record<string, unknown>) => OpossumLike;
const TUNED = { timeout: false, rollingPercentilesEnabled: false, enableSnapshots: false };
const IDLE_COUNT = 10_000;

type Call = () => Promise<unknown>;

async function timeCalls(call: Call, n: number, failing: boolean): Promise<number> {
  const start = process.hrtime.bigint();
  if (failing) {
    for (let i = 0; i < n; i++) {
      try {
        await call();
      } catch {
        // expected
      }
    }
  } else {
    for (let i = 0; i < n; i++) await call();
  }
  return Number(process.hrtime.bigint() - start) / n;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Medians in ns per call, contenders interleaved round by round; the first round warms up and is dropped. */
async function race(contenders: Record<string, Call>, n: number, rounds: number, failing: boolean): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  const names = Object.keys(contenders);
  for (let round = 0; round <= rounds; round++) {
    // Rotate the order too: whoever runs first in a round pays for the previous one's garbage.
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length] as string;
      const ns = await timeCalls(contenders[name] as Call, n, failing);
      if (round > 0) samples[name]?.push(ns);
    }
  }
  return Object.fromEntries(names.map((k) => [k, median(samples[k] ?? [])]));
}

const ok = async (): Promise<number> => 1;
const FAILURE = new Error('down');
const fail = async (): Promise<never> => {
  throw FAILURE;
};

async function perCall(quick: boolean): Promise<BenchRow[]> {
  const n = quick ? 20_000 : 200_000;
  const rounds = quick ? 5 : 9;
  const rows: BenchRow[] = [];
  const add = (figure: string, ours: number, peer: number | null): void => {
    rows.push({ figure, ours: round1(ours), peer: peer === null ? null : round1(peer), ratio: peer === null ? null : round2(ours / peer) });
  };

  // Success path, CLOSED.
  {
    const ours = new PlatformCircuitBreaker('bench-ok');
    const opossum = new Opossum(ok, TUNED);
    const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(3) });
    const r = await race(
      { bare: () => ok(), opossum: () => opossum.fire(), ours: () => ours.execute(ok), cockatiel: () => cockatiel.execute(ok) },
      n,
      rounds,
      false,
    );
    add('success, ns/call vs cockatiel ConsecutiveBreaker(3)', r.ours as number, r.cockatiel as number);
    add('success, ns/call vs opossum fire() (tuned)', r.ours as number, r.opossum as number);
    add('success, ns/call vs bare async call', r.ours as number, r.bare as number);
    ours.shutdown();
    opossum.shutdown();
  }

  // Failing path, CLOSED: thresholds out of reach so every call is a real failing call.
  {
    const ours = new PlatformCircuitBreaker('bench-fail', { failMax: Number.MAX_SAFE_INTEGER });
    const opossum = new Opossum(fail, { ...TUNED, volumeThreshold: Number.MAX_SAFE_INTEGER });
    const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(Number.MAX_SAFE_INTEGER) });
    const r = await race(
      { bare: () => fail(), opossum: () => opossum.fire(), ours: () => ours.execute(fail), cockatiel: () => cockatiel.execute(fail) },
      n,
      rounds,
      true,
    );
    add('failure, ns/call vs cockatiel', r.ours as number, r.cockatiel as number);
    add('failure, ns/call vs opossum fire() (tuned)', r.ours as number, r.opossum as number);
    add('failure, ns/call vs bare async call', r.ours as number, r.bare as number);
    ours.shutdown();
    opossum.shutdown();
  }

  // OPEN: the call is refused without running.
  {
    const ours = new PlatformCircuitBreaker('bench-open');
    ours.forceOpen();
    const opossum = new Opossum(ok, TUNED);
    opossum.open();
    const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(3) });
    for (let i = 0; i < 3; i++) await cockatiel.execute(fail).catch(() => {});
    const r = await race(
      { opossum: () => opossum.fire(), ours: () => ours.execute(ok), cockatiel: () => cockatiel.execute(ok) },
      Math.floor(n / 2),
      rounds,
      true,
    );
    add('open-circuit rejection, ns/call vs cockatiel', r.ours as number, r.cockatiel as number);
    add('open-circuit rejection, ns/call vs opossum fire()', r.ours as number, r.opossum as number);
    ours.shutdown();
    opossum.shutdown();
  }
  return rows;
}

/** Lets the SDK keep metric points in memory, as any real exporter's reader does. */
class HoldingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** Runs in the --expose-gc child: CPU and heap of 10,000 idle breakers. */
async function idle(quick: boolean): Promise<BenchRow[]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('idle figures need --expose-gc');
  const windowMs = quick ? 1_000 : 3_000;
  const settle = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return process.memoryUsage().heapUsed;
  };
  const cpuShare = async (): Promise<number> => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const used = process.cpuUsage(cpu);
    return ((used.user + used.system) / 1000 / (performance.now() - start)) * 100;
  };

  // Ours.
  const base = await settle();
  let breakers: PlatformCircuitBreaker[] | undefined = Array.from({ length: IDLE_COUNT }, (_, i) => new PlatformCircuitBreaker(`platform-${i}`));
  const live = await settle();
  const oursCpu = await cpuShare();
  // The shared ticker fires once a minute, likely outside the window: time one rotation by hand,
  // ticking every breaker's emitter as the ticker does.
  const t0 = performance.now();
  for (const breaker of breakers) (breaker as unknown as { rotation: { emit(e: string): void } }).rotation.emit('rotate');
  const rotationMs = performance.now() - t0;
  for (const breaker of breakers) breaker.shutdown();
  breakers = undefined;
  const after = await settle();

  // With an SDK meter, each platform also holds its three circuit_breaker_state series.
  const provider = new MeterProvider({ readers: [new HoldingReader()] });
  const meter = provider.getMeter('bench');
  const base3 = await settle();
  let metered: PlatformCircuitBreaker[] | undefined = Array.from({ length: IDLE_COUNT }, (_, i) => new PlatformCircuitBreaker(`metered-${i}`, { meter }));
  const meteredHeap = await settle();
  for (const breaker of metered) breaker.shutdown();
  metered = undefined;
  await provider.shutdown();

  // Peers: bare tuned opossum instances (what each of ours wraps), and opossum with defaults.
  let tuned: OpossumLike[] | undefined = Array.from({ length: IDLE_COUNT }, () => new Opossum(ok, { ...TUNED }));
  const tunedHeap = await settle();
  for (const breaker of tuned) breaker.shutdown();
  tuned = undefined;
  const base2 = await settle();
  let defaults: OpossumLike[] | undefined = Array.from({ length: IDLE_COUNT }, () => new Opossum(ok));
  const defaultsCpu = await cpuShare();
  for (const breaker of defaults) breaker.shutdown();
  defaults = undefined;

  const perBreaker = (live - base) / IDLE_COUNT;
  return [
    { figure: `idle CPU, % of a core, ${IDLE_COUNT} breakers over ${windowMs} ms vs opossum defaults`, ours: round2(oursCpu), peer: round2(defaultsCpu), ratio: round2(oursCpu / defaultsCpu) },
    { figure: `shared rotation tick for ${IDLE_COUNT} breakers, ms (runs once a minute)`, ours: round2(rotationMs), peer: null, ratio: null },
    { figure: 'shared rotation tick amortised, % of a core', ours: round2((rotationMs / 60_000) * 100), peer: null, ratio: null },
    { figure: 'heap bytes per idle breaker vs a bare tuned opossum', ours: Math.round(perBreaker), peer: Math.round((tunedHeap - base2) / IDLE_COUNT), ratio: round2(perBreaker / ((tunedHeap - base2) / IDLE_COUNT)) },
    { figure: 'heap bytes per idle breaker with an SDK meter (its 3 gauge series included)', ours: Math.round((meteredHeap - base3) / IDLE_COUNT), peer: null, ratio: null },
    { figure: 'heap bytes per breaker still held after shutdown()', ours: Math.round((after - base) / IDLE_COUNT), peer: null, ratio: null },
  ];
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Runs every figure; the idle ones in a child process with --expose-gc. */
export async function runBreakerBench({ quick = false }: { quick?: boolean } = {}): Promise<BenchRow[]> {
  const rows = await perCall(quick);
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--idle-json', ...(quick ? ['--quick'] : [])], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (child.status !== 0) throw new Error(`idle bench failed (${child.status ?? child.signal}): ${child.stderr}`);
  return [...rows, ...(JSON.parse(child.stdout) as BenchRow[])];
}

function printTable(rows: BenchRow[]): void {
  const width = Math.max(...rows.map((r) => r.figure.length));
  const cell = (v: number | null): string => (v === null ? '—' : String(v)).padStart(10);
  console.log(`${'figure'.padEnd(width)} ${'ours'.padStart(10)} ${'peer'.padStart(10)} ${'ratio'.padStart(10)}`);
  for (const r of rows) console.log(`${r.figure.padEnd(width)} ${cell(r.ours)} ${cell(r.peer)} ${cell(r.ratio)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--idle-json')) {
    process.stdout.write(JSON.stringify(await idle(quick)));
  } else {
    console.log(`PlatformCircuitBreaker bench (${quick ? 'quick' : 'full'}), Node ${process.version}`);
    printTable(await runBreakerBench({ quick }));
  }
}
