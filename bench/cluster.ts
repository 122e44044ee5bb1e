// Benchmark of replicas sharing one view through Redis (issue 21, cluster/):
// 10,000 platforms @ 5 s, http checks, on three replicas and one Redis, against
// one process doing every check, in the same run. Phases, in order:
//
// 1. one process, no cluster (half its window; the other half comes last, so the
//    peer brackets the replicas): CPU, lateness, duplicates, misses;
// 2. the floor of splitting the work: three processes without a cluster, each
//    checking the platforms one replica owns (half a window);
// 3. three replicas and a real redis-server (persistence off), steady state: Redis
//    commands and round trips per check (INFO commandstats deltas), Redis CPU
//    (INFO cpu), the replicas' CPU together (/proc/<pid>/stat), lateness,
//    duplicates and misses as the platform server sees them;
// 4. open propagation: 100 platforms start failing; from the shared record turning
//    OPEN (a raw subscriber of the cluster's channel, in this process) to each other
//    replica's breaker turning OPEN (its monitor's transition event, over IPC);
// 5. failover: SIGKILL one replica; for its platforms, from the kill to their next request;
// 6. one process again (the second half of its window).
//
//   node bench/cluster.ts            full run (~5 min)
//   node bench/cluster.ts --quick    smoke run (~3 min: 20 s windows)
//
// Every monitor is its own process (the same code, setupOtel()'s real SDK, only
// the cluster option differs), as is the platform server (test/helpers/
// platform-server.ts, every request timed per platform; its CPU is in no figure)
// and redis-server (test/helpers/redis.ts); this process times the phases and
// reads the counters. Times shared between processes are performance.timeOrigin
// + performance.now() (ms since the epoch, sub-ms). CLUSTER_BENCH_CPU_PROF=<dir>
// writes each monitor's CPU profile there (not the killed replica's). It
// reports; it asserts nothing.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { top } from '../src/cluster/rendezvous.ts';
import type { Logger } from '../src/common/logger.ts';
import { httpCheck } from '../src/monitor/checks/http-check.ts';
import { HealthMonitor } from '../src/monitor/health-monitor.ts';
import { startPlatformServer } from '../test/helpers/platform-server.ts';
import { encodeCommand, parseReply, startRedis, type RedisServer, type RespValue } from '../test/helpers/redis.ts';
import { percentile, setupOtel, sig, type BenchRow } from './monitor.ts';

const SELF = fileURLToPath(import.meta.url);
const PLATFORMS = 10_000;
const INTERVAL_MS = 5_000;
const REPLICAS = 3;
/** The defaults, written out: the failover goal is memberTtlMs + one interval. */
const HEARTBEAT_MS = 2_000;
const MEMBER_TTL_MS = 3 * HEARTBEAT_MS;
const KEY_PREFIX = 'conductor-health';
const CHANNEL = `${KEY_PREFIX}:changes`;
/** Platforms made to fail for the open-propagation figure: 1 % of them, spread over the names (so over the owners). */
const FAILING = 100;
const GOAL_ROUND_TRIPS = 1;
const GOAL_CPU_RATIO = 1.3;
const GOAL_DUPLICATES_PCT = 1;
const GOAL_FAILOVER_MS = MEMBER_TTL_MS + INTERVAL_MS;
const GOAL_PROPAGATION_MS = 250;

/** Ms since the epoch with sub-ms resolution, comparable between processes on one machine. */
const now = (): number => performance.timeOrigin + performance.now();

/** What the platform server finds in its request log over a window. */
interface Analysis {
  /** Requests that arrived in the window: the checks run (one request each). */
  requests: number;
  /** Slots of a platform in the window (its phase, every interval). */
  slots: number;
  /** Requests beyond one in a slot. */
  duplicates: number;
  /** Slots without a request. */
  misses: number;
  /** Platforms with no request at all near the window. */
  silent: number;
  /** Lateness of each slot's first request, ms, ascending. */
  lateness: number[];
  /** A few missed slots, for the progress line: platform, slot, the requests around it. */
  examples: string[];
}

type Message =
  | { type: 'listening'; origin: string }
  | { type: 'analyse'; from: number; to: number }
  | { type: 'analysis'; analysis: Analysis }
  | { type: 'fail'; names: string[]; failing: boolean }
  | { type: 'failing' }
  | { type: 'first-after'; names: string[]; at: number }
  | { type: 'firsts'; times: Array<number | null> }
  | { type: 'started'; role: string }
  | { type: 'transition'; role: string; platform: string; from: string; to: string; remote: boolean; t: number }
  /** With gc, heapMiB is what a full collection leaves (ask after the CPU is sampled: it costs a pause). */
  | { type: 'report'; gc?: boolean }
  | { type: 'stop' }
  | { type: 'report-result'; skipped: number; members: string[]; localMode: boolean | undefined; warnings: number; delayP99: number; delayMax: number; gcMax: number; gcTotal: number; heapMiB: number }
  | { type: 'log'; role: string; level: string; text: string };

// ---------------------------------------------------------------------------
// The platform server child: 10,000 platforms, every request timed.

/** Slots this close to a window's end are left out of its lateness, duplicates and misses: their request may still be on its way. */
const SETTLE_MS = 2_000;

/**
 * The slots of one platform's requests in [from, to − 2 s): its phase is the
 * earliest of its requests' offsets from the interval grid (outliers more than
 * a second earlier than the median offset, a check another replica ran at its
 * own phase, left out); a request counts for the slot it follows (up to a
 * fifth of an interval early); each slot's lateness is the gap from it to its
 * first request.
 */
function analyseRequests(times: readonly number[], from: number, to: number, intervalMs: number, out: Analysis, name = ''): void {
  const near = times.filter((t) => t >= from - intervalMs && t < to + intervalMs);
  out.requests += times.filter((t) => t >= from && t < to).length;
  if (near.length === 0) {
    out.silent += 1;
    out.slots += Math.round((to - SETTLE_MS - from) / intervalMs);
    out.misses += Math.round((to - SETTLE_MS - from) / intervalMs);
    return;
  }
  const t0 = near[0]!;
  const bases = near.map((t) => t - Math.round((t - t0) / intervalMs) * intervalMs).sort((a, b) => a - b);
  const middle = bases[bases.length >> 1]!;
  const phase = bases.find((b) => b >= middle - 1_000) ?? middle;
  const first = Math.ceil((from - phase) / intervalMs);
  // A slot in the last seconds of the window may still be on its way (or cut by a stop): not judged.
  const last = Math.ceil((to - SETTLE_MS - phase) / intervalMs) - 1;
  const counts = new Map<number, number>();
  for (const t of near) {
    // A request belongs to the last slot that began no more than a fifth of an interval after it: one that
    // came 3 s late is that slot's late check, not the next slot's duplicate.
    const k = Math.floor((t - phase + intervalMs / 5) / intervalMs);
    if (k < first || k > last) continue;
    const seen = counts.get(k) ?? 0;
    counts.set(k, seen + 1);
    if (seen === 0) out.lateness.push(t - (phase + k * intervalMs));
  }
  for (let k = first; k <= last; k += 1) {
    const n = counts.get(k) ?? 0;
    out.slots += 1;
    if (n === 0) {
      out.misses += 1;
      const slot = phase + k * intervalMs;
      if (out.examples.length < 5) out.examples.push(`${name} slot ${(slot - from).toFixed(0)} ms into the window: requests at ${near.map((t) => (t - slot).toFixed(0)).join(', ')} ms from it`);
    } else out.duplicates += n - 1;
  }
}

async function platformServer(): Promise<void> {
  const server = await startPlatformServer({ platforms: PLATFORMS });
  const origin = performance.timeOrigin;
  const timesOf = (name: string): number[] => server.requestsOf(name).map((r) => origin + r.at);
  process.on('message', (message: Message) => {
    if (message.type === 'analyse') {
      const analysis: Analysis = { requests: 0, slots: 0, duplicates: 0, misses: 0, silent: 0, lateness: [], examples: [] };
      for (const name of server.names) analyseRequests(timesOf(name), message.from, message.to, INTERVAL_MS, analysis, name);
      analysis.lateness.sort((a, b) => a - b);
      process.send!({ type: 'analysis', analysis } satisfies Message);
    } else if (message.type === 'fail') {
      for (const name of message.names) server.setFailing(name, message.failing);
      process.send!({ type: 'failing' } satisfies Message);
    } else if (message.type === 'first-after') {
      const times = message.names.map((name) => timesOf(name).find((t) => t > message.at) ?? null);
      process.send!({ type: 'firsts', times } satisfies Message);
    }
  });
  process.send!({ type: 'listening', origin: server.origin } satisfies Message);
}

// ---------------------------------------------------------------------------
// A monitor child: the single process, or one replica.

function platformName(i: number): string {
  return `p${String(i).padStart(String(PLATFORMS - 1).length, '0')}`;
}

/** The replicas' ids: their members' names, and the owners rendezvous hashing gives. */
const ROLES = Array.from({ length: REPLICAS }, (_, i) => `replica-${i + 1}`);

/** The platforms `role` owns while all the replicas are members. */
function ownedBy(role: string): (name: string) => boolean {
  const members = [...ROLES].sort();
  return (name) => top(name, members, 1)[0] === role;
}

/**
 * A monitor of the platforms: every one, or (`only`) those the replica of
 * that name owns in the cluster, checked alone; with `redisUrl`, a replica.
 */
async function monitorChild(role: string, origin: string, redisUrl: string | undefined, only: string | undefined): Promise<void> {
  const otel = await setupOtel();
  let warnings = 0;
  const forward = (level: string) => (fields: unknown, text?: string) => {
    if (level !== 'info') warnings += 1;
    // Cluster and monitor notices only: rare, and what a run should show.
    process.send!({ type: 'log', role, level, text: `${text ?? ''} ${JSON.stringify(fields)}` } satisfies Message);
  };
  const logger: Logger = { debug() {}, info: forward('info'), warn: forward('warn'), error: forward('error') } as unknown as Logger;
  const monitor = new HealthMonitor({
    intervalMs: INTERVAL_MS,
    // Degraded mode would stretch intervals on this busy 2-core machine: off on both sides.
    resources: false,
    logger,
    tracer: otel.tracer,
    ...(redisUrl === undefined ? {} : { cluster: { redisUrl, instanceId: role, heartbeatMs: HEARTBEAT_MS, memberTtlMs: MEMBER_TTL_MS, keyPrefix: KEY_PREFIX } }),
  });
  const mine = only === undefined ? () => true : ownedBy(only);
  for (let i = 0; i < PLATFORMS; i += 1) {
    const name = platformName(i);
    if (mine(name)) monitor.register(name, httpCheck({ url: `${origin}/p/${name}` }));
  }
  monitor.on('transition', (change) => {
    process.send!({ type: 'transition', role, platform: change.platform, from: change.from, to: change.to, remote: change.remote === true, t: now() } satisfies Message);
  });
  // How late this event loop ran between two reports: what a timeout bound on Redis commands meets.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // Garbage collection's pauses between two reports: a long one holds every check of the process.
  let gcMax = 0;
  let gcTotal = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMax = Math.max(gcMax, entry.duration);
      gcTotal += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const heapAfter = (collect: boolean): number => {
    if (collect) (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed;
  };
  process.on('message', (message: Message) => {
    if (message.type === 'report') {
      const report = monitor.report();
      const delayP99 = delay.percentile(99) / 1e6;
      const delayMax = delay.max / 1e6;
      delay.reset();
      const gc = { gcMax, gcTotal };
      gcMax = gcTotal = 0;
      process.send!({
        type: 'report-result',
        skipped: report.skippedChecks,
        members: report.cluster?.members ?? [],
        localMode: report.cluster?.localMode,
        warnings,
        delayP99,
        delayMax,
        ...gc,
        heapMiB: heapAfter(message.gc === true) / 2 ** 20,
      } satisfies Message);
    } else if (message.type === 'stop') {
      void monitor.stop().then(async () => {
        await otel.shutdown();
        process.exit(0);
      });
    }
  });
  monitor.start();
  process.send!({ type: 'started', role } satisfies Message);
}

// ---------------------------------------------------------------------------
// Orchestration

/** With CLUSTER_BENCH_CPU_PROF=<dir>, each monitor child writes a CPU profile there when it is stopped (not when killed). */
const PROFILE_DIR = process.env.CLUSTER_BENCH_CPU_PROF;
let profiles = 0;

function start(args: string[]): ChildProcess {
  const profile = PROFILE_DIR !== undefined && args[0] === '--monitor' ? ['--cpu-prof', '--cpu-prof-interval=500', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${args[1]}-${(profiles += 1)}.cpuprofile`] : [];
  return fork(SELF, args, { execArgv: ['--expose-gc', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Asks a monitor child to stop its monitor and exit; kills it when it has not within 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send({ type: 'stop' } satisfies Message);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function ask<T extends Message['type']>(child: ChildProcess, message: Message | undefined, reply: T, timeoutMs = 60_000): Promise<Extract<Message, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`bench child gave no ${reply} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | undefined, m?: Message) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(m as Extract<Message, { type: T }>);
    };
    const onMessage = (m: Message) => {
      if (m.type === reply) finish(undefined, m);
    };
    const onExit = (code: number | null) => finish(new Error(`bench child exited (${code}) before answering ${reply}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message) child.send(message);
  });
}

function progress(message: string): void {
  process.stderr.write(`  cluster: ${message}\n`);
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, all threads) of process `pid` so far, in ms, from /proc/<pid>/stat. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/**
 * CPU time (ms) the machine spent so far outside this bench's processes (this
 * one, `pids` and their threads): /proc/stat's busy time less theirs. Over a
 * window, what else ran on the machine (the bench's figures are only honest
 * when that is near 0).
 */
function othersCpuMs(pids: readonly number[]): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / CLOCK_TICKS;
  return busy - [process.pid, ...pids].reduce((a, pid) => a + processCpuMs(pid), 0);
}

/** INFO's `key:value` lines. */
function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

interface RedisSample {
  /** Calls per command (lower case) since the start. */
  calls: Map<string, number>;
  /** used_cpu_sys + used_cpu_user, ms. */
  cpuMs: number;
}

async function sampleRedis(redis: RedisServer): Promise<RedisSample> {
  const stats = infoFields(String(await redis.command('INFO', 'commandstats')));
  const cpu = infoFields(String(await redis.command('INFO', 'cpu')));
  const calls = new Map<string, number>();
  for (const [key, value] of stats) {
    const m = /^cmdstat_(.+)$/.exec(key);
    const n = /(?:^|,)calls=(\d+)/.exec(value);
    if (m && n) calls.set(m[1]!, Number(n[1]));
  }
  return { calls, cpuMs: (Number(cpu.get('used_cpu_sys')) + Number(cpu.get('used_cpu_user'))) * 1000 };
}

/**
 * Commands only the scripts (cluster/scripts.ts) call, as redis.call(): INFO
 * commandstats counts them like commands a client sent. GET is both: each
 * heartbeat's script reads the epoch (one GET per ZADD), the resync sends
 * GET itself.
 */
const SCRIPT_ONLY = new Set(['time', 'set', 'zadd', 'zremrangebyscore', 'zrange', 'zrem', 'publish', 'hget', 'hset', 'incr']);
/** Sent by this bench, not by the replicas. */
const OURS = new Set(['info', 'subscribe']);

interface CommandDelta {
  /** Every command Redis ran for the replicas, script steps included. */
  executed: number;
  /** Commands the replicas sent: their round trips (a pipelined command shares a write with others, never a reply). */
  sent: number;
  /** Script executions (EVALSHA, EVAL). */
  scripts: number;
  /** Per command, for the progress line. */
  byCommand: Array<[string, number]>;
  /** TIME calls should equal script executions (each script but LEAVE reads TIME once): the split's check. */
  timeCalls: number;
}

function commandDelta(before: RedisSample, after: RedisSample): CommandDelta {
  const delta = new Map<string, number>();
  for (const [name, calls] of after.calls) {
    const d = calls - (before.calls.get(name) ?? 0);
    if (d > 0 && !OURS.has(name)) delta.set(name, d);
  }
  let executed = 0;
  let sent = 0;
  for (const [name, d] of delta) {
    executed += d;
    if (!SCRIPT_ONLY.has(name)) sent += d;
  }
  // The heartbeat script's GET of the epoch is no round trip.
  sent -= Math.min(delta.get('get') ?? 0, delta.get('zadd') ?? 0);
  const scripts = (delta.get('evalsha') ?? 0) + (delta.get('eval') ?? 0);
  return { executed, sent, scripts, byCommand: [...delta].sort((a, b) => b[1] - a[1]), timeCalls: delta.get('time') ?? 0 };
}

/** A raw RESP subscriber of the cluster's channel: each message with the time it arrived. */
function subscribe(port: number, onMessage: (payload: string, at: number) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffer: Buffer = Buffer.alloc(0);
    let subscribed = false;
    socket.once('error', reject);
    socket.on('connect', () => socket.write(encodeCommand(['SUBSCRIBE', CHANNEL])));
    socket.on('data', (chunk: Buffer) => {
      const at = now();
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      let offset = 0;
      for (;;) {
        const reply = parseReply(buffer, offset);
        if (!reply) break;
        offset = reply.next;
        const value = reply.value as RespValue;
        if (Array.isArray(value) && value[0] === 'message') onMessage(String(value[2]), at);
        else if (Array.isArray(value) && value[0] === 'subscribe' && !subscribed) {
          subscribed = true;
          resolve(socket);
        }
      }
      buffer = buffer.subarray(offset);
    });
  });
}

/** One window of processes checking without a cluster. */
interface SingleRun {
  ms: number;
  cpuMs: number;
  stats: Analysis;
  skipped: number;
  /** The largest heap after a full GC at the window's end. */
  heapMiB: number;
  /** CPU time of the machine's other processes over the window. */
  othersMs: number;
}

function mergeAnalyses(parts: Analysis[]): Analysis {
  const all: Analysis = { requests: 0, slots: 0, duplicates: 0, misses: 0, silent: 0, lateness: [], examples: [] };
  for (const part of parts) {
    all.requests += part.requests;
    all.slots += part.slots;
    all.duplicates += part.duplicates;
    all.misses += part.misses;
    all.silent += part.silent;
    all.lateness.push(...part.lateness);
    all.examples.push(...part.examples);
  }
  all.lateness.sort((a, b) => a - b);
  return all;
}

const loadAverage = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function pct(part: number, whole: number): number {
  return whole === 0 ? 0 : (100 * part) / whole;
}

/** Every figure of the cluster bench. */
export async function runClusterBench({ quick = false }: { quick?: boolean } = {}): Promise<BenchRow[]> {
  const windowMs = quick ? 20_000 : 60_000;
  // Every process warms up over as many checks before it is measured (V8 compiles a function after so many
  // calls: a process running a third of the checks takes three times as long; measured earlier, it
  // cost a replica 20 µs per check of compiling at a 10 s warm-up, 2 µs after 90 s). The single process
  // gets singleWarmMs; a process with a third of the platforms three times that.
  const singleWarmMs = quick ? 8_000 : 10_000;
  const thirdWarmMs = REPLICAS * singleWarmMs;
  const names = Array.from({ length: PLATFORMS }, (_, i) => platformName(i));
  const children: ChildProcess[] = [];
  const redis = await startRedis();
  let subscriber: Socket | undefined;
  const server = start(['--platform-server']);
  children.push(server);
  try {
    const { origin } = await ask(server, undefined, 'listening');
    const logs: string[] = [];
    let phase = 'single';
    const listenLogs = (child: ChildProcess) =>
      child.on('message', (m: Message) => {
        if (m.type === 'log') logs.push(`[${phase}] ${m.role} ${m.level}: ${m.text}`);
      });

    // 1. One process doing every check: half its window before the replicas, half after (6).
    // 2. The floor of splitting the work: three processes, each checking alone the platforms one replica owns.
    const singleHalfMs = windowMs / 2;
    const runAlone = async (label: string, parts: Array<{ role: string; only?: string }>): Promise<SingleRun> => {
      phase = label;
      const processes = parts.map(({ role, only }) => {
        const child = start(['--monitor', role, origin, '-', only ?? '-']);
        children.push(child);
        listenLogs(child);
        return child;
      });
      await Promise.all(processes.map((child) => ask(child, undefined, 'started')));
      await sleep(parts.length === 1 ? singleWarmMs : thirdWarmMs);
      const load = loadAverage();
      const before = await Promise.all(processes.map((child) => ask(child, { type: 'report' }, 'report-result')));
      const cpu = () => processes.reduce((a, child) => a + processCpuMs(child.pid!), 0);
      const pids = [...processes, server].map((child) => child.pid!).concat(redis.pid);
      const s0 = { t: now(), cpu: cpu(), others: othersCpuMs(pids) };
      await sleep(singleHalfMs);
      const s1 = { t: now(), cpu: cpu(), others: othersCpuMs(pids) };
      const reports = await Promise.all(processes.map((child) => ask(child, { type: 'report', gc: true }, 'report-result')));
      await Promise.all(processes.map(stopChild));
      const stats = (await ask(server, { type: 'analyse', from: s0.t, to: s1.t }, 'analysis')).analysis;
      const run = { ms: s1.t - s0.t, cpuMs: s1.cpu - s0.cpu, stats, skipped: reports.reduce((a, r, i) => a + r.skipped - before[i]!.skipped, 0), heapMiB: Math.max(...reports.map((r) => r.heapMiB)), othersMs: s1.others - s0.others };
      progress(
        `${label}: ${stats.requests} checks in ${sig(run.ms / 1000)} s, CPU ${sig(pct(run.cpuMs, run.ms))} % of a core (${sig((1000 * run.cpuMs) / stats.requests)} µs per check), ` +
          `lateness p50 ${sig(percentile(stats.lateness, 50))} ms p99 ${sig(percentile(stats.lateness, 99))} ms, ${stats.duplicates} duplicates, ${stats.misses} misses of ${stats.slots} slots, ` +
          `${run.skipped} skipped; event-loop delay p99 ${reports.map((r) => sig(r.delayP99)).join(' / ')} ms, max ${reports.map((r) => sig(r.delayMax)).join(' / ')} ms; ` +
          `GC ${reports.map((r) => `${sig(r.gcTotal)} ms (longest ${sig(r.gcMax)})`).join(' / ')}; heap after a full GC ${reports.map((r) => sig(r.heapMiB)).join(' / ')} MiB; load ${load}; other processes ${sig(pct(run.othersMs, run.ms))} % of a core`,
      );
      if (stats.examples.length > 0) progress(`  missed, e.g.: ${stats.examples.join('; ')}`);
      return run;
    };
    const runSingle = (label: string) => runAlone(label, [{ role: 'single' }]);
    const singleRuns = [await runSingle('single, before')];
    const split = await runAlone(
      'split in three, no cluster',
      ROLES.map((role) => ({ role: `alone-${role}`, only: role })),
    );

    // 3. Three replicas and Redis, steady state.
    phase = 'cluster warm-up';
    const opens = new Map<string, { at: number; by: string }>();
    subscriber = await subscribe(redis.port, (payload, at) => {
      let message: { p?: string; by?: string; st?: { s?: string } };
      try {
        message = JSON.parse(payload) as typeof message;
      } catch {
        return;
      }
      if (typeof message.p === 'string' && message.st?.s === 'O' && !opens.has(message.p)) opens.set(message.p, { at, by: String(message.by) });
    });
    const transitions: Array<Extract<Message, { type: 'transition' }>> = [];
    const replicas = ROLES.map((role) => {
      const child = start(['--monitor', role, origin, redis.url, '-']);
      children.push(child);
      listenLogs(child);
      child.on('message', (m: Message) => {
        if (m.type === 'transition') transitions.push(m);
      });
      return child;
    });
    await Promise.all(replicas.map((child) => ask(child, undefined, 'started')));
    await sleep(thirdWarmMs);
    const views = await Promise.all(replicas.map((child) => ask(child, { type: 'report' }, 'report-result')));
    progress(`members seen by each replica: ${views.map((v) => `${v.members.length}${v.localMode ? ' (local mode)' : ''}`).join(', ')}`);
    const clusterLoad = loadAverage();
    const r0 = await sampleRedis(redis);
    phase = 'cluster window';
    const pids = [...replicas, server].map((child) => child.pid!).concat(redis.pid);
    const c0 = { t: now(), cpu: replicas.map((child) => processCpuMs(child.pid!)), others: othersCpuMs(pids) };
    await sleep(windowMs);
    const c1 = { t: now(), cpu: replicas.map((child) => processCpuMs(child.pid!)), others: othersCpuMs(pids) };
    const r1 = await sampleRedis(redis);
    phase = 'open propagation';
    const clusterStats = (await ask(server, { type: 'analyse', from: c0.t, to: c1.t }, 'analysis')).analysis;
    const after = await Promise.all(replicas.map((child) => ask(child, { type: 'report', gc: true }, 'report-result')));
    const commands = commandDelta(r0, r1);
    const clusterSkipped = after.reduce((a, r, i) => a + r.skipped - views[i]!.skipped, 0);
    const checks = clusterStats.requests;
    const seconds = (c1.t - c0.t) / 1000;
    const replicaCpu = c1.cpu.map((cpu, i) => cpu - c0.cpu[i]!);
    const replicaCpuPct = pct(replicaCpu.reduce((a, b) => a + b, 0), c1.t - c0.t);
    const redisCpuPct = pct(r1.cpuMs - r0.cpuMs, c1.t - c0.t);
    progress(
      `cluster: ${checks} checks in ${sig(seconds)} s; replicas' CPU ${replicaCpu.map((ms) => `${sig(pct(ms, c1.t - c0.t))} %`).join(' + ')} = ${sig(replicaCpuPct)} % of a core; ` +
        `Redis CPU ${sig(redisCpuPct)} %; lateness p50 ${sig(percentile(clusterStats.lateness, 50))} ms p99 ${sig(percentile(clusterStats.lateness, 99))} ms; ` +
        `${clusterStats.duplicates} duplicates, ${clusterStats.misses} misses of ${clusterStats.slots} slots, ${clusterStats.silent} platforms silent; ` +
        `skipped ${after.map((a, i) => a.skipped - views[i]!.skipped).join(' / ')}; event-loop delay p99 ${after.map((a) => sig(a.delayP99)).join(' / ')} ms, ` +
        `max ${after.map((a) => sig(a.delayMax)).join(' / ')} ms; GC ${after.map((a) => `${sig(a.gcTotal)} ms (longest ${sig(a.gcMax)})`).join(' / ')}; heap after a full GC ${after.map((a) => sig(a.heapMiB)).join(' / ')} MiB; members seen ${after.map((a) => `${a.members.length}${a.localMode ? ' (local mode)' : ''}`).join(', ')}; load ${clusterLoad}; other processes ${sig(pct(c1.others - c0.others, c1.t - c0.t))} % of a core`,
    );
    progress(
      `Redis commands in the window: ${commands.byCommand.map(([name, n]) => `${name} ${n}`).join(', ')} ` +
        `(${commands.executed} executed, ${commands.sent} sent by the replicas; ${commands.scripts} scripts, ${commands.timeCalls} TIME)`,
    );
    if (clusterStats.examples.length > 0) progress(`  missed, e.g.: ${clusterStats.examples.join('; ')}`);

    // 4. Open propagation: the shared record turns OPEN; each other replica's breaker follows.
    const failing = Array.from({ length: FAILING }, (_, i) => names[Math.floor((i * PLATFORMS) / FAILING)]!);
    const failingSet = new Set(failing);
    await ask(server, { type: 'fail', names: failing, failing: true }, 'failing');
    const failStart = now();
    // Three failures in a row open a breaker: up to three intervals, plus the last check's answer.
    const openBound = failStart + 3 * INTERVAL_MS + 5_000;
    const openedEverywhere = (): boolean =>
      failing.every((p) => opens.has(p) && ROLES.every((role) => transitions.some((t) => t.role === role && t.platform === p && t.to === 'OPEN')));
    while (now() < openBound && !openedEverywhere()) await sleep(250);
    await sleep(500);
    const propagation: number[] = [];
    const ownAnswer: number[] = [];
    let notReached = 0;
    for (const platform of failing) {
      const open = opens.get(platform);
      if (open === undefined) continue;
      for (const role of ROLES) {
        const seen = transitions.find((t) => t.role === role && t.platform === platform && t.to === 'OPEN' && t.t >= open.at - 1_000);
        if (role === open.by) {
          if (seen) ownAnswer.push(seen.t - open.at);
          continue;
        }
        if (seen === undefined) notReached += 1;
        else propagation.push(seen.t - open.at);
      }
    }
    propagation.sort((a, b) => a - b);
    ownAnswer.sort((a, b) => a - b);
    const unopened = failing.filter((p) => !opens.has(p)).length;
    progress(
      `open propagation: ${opens.size} of ${FAILING} failing platforms opened in ${sig((now() - failStart) / 1000)} s; to the other replicas p50 ${sig(percentile(propagation, 50))} ms, ` +
        `p99 ${sig(percentile(propagation, 99))} ms, max ${sig(propagation.at(-1) ?? Number.NaN)} ms over ${propagation.length} (${notReached} not reached); ` +
        `the opener's own breaker p50 ${sig(percentile(ownAnswer, 50))} ms`,
    );

    // 5. Failover: SIGKILL one replica; its platforms' next request.
    const victimRole = ROLES.at(-1)!;
    const victim = replicas.at(-1)!;
    const victimOwns = ownedBy(victimRole);
    const orphans = names.filter((p) => !failingSet.has(p) && victimOwns(p));
    phase = 'failover';
    const killedAt = now();
    victim.kill('SIGKILL');
    const failoverBound = killedAt + GOAL_FAILOVER_MS + 6_000;
    await sleep(Math.max(0, failoverBound - now()));
    const firsts = (await ask(server, { type: 'first-after', names: orphans, at: killedAt }, 'firsts')).times;
    const failover = firsts.filter((t): t is number => t !== null).map((t) => t - killedAt).sort((a, b) => a - b);
    const unchecked = firsts.filter((t) => t === null).length;
    progress(
      `failover: ${orphans.length} platforms of ${victimRole}; next request p50 ${sig(percentile(failover, 50) / 1000)} s, p99 ${sig(percentile(failover, 99) / 1000)} s, ` +
        `max ${sig((failover.at(-1) ?? Number.NaN) / 1000)} s after the kill; ${unchecked} not checked within ${sig((failoverBound - killedAt) / 1000)} s`,
    );
    await Promise.all(replicas.filter((child) => child !== victim).map(stopChild));
    // 6. One process again.
    await ask(server, { type: 'fail', names: failing, failing: false }, 'failing');
    singleRuns.push(await runSingle('single, after'));
    const singleMs = singleRuns.reduce((a, r) => a + r.ms, 0);
    const singleCpuMs = singleRuns.reduce((a, r) => a + r.cpuMs, 0);
    const singleCpuPct = pct(singleCpuMs, singleMs);
    const singleStats = mergeAnalyses(singleRuns.map((r) => r.stats));
    const splitCpuPct = pct(split.cpuMs, split.ms);

    // What the monitors logged, counted by replica, level and message, with the fields of its first.
    const logCounts = new Map<string, { n: number; fields: string }>();
    for (const line of logs) {
      const at = line.search(/ \{.*\}$/);
      const key = at < 0 ? line : line.slice(0, at);
      const seen = logCounts.get(key);
      if (seen) seen.n += 1;
      else logCounts.set(key, { n: 1, fields: at < 0 ? '' : line.slice(at + 1, at + 301) });
    }
    for (const [line, { n, fields }] of logCounts) progress(`logged ${n} ×: ${line}${fields && ` (first: ${fields})`}`);

    // Rows.
    const perCheck = (n: number) => sig(n / checks);
    const singleP99 = percentile(singleStats.lateness, 99);
    const clusterP99 = percentile(clusterStats.lateness, 99);
    const duplicatesPct = pct(clusterStats.duplicates, clusterStats.slots);
    const failoverMax = unchecked > 0 ? Number.POSITIVE_INFINITY : (failover.at(-1) ?? Number.NaN);
    const propagationP99 = notReached > 0 ? Number.POSITIVE_INFINITY : percentile(propagation, 99);
    const label = `${PLATFORMS.toLocaleString('en')} platforms @ ${INTERVAL_MS / 1000} s, ${REPLICAS} replicas + Redis, ${sig(seconds)} s window`;
    const rows: BenchRow[] = [
      {
        figure: `Redis round trips per check (commands the replicas sent, INFO commandstats), ${label}, ${checks.toLocaleString('en')} checks`,
        ours: sig(commands.sent / checks),
        peer: null,
        ratio: null,
        goal: `≤ ${GOAL_ROUND_TRIPS} on average`,
        met: commands.sent / checks <= GOAL_ROUND_TRIPS,
      },
      {
        figure: `  Redis commands executed per check (script steps included; ${commands.scripts} scripts)`,
        ours: perCheck(commands.executed),
        peer: null,
        ratio: null,
      },
      {
        figure: `  Redis CPU (used_cpu_sys + used_cpu_user), % of a core; ${sig(((r1.cpuMs - r0.cpuMs) * 1000) / checks)} µs per check`,
        ours: sig(redisCpuPct),
        peer: null,
        ratio: null,
        unit: '%',
      },
      {
        figure: `the ${REPLICAS} replicas' CPU together (/proc/<pid>/stat), % of a core, vs one process doing every check over a window as long (two halves, before and after the replicas: ${singleRuns.map((r) => `${sig(pct(r.cpuMs, r.ms))} %`).join(', ')}; other processes on the machine: ${sig(pct(c1.others - c0.others, c1.t - c0.t))} % of a core in the replicas' window, ${singleRuns.map((r) => `${sig(pct(r.othersMs, r.ms))} %`).join(', ')} in the halves)`,
        ours: sig(replicaCpuPct),
        peer: sig(singleCpuPct),
        peerName: 'one process, no cluster',
        ratio: sig(replicaCpuPct / singleCpuPct),
        unit: '%',
        goal: `≤ ${GOAL_CPU_RATIO} × one process`,
        met: replicaCpuPct <= GOAL_CPU_RATIO * singleCpuPct,
      },
      {
        figure: `  vs the same checks split over ${REPLICAS} processes without a cluster (each checks alone the platforms its replica owns; ${sig(split.ms / 1000)} s window): the cluster's own share`,
        ours: sig(replicaCpuPct),
        peer: sig(splitCpuPct),
        peerName: `${REPLICAS} processes, no cluster`,
        ratio: sig(replicaCpuPct / splitCpuPct),
        unit: '%',
      },
      {
        figure: `  CPU per check: the replicas' CPU over the checks run cluster-wide`,
        ours: sig((1000 * replicaCpu.reduce((a, b) => a + b, 0)) / checks),
        peer: sig((1000 * singleCpuMs) / singleStats.requests),
        peerName: 'one process',
        ratio: sig(((replicaCpu.reduce((a, b) => a + b, 0)) / checks) / (singleCpuMs / singleStats.requests)),
        unit: 'µs',
      },
      {
        figure: `  heap after a full GC at the window's end, the largest replica (each holds every platform)`,
        ours: sig(Math.max(...after.map((a) => a.heapMiB))),
        peer: sig(Math.max(...singleRuns.map((r) => r.heapMiB))),
        peerName: 'one process',
        ratio: sig(Math.max(...after.map((a) => a.heapMiB)) / Math.max(...singleRuns.map((r) => r.heapMiB))),
        unit: 'MiB',
      },
      {
        figure: `  each replica, % of a core`,
        ours: sig(Math.max(...replicaCpu.map((ms) => pct(ms, c1.t - c0.t)))),
        peer: sig(Math.min(...replicaCpu.map((ms) => pct(ms, c1.t - c0.t)))),
        peerName: 'least busy replica; ours the busiest',
        ratio: null,
        unit: '%',
      },
      {
        figure: `check lateness p99 at the platform server (arrival − the platform's slot, its phase its earliest arrival)`,
        ours: sig(clusterP99),
        peer: sig(singleP99),
        peerName: 'one process',
        ratio: sig(clusterP99 / singleP99),
        unit: 'ms',
      },
      {
        figure: `  p50`,
        ours: sig(percentile(clusterStats.lateness, 50)),
        peer: sig(percentile(singleStats.lateness, 50)),
        peerName: 'one process',
        ratio: null,
        unit: 'ms',
      },
      {
        figure: `duplicate checks in steady state (requests beyond one per platform per slot), % of ${clusterStats.slots.toLocaleString('en')} slots (${clusterStats.duplicates})`,
        ours: sig(duplicatesPct),
        peer: sig(pct(singleStats.duplicates, singleStats.slots)),
        peerName: 'one process',
        ratio: null,
        unit: '%',
        goal: `≤ ${GOAL_DUPLICATES_PCT} %`,
        met: duplicatesPct <= GOAL_DUPLICATES_PCT,
      },
      {
        figure: `missed slots in steady state (a platform's slot with no request; slots the monitors skipped as too late: ${clusterSkipped}, one process ${singleRuns.reduce((a, r) => a + r.skipped, 0)})`,
        ours: clusterStats.misses,
        peer: singleStats.misses,
        peerName: 'one process',
        ratio: null,
        unit: 'slots',
        goal: '0',
        met: clusterStats.misses === 0,
      },
      {
        figure: `failover: SIGKILL one replica, its ${orphans.length.toLocaleString('en')} platforms' next request after the kill, worst (p50 ${sig(percentile(failover, 50) / 1000)} s, p99 ${sig(percentile(failover, 99) / 1000)} s${unchecked > 0 ? `, ${unchecked} not checked` : ''})`,
        ours: sig(failoverMax / 1000),
        peer: GOAL_FAILOVER_MS / 1000,
        peerName: 'bound memberTtlMs + interval',
        ratio: sig(failoverMax / GOAL_FAILOVER_MS),
        unit: 's',
        goal: '≤ bound',
        met: failoverMax <= GOAL_FAILOVER_MS,
      },
      {
        figure: `open propagation p99: shared record OPEN (channel message) → each other replica's breaker OPEN, ${propagation.length} of ${(FAILING - unopened) * (REPLICAS - 1)} (platform, replica) pairs (p50 ${sig(percentile(propagation, 50))} ms, max ${sig(propagation.at(-1) ?? Number.NaN)} ms)`,
        ours: sig(propagationP99),
        peer: null,
        ratio: null,
        unit: 'ms',
        goal: `≤ ${GOAL_PROPAGATION_MS} ms`,
        met: propagationP99 <= GOAL_PROPAGATION_MS,
      },
    ];
    return rows;
  } finally {
    subscriber?.destroy();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await redis.stop();
  }
}

if (process.argv.includes('--platform-server')) {
  await platformServer();
} else if (process.argv.includes('--monitor')) {
  const at = process.argv.indexOf('--monitor');
  const optional = (arg: string | undefined) => (arg === undefined || arg === '-' ? undefined : arg);
  await monitorChild(process.argv[at + 1]!, process.argv[at + 2]!, optional(process.argv[at + 3]), optional(process.argv[at + 4]));
} else if (process.argv[1] === SELF) {
  const rows = await runClusterBench({ quick: process.argv.includes('--quick') });
  for (const r of rows) {
    const goal = r.goal === undefined ? '' : ` — goal ${r.goal} ${r.met ? '✓' : '✗'}`;
    console.log(`${r.figure}: ${r.ours}${r.unit ? ` ${r.unit}` : ''}${r.peer === null ? '' : ` (peer ${r.peer}${r.unit ? ` ${r.unit}` : ''}${r.peerName ? `, ${r.peerName}` : ''})`}${goal}`);
  }
  process.exit(0);
}
