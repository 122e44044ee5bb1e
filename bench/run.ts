// Runs every benchmark in sequence and prints one table; the same table goes
// to bench/results.md as Markdown, for the README.
//
//   npm run bench                 full run (several minutes)
//   npm run bench -- --quick      smoke run (under a minute)
//
// Benches: bench/breaker.ts (in this process, its idle figures in a child),
// bench/monitor.ts (every figure in its own child process), when present,
// bench/scrape.ts (in this process), bench/status-page.ts (server and clients
// in child processes), bench/export.ts (a child per variant, against the
// Collector and Jaeger .ci/peers.sh builds), and bench/cluster.ts (three
// replicas, one Redis and the single process, each its own child, against a
// redis-server it starts). They report; nothing here asserts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runBreakerBench } from './breaker.ts';
import { runClusterBench } from './cluster.ts';
import { runExportBench } from './export.ts';
import { runMonitorBench, type BenchRow } from './monitor.ts';
import { runStatusPageBench } from './status-page.ts';

/** The union of the row shapes the benches return: breaker rows have no unit, goal or peer name. */
type Row = BenchRow;

interface Section {
  title: string;
  rows: Row[];
  seconds: number;
  note?: string;
}

type Bench = (options: { quick: boolean }) => Promise<Row[]>;

const SCRAPE = fileURLToPath(new URL('./scrape.ts', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results.md', import.meta.url));
/** Where results.md's hand-kept before/after records start; a new run keeps them. */
const RECORDS = '\n## Before/after records\n';

/** bench/scrape.ts may not exist yet: load it by a computed path so its absence is no type error either. */
async function loadScrapeBench(): Promise<Bench | string> {
  if (!existsSync(SCRAPE)) return 'scrape bench not available (bench/scrape.ts is missing)';
  try {
    const mod = (await import(pathToFileURL(SCRAPE).href)) as { runScrapeBench?: unknown };
    if (typeof mod.runScrapeBench !== 'function') return 'scrape bench not available (bench/scrape.ts exports no runScrapeBench)';
    return mod.runScrapeBench as Bench;
  } catch (error) {
    return `scrape bench not available (bench/scrape.ts failed to load: ${error instanceof Error ? error.message : String(error)})`;
  }
}

/** Breaker rows carry their unit in the figure's wording; recover it for the table. */
function unitOf(row: Row): string {
  if (row.unit !== undefined) return row.unit;
  const f = row.figure;
  if (/ns\/call/.test(f)) return 'ns';
  if (/% of a core/.test(f)) return '%';
  if (/heap bytes/.test(f)) return 'B';
  if (/, ms\b|\bms \(/.test(f)) return 'ms';
  return '';
}

function format(value: number | null, unit: string): string {
  if (value === null) return '—';
  const text = Number.isInteger(value) && Math.abs(value) >= 10_000 ? value.toLocaleString('en') : String(value);
  return unit === '' ? text : `${text} ${unit}`;
}

interface Cells {
  figure: string;
  ours: string;
  peer: string;
  ratio: string;
  goal: string;
}

function cells(row: Row): Cells {
  const unit = unitOf(row);
  const peer = format(row.peer, unit);
  return {
    figure: row.figure,
    ours: format(row.ours, unit),
    peer: row.peerName ? (row.peer === null ? `— (${row.peerName})` : `${peer} (${row.peerName})`) : peer,
    ratio: row.ratio === null ? '—' : String(row.ratio),
    goal: row.goal === undefined ? '' : `${row.goal}${row.met === undefined ? '' : row.met ? ' ✓' : ' ✗'}`,
  };
}

const loadAverage = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function header(quick: boolean, totalSeconds: number, loadBefore: string): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return (
    `${model}, ${cpus.length} cores, ${os.platform()} ${os.release()}, Node ${process.version}, ${date}; ` +
    `${quick ? 'quick' : 'full'} run, ${totalSeconds.toFixed(0)} s; load average before ${loadBefore}, after ${loadAverage()}`
  );
}

function printConsole(sections: Section[], head: string): void {
  const all = sections.flatMap((s) => s.rows.map(cells));
  const w = {
    figure: Math.max(6, ...all.map((c) => c.figure.length)),
    ours: Math.max(12, ...all.map((c) => c.ours.length)),
    peer: Math.max(4, ...all.map((c) => c.peer.length)),
    ratio: Math.max(5, ...all.map((c) => c.ratio.length)),
  };
  const line = (c: Cells): string =>
    `${c.figure.padEnd(w.figure)} | ${c.ours.padStart(w.ours)} | ${c.peer.padEnd(w.peer)} | ${c.ratio.padStart(w.ratio)} | ${c.goal}`;
  console.log('');
  console.log(head);
  console.log(line({ figure: 'figure', ours: 'this package', peer: 'peer', ratio: 'ratio', goal: 'goal' }));
  for (const section of sections) {
    console.log(`${'-'.repeat(w.figure)}-+-${'-'.repeat(w.ours)}-+-${'-'.repeat(w.peer)}-+-${'-'.repeat(w.ratio)}-+------`);
    console.log(`${section.title} (${section.seconds.toFixed(1)} s)`);
    if (section.note) console.log(`  ${section.note}`);
    for (const row of section.rows) console.log(line(cells(row)));
  }
}

function markdown(sections: Section[], head: string, command: string): string {
  const esc = (text: string): string => text.replace(/\|/g, '\\|');
  const out = [
    '# Benchmark results',
    '',
    `${head}.`,
    '',
    `Generated by \`${command}\` (bench/run.ts); ratio = this package / peer, lower is better for costs.`,
    'Goals are targets, reported not asserted: ✓ met in this run, ✗ not met.',
    '',
    '| figure | this package | peer | ratio | goal |',
    '|---|---:|---|---:|---|',
  ];
  for (const section of sections) {
    out.push(`| **${esc(section.title)}** (${section.seconds.toFixed(1)} s)${section.note ? ` — ${esc(section.note)}` : ''} | | | | |`);
    for (const row of section.rows) {
      const c = cells(row);
      // Leading spaces mark a sub-row in the console; Markdown needs a visible marker.
      const figure = c.figure.startsWith('  ') ? `↳ ${c.figure.trim()}` : c.figure;
      out.push(`| ${esc(figure)} | ${esc(c.ours)} | ${esc(c.peer)} | ${c.ratio} | ${esc(c.goal)} |`);
    }
  }
  out.push(
    '',
    'Method notes:',
    '- Per-call figures are medians of ≥ 5 rounds after a warm-up, contenders interleaved in every round.',
    '- HealthMonitor figures use the real SDK: `startTelemetry({ startServer: false, hostMetrics: false, maxPlatforms: 10_000 })` and a',
    '  TracerProvider with a BatchSpanProcessor (queue 2,048, batch 512) whose exporter discards: spans are created, ended, queued and "exported".',
    '- CPU figures are `process.cpuUsage()` (all threads, GC included) over a window of the running loop, divided by the checks done in it.',
    '- Detection figures run on `mock.timers` (node:test), 10 ms steps: measured times are exact to a step.',
    '- Span export figures use `startTelemetry()` as the command does, exporting to the real Collector (otel-collector.yaml), which',
    '  forwards to a real Jaeger; bytes per span are OTLP request bodies (the SDK\'s own serializers) for a batch of 512 check spans.',
    '- Replica figures run every monitor as its own process with http checks against one platform server process (its CPU in no figure)',
    '  and a real redis-server; CPU is /proc/<pid>/stat over the window, Redis commands INFO commandstats deltas over the same window.',
    '',
  );
  return out.join('\n');
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const started = performance.now();
  const loadBefore = loadAverage();
  console.log(`conductor-health benchmarks (${quick ? 'quick' : 'full'}), Node ${process.version}`);
  const sections: Section[] = [];
  const benches: Array<{ title: string; run: Bench | string }> = [
    { title: 'PlatformCircuitBreaker (bench/breaker.ts)', run: runBreakerBench as Bench },
    { title: 'HealthMonitor (bench/monitor.ts)', run: runMonitorBench as Bench },
    { title: '/metrics rendering (bench/scrape.ts)', run: await loadScrapeBench() },
    { title: 'Status page event streams (bench/status-page.ts)', run: runStatusPageBench as Bench },
    { title: 'Span export to the real Collector (bench/export.ts)', run: runExportBench as Bench },
    { title: 'Replicas sharing one view through Redis (bench/cluster.ts)', run: runClusterBench as Bench },
  ];
  for (const bench of benches) {
    if (typeof bench.run === 'string') {
      console.log(bench.run);
      sections.push({ title: bench.title, rows: [], seconds: 0, note: bench.run });
      continue;
    }
    console.log(`running ${bench.title} …`);
    const t0 = performance.now();
    try {
      const rows = await bench.run({ quick });
      sections.push({ title: bench.title, rows, seconds: (performance.now() - t0) / 1000 });
    } catch (error) {
      const message = `failed: ${error instanceof Error ? error.message : String(error)}`;
      console.error(`${bench.title} ${message}`);
      sections.push({ title: bench.title, rows: [], seconds: (performance.now() - t0) / 1000, note: message });
      process.exitCode = 1;
    }
  }
  const head = header(quick, (performance.now() - started) / 1000, loadBefore);
  printConsole(sections, head);
  const previous = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const records = previous.includes(RECORDS) ? previous.slice(previous.indexOf(RECORDS)) : '';
  writeFileSync(RESULTS, markdown(sections, head, quick ? 'npm run bench -- --quick' : 'npm run bench') + records);
  console.log(`\nwritten to ${RESULTS}`);
}

await main();
// Whatever a bench left behind (an unref'd timer, a keep-alive socket) must not hold the run open.
process.exit();
