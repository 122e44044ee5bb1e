// Benchmark of the status page's event streams beside a busy monitor:
//
// 1. How late checks start (2,000 platforms @ 1 s) with no page open and with
//    100 open event-stream clients, in interleaved phases of one run.
// 2. What a client that stops reading costs: the server's buffer memory while
//    it is connected, and when it is dropped; the same with the cap lifted.
//
//   node bench/status-page.ts            full run (~2.5 min)
//   node bench/status-page.ts --quick    smoke run (~1 min)
//
// Three processes, as in production: the server (monitor, status page, HTTP
// server), the clients (100 streams that read and discard, like browsers),
// and this one, which tells them when to switch phases. It reports; it asserts nothing.
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { HealthMonitor } from '../src/monitor/health-monitor.ts';
import { silentLogger } from '../src/common/logger.ts';
import { statusPageHandler } from '../src/http/status-page/status-page.ts';
import { atMillisecondBoundary, median, percentile, setupOtel, sig, type BenchRow } from './monitor.ts';

const SELF = fileURLToPath(import.meta.url);
const PLATFORMS = 2_000;
const INTERVAL_MS = 1_000;
const CLIENTS = 100;
const CAP_BYTES = 1024 * 1024;

type Message =
  | { type: 'listening'; port: number }
  | { type: 'phase'; phase: string }
  | { type: 'stats' }
  | { type: 'stats-result'; lateness: Record<string, number[]>; cpu: Record<string, number>; skipped: number; streams: number }
  | { type: 'open'; port: number; count: number }
  | { type: 'opened' }
  | { type: 'close' }
  | { type: 'closed'; bytes: number }
  | { type: 'memory' }
  | { type: 'memory-result'; arrayBuffers: number; streams: number; dropped: number }
  | { type: 'stall'; port: number }
  | { type: 'stalled' };

// ---------------------------------------------------------------------------
// The server child: a monitor of 2,000 trivial platforms and the status page.

async function server(capBytes: number, noisy: boolean): Promise<void> {
  const otel = await setupOtel();
  const monitor = new HealthMonitor({ intervalMs: INTERVAL_MS, resources: false, logger: silentLogger, tracer: otel.tracer });
  const gap = INTERVAL_MS / PLATFORMS;
  let epoch = 0;
  let phase = 'warm-up';
  const lateness: Record<string, number[]> = {};
  const cpu: Record<string, number> = {};
  let cpuMark = process.cpuUsage();
  // Noisy: every platform alternates a success and a failure with a long error, so every
  // update carries every row's error and failure count (~0.3 MB/s), to reach the cap sooner.
  const noise = 'x'.repeat(150);
  const checkOf = (i: number) => {
    let k = 0;
    return () => {
      const t = performance.now();
      // The slot this start belongs to: epoch + i × gap + k × interval.
      const planned = epoch + i * gap + Math.round((t - epoch - i * gap) / INTERVAL_MS) * INTERVAL_MS;
      (lateness[phase] ??= []).push(t - planned);
      if (noisy && (k += 1) % 2 === 0) throw new Error(`check ${k} failed: ${noise}`);
      return true;
    };
  };
  for (let i = 0; i < PLATFORMS; i += 1) monitor.register(`platform-${i}`, checkOf(i));
  // Streams end at their age (60 s by default) whether their client reads or not: the
  // figures here are the byte cap's, so the age stays out of their way.
  const page = statusPageHandler(monitor, { maxStreams: CLIENTS + 10, maxBufferedBytes: capBytes, maxStreamAgeMs: 86_400_000 });
  const http = createServer(page);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  await atMillisecondBoundary();
  epoch = performance.now();
  monitor.start();
  process.on('message', (message: Message) => {
    if (message.type === 'phase') {
      const used = process.cpuUsage(cpuMark);
      cpu[phase] = (cpu[phase] ?? 0) + used.user + used.system;
      cpuMark = process.cpuUsage();
      phase = message.phase;
    } else if (message.type === 'stats') {
      process.send!({ type: 'stats-result', lateness, cpu, skipped: monitor.report().skippedChecks, streams: page.streams } satisfies Message);
    } else if (message.type === 'memory') {
      (globalThis as { gc?: () => void }).gc?.();
      process.send!({ type: 'memory-result', arrayBuffers: process.memoryUsage().arrayBuffers, streams: page.streams, dropped: page.droppedStreams } satisfies Message);
    }
  });
  process.send!({ type: 'listening', port: (http.address() as { port: number }).port } satisfies Message);
}

// ---------------------------------------------------------------------------
// The clients child: streams that read and discard, and one that never reads.

function clients(): void {
  let controllers: AbortController[] = [];
  let bytes = 0;
  process.on('message', async (message: Message) => {
    if (message.type === 'open') {
      controllers = Array.from({ length: message.count }, () => new AbortController());
      await Promise.all(
        controllers.map(async (controller) => {
          const response = await fetch(`http://127.0.0.1:${message.port}/events`, { signal: controller.signal });
          if (response.status !== 200) throw new Error(`stream refused: ${response.status}`);
          void (async () => {
            try {
              for await (const chunk of response.body!) bytes += chunk.byteLength;
            } catch {
              // aborted
            }
          })();
        }),
      );
      process.send!({ type: 'opened' } satisfies Message);
    } else if (message.type === 'close') {
      for (const c of controllers) c.abort();
      controllers = [];
      process.send!({ type: 'closed', bytes } satisfies Message);
      bytes = 0;
    } else if (message.type === 'stall') {
      const socket = connect(message.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.once('connect', () => {
        socket.write('GET /events HTTP/1.1\r\nHost: bench\r\n\r\n');
        socket.pause();
        process.send!({ type: 'stalled' } satisfies Message);
      });
    }
  });
}

// ---------------------------------------------------------------------------
// Orchestration

function start(args: string[]): ChildProcess {
  return fork(SELF, args, { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask<T extends Message['type']>(child: ChildProcess, message: Message | undefined, reply: T): Promise<Extract<Message, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Message) => {
      if (m.type !== reply) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as Extract<Message, { type: T }>);
    };
    const onExit = (code: number | null) => reject(new Error(`bench child exited (${code}) before answering ${reply}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message) child.send(message);
  });
}

function progress(message: string): void {
  process.stderr.write(`  status page: ${message}\n`);
}

/** Lateness p50/p99 and CPU with and without 100 open streams, phases interleaved. */
async function figureStreams(quick: boolean): Promise<BenchRow[]> {
  const srv = start(['--server', String(CAP_BYTES)]);
  const cli = start(['--clients']);
  try {
    const { port } = await ask(srv, undefined, 'listening');
    const phaseMs = quick ? 5_000 : 10_000;
    const pairs = quick ? 2 : 4;
    await sleep(3_000);
    let received = 0;
    for (let k = 0; k < pairs; k += 1) {
      srv.send({ type: 'phase', phase: `none#${k}` } satisfies Message);
      await sleep(phaseMs);
      // Connecting (100 snapshots) counts in neither phase: the figure is the steady state.
      srv.send({ type: 'phase', phase: 'switching' } satisfies Message);
      await ask(cli, { type: 'open', port, count: CLIENTS }, 'opened');
      await sleep(500);
      srv.send({ type: 'phase', phase: `streams#${k}` } satisfies Message);
      await sleep(phaseMs);
      srv.send({ type: 'phase', phase: 'switching' } satisfies Message);
      received += (await ask(cli, { type: 'close' }, 'closed')).bytes;
    }
    const stats = await ask(srv, { type: 'stats' }, 'stats-result');
    // Each phase on its own: the figure is the median phase, the noise the spread between phases of the same side.
    const summary = (side: string) => {
      const phases = Array.from({ length: pairs }, (_, k) => {
        const sorted = (stats.lateness[`${side}#${k}`] ?? []).slice().sort((a, b) => a - b);
        return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length, cpu: stats.cpu[`${side}#${k}`] ?? 0 };
      });
      const p99s = phases.map((p) => p.p99).sort((a, b) => a - b);
      return {
        p50: median(phases.map((p) => p.p50)),
        p99: median(p99s),
        p99s,
        spread: p99s.at(-1)! - p99s[0]!,
        n: phases.reduce((a, p) => a + p.n, 0),
        cpuShare: (100 * phases.reduce((a, p) => a + p.cpu, 0)) / 1000 / (pairs * phaseMs),
      };
    };
    const none = summary('none');
    const streams = summary('streams');
    progress(
      `lateness p99 per phase without streams ${none.p99s.map(sig).join(', ')} ms, with ${CLIENTS} streams ${streams.p99s.map(sig).join(', ')} ms; ` +
        `p50 ${sig(none.p50)} / ${sig(streams.p50)} ms; ${none.n} / ${streams.n} starts; CPU ${sig(none.cpuShare)} / ${sig(streams.cpuShare)} %; ` +
        `${stats.skipped} skipped; clients read ${(received / 2 ** 20).toFixed(1)} MiB`,
    );
    const noise = Math.max(none.spread, streams.spread);
    const label = `${PLATFORMS} platforms @ 1 s, ${pairs} × ${phaseMs / 1000} s per side, interleaved`;
    const row = (figure: string, ours: number, peer: number, unit: string, goal?: string, met?: boolean): BenchRow => ({
      figure,
      ours: sig(ours),
      peer: sig(peer),
      peerName: 'no page open',
      ratio: peer === 0 ? null : sig(ours / peer),
      unit,
      ...(goal ? { goal, met } : {}),
    });
    // Within noise: the medians differ by less than the phases of one side differ among themselves.
    return [
      row(
        `check start lateness p99 (median of phases) with ${CLIENTS} open event streams, ${label}; noise (spread between phases of a side) ${sig(noise)} ms`,
        streams.p99,
        none.p99,
        'ms',
        'unchanged within noise',
        streams.p99 - none.p99 <= noise,
      ),
      row('  p50', streams.p50, none.p50, 'ms'),
      row(`  CPU of the server process (monitor + ${CLIENTS} streams, ${sig(received / 2 ** 20 / (pairs * phaseMs / 1000))} MiB/s sent)`, streams.cpuShare, none.cpuShare, '%'),
    ];
  } finally {
    srv.kill();
    cli.kill();
  }
}

/** Buffer memory while one client does not read (and every platform's row changes each second), with the cap and with it lifted. */
async function figureStall(windowMs: number, capBytes: number): Promise<{ peakBytes: number; droppedAfterS: number | null }> {
  const srv = start(['--server', String(capBytes), '--noisy']);
  const cli = start(['--clients']);
  try {
    const { port } = await ask(srv, undefined, 'listening');
    await sleep(2_000);
    const base = (await ask(srv, { type: 'memory' }, 'memory-result')).arrayBuffers;
    await ask(cli, { type: 'stall', port }, 'stalled');
    const t0 = performance.now();
    let peak = 0;
    let droppedAfterS: number | null = null;
    while (performance.now() - t0 < windowMs) {
      await sleep(500);
      const m = await ask(srv, { type: 'memory' }, 'memory-result');
      peak = Math.max(peak, m.arrayBuffers - base);
      if (m.dropped > 0 && droppedAfterS === null) droppedAfterS = (performance.now() - t0) / 1000;
      if (droppedAfterS !== null && performance.now() - t0 > droppedAfterS * 1000 + 2_000) break;
    }
    progress(`cap ${capBytes} B: peak buffer growth ${(peak / 2 ** 20).toFixed(2)} MiB, dropped after ${droppedAfterS === null ? 'never' : `${droppedAfterS.toFixed(1)} s`}`);
    return { peakBytes: peak, droppedAfterS };
  } finally {
    srv.kill();
    cli.kill();
  }
}

/** Every figure of the status page's streams. */
export async function runStatusPageBench({ quick = false }: { quick?: boolean } = {}): Promise<BenchRow[]> {
  const rows = await figureStreams(quick);
  // The kernel's socket buffers (MiBs on loopback) fill first, then the cap applies;
  // every row's error changing every second makes each update large, to get there sooner.
  const capped = await figureStall(quick ? 60_000 : 90_000, CAP_BYTES);
  // The same client with the cap lifted, for as long plus 10 s: what the cap saves.
  const window = capped.droppedAfterS === null ? (quick ? 60_000 : 90_000) : capped.droppedAfterS * 1000 + 10_000;
  const uncapped = await figureStall(window, 2 ** 31);
  const mib = (b: number) => sig(b / 2 ** 20);
  rows.push({
    figure: `a client that stops reading, every row changed every second: server buffer growth (peak; cap ${CAP_BYTES / 2 ** 20} MiB)${capped.droppedAfterS === null ? ', not dropped in the window' : `, dropped after ${sig(capped.droppedAfterS)} s`}; peer over ${sig(window / 1000)} s`,
    ours: mib(capped.peakBytes),
    peer: mib(uncapped.peakBytes),
    peerName: `cap lifted${uncapped.droppedAfterS === null ? ', still growing' : ''}`,
    ratio: uncapped.peakBytes === 0 ? null : sig(capped.peakBytes / uncapped.peakBytes),
    unit: 'MiB',
    goal: '≤ cap + one event',
    met: capped.peakBytes <= CAP_BYTES + 512 * 1024,
  });
  return rows;
}

if (process.argv.includes('--server')) {
  await server(Number(process.argv[process.argv.indexOf('--server') + 1]), process.argv.includes('--noisy'));
} else if (process.argv.includes('--clients')) {
  clients();
} else if (process.argv[1] === SELF) {
  const rows = await runStatusPageBench({ quick: process.argv.includes('--quick') });
  for (const r of rows) console.log(`${r.figure}: ${r.ours} ${r.unit ?? ''} (peer ${r.peer}) ${r.goal ?? ''} ${r.met === undefined ? '' : r.met ? '✓' : '✗'}`);
  process.exit(0);
}
