// Replicas of the built command sharing a real Redis, under the faults issue 21
// names: Redis paused (SIGSTOP) for 30 s, killed and restarted empty, one
// replica partitioned from it, a sick replica with minReplicas 2, and values
// in Redis corrupted by hand. Checks are counted at the platform server; what
// each replica shows is read from its /metrics and logs. (Steady state, open
// propagation, failover and clock offsets are replicas.test.ts's.)
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { top } from '../../src/cluster/rendezvous.ts';
import { parseExposition } from '../helpers/exposition.ts';
import { startPlatformServer, type PlatformServer } from '../helpers/platform-server.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { metricSum, startReplica, startReplicas, type Replica } from '../helpers/replicas.ts';
import { sickNetworkEnv } from '../helpers/sick-network.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const INTERVAL_MS = 1_000;
const PREFIX = 'conductor-health';
const KEYS = { members: `${PREFIX}:members`, epoch: `${PREFIX}:epoch`, breakers: `${PREFIX}:breakers`, version: `${PREFIX}:breakers:version`, checks: `${PREFIX}:checks`, channel: `${PREFIX}:changes` };
const LOCAL_IN = /^conductor-health cluster: Redis does not answer; running in local mode/;
const LOCAL_OUT = /^conductor-health cluster: Redis answers again; rejoined the cluster$/;
const CORRUPT_VALUE = 'conductor-health cluster: a value read from Redis does not parse; ignored';
const CORRUPT_CHECK = 'conductor-health cluster: a last check read from Redis does not parse; ignored';

/** A config for the replicas: short times, `cluster` merged over the defaults (no redisUrl: give it, or CONDUCTOR_HEALTH_REDIS_URL). */
function config(targets: PlatformServer, { cluster = {}, resetTimeoutMs = 60_000 }: { cluster?: Record<string, unknown>; resetTimeoutMs?: number } = {}): string {
  return JSON.stringify({
    resources: false,
    monitor: { intervalMs: INTERVAL_MS, timeoutMs: 500 },
    breaker: { failMax: 3, resetTimeoutMs },
    cluster: { heartbeatMs: 250, memberTtlMs: 1_000, commandTimeoutMs: 200, ...cluster },
    targets: targets.targets(),
  });
}

/** What one test runs on; see {@link rig}. */
interface Rig {
  readonly redis: RedisServer;
  readonly server: PlatformServer;
  /** The proxy to Redis that the replicas in `viaProxy` dial (partition() cuts them off). */
  readonly proxy: TcpProxy;
  /** The running replicas, replica-<i> at i; restart() replaces one. */
  readonly replicas: Replica[];
  /** Stops replica `index` and starts it again under the same id, sick or not. */
  restart(index: number, options?: { sick?: boolean }): Promise<Replica>;
}

/**
 * A Redis, a platform server with `platforms` platforms, a proxy to that
 * Redis and three replicas of the command on {@link config} (`cluster` and
 * `resetTimeoutMs` passed on), all of the test's own and stopped after it,
 * replicas first. Replicas in `viaProxy` reach Redis through the proxy
 * (every replica then has its URL from CONDUCTOR_HEALTH_REDIS_URL, the
 * config's section none); those in `sick` fail every check (sick-network.ts).
 */
async function rig(
  t: TestContext,
  { platforms, viaProxy = [], sick = [], ...options }: { platforms: number; viaProxy?: number[]; sick?: number[]; cluster?: Record<string, unknown>; resetTimeoutMs?: number },
): Promise<Rig> {
  const teardown: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const step of teardown.reverse()) await step().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw errors[0];
  });
  const redis = await startRedis();
  teardown.push(() => redis.stop());
  const proxy = await startTcpProxy(redis.port);
  teardown.push(() => proxy.stop());
  const server = await startPlatformServer({ platforms });
  teardown.push(() => server.stop());
  const urlInEnv = viaProxy.length > 0;
  const text = config(server, { ...options, cluster: { ...(urlInEnv ? {} : { redisUrl: redis.url }), ...options.cluster } });
  const envOf = (index: number, ill = sick.includes(index)): Record<string, string> => ({
    ...(urlInEnv ? { CONDUCTOR_HEALTH_REDIS_URL: viaProxy.includes(index) ? `redis://127.0.0.1:${proxy.port}` : redis.url } : {}),
    ...(ill ? sickNetworkEnv() : {}),
  });
  const replicas = [...(await startReplicas(3, text, { perReplicaEnv: (i) => envOf(i) })).replicas];
  teardown.push(() => Promise.all(replicas.map((r) => r.stop())));
  return {
    redis,
    server,
    proxy,
    replicas,
    async restart(index, { sick: ill } = {}) {
      await replicas[index]!.stop();
      replicas[index] = await startReplica(index, text, { perReplicaEnv: (i) => envOf(i, ill) });
      return replicas[index];
    },
  };
}

/**
 * Polls `probe` every 100 ms until it returns something other than undefined
 * (a rejection counts as undefined); fails at once if a replica exited, and
 * after `timeoutMs` with the last rejection (a bound for a broken run, not a
 * timing assertion).
 */
async function until<T>(what: string, replicas: readonly Replica[], probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const gone = replicas.find((r) => r.process.exited());
    if (gone) throw new Error(`${gone.instanceId} exited while waiting for ${what}; log tail:\n${gone.process.logs().slice(-3_000)}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `; last error: ${String(last)}`}`);
    await sleep(100);
  }
}

/** Each replica's value of `name` (labels matching), from one scrape each. */
async function metricOnEach(replicas: readonly Replica[], name: string, labels: Record<string, string> = {}): Promise<Array<number | undefined>> {
  return Promise.all(replicas.map((r) => r.metric(name, labels)));
}

/** Resolves once every replica reads `members` members and local mode `local`; answers how long that took (ms). */
async function settled(replicas: readonly Replica[], { members, local }: { members: number; local: 0 | 1 }, timeoutMs = 15_000): Promise<number> {
  const from = performance.now();
  await until(`every replica at health_cluster_members ${members}, health_cluster_local_mode ${local}`, replicas, async () => {
    const [m, l] = await Promise.all([metricOnEach(replicas, 'health_cluster_members'), metricOnEach(replicas, 'health_cluster_local_mode')]);
    return m.every((v) => v === members) && l.every((v) => v === local) ? true : undefined;
  }, timeoutMs);
  return performance.now() - from;
}

/** The state label whose circuit_breaker_state sample reads 1 for `platform`, in a scrape. */
function breakerState(text: string, platform: string): string | undefined {
  return parseExposition(text).samples.find((s) => s.name === 'circuit_breaker_state' && s.labels.platform === platform && Number(s.value) === 1)?.labels.state;
}

/** `platform`'s breaker state on each replica. */
async function statesOf(replicas: readonly Replica[], platform: string): Promise<Array<string | undefined>> {
  return Promise.all(replicas.map(async (r) => breakerState(await r.scrape(), platform)));
}

/** Waits until every replica shows `platform`'s breaker in `state`; answers how long that took (ms). */
async function breakerOnEvery(replicas: readonly Replica[], platform: string, state: string, timeoutMs = 15_000): Promise<number> {
  const from = performance.now();
  await until(`${platform} ${state} on every replica`, replicas, async () => ((await statesOf(replicas, platform)).every((s) => s === state) ? true : undefined), timeoutMs);
  return performance.now() - from;
}

/** A shared breaker record as stored, parsed; undefined when absent; the raw text when it does not parse. */
async function storedRecord(redis: RedisServer, platform: string): Promise<Record<string, unknown> | string | undefined> {
  const raw = await redis.command('HGET', KEYS.breakers, platform);
  if (raw === null) return undefined;
  try {
    return JSON.parse(String(raw)) as Record<string, unknown>;
  } catch {
    return String(raw);
  }
}

/**
 * `platform`'s shared breaker is OPEN in Redis (waited for, 5 s at most) and,
 * a few resyncs later, still OPEN there and on every replica; answers the record.
 */
async function staysOpen(redis: RedisServer, replicas: readonly Replica[], platform: string): Promise<Record<string, unknown>> {
  await until(`${platform} OPEN in Redis`, replicas, async () => ((await storedRecord(redis, platform)) as { s?: string } | undefined)?.s === 'O' || undefined, 5_000);
  await sleep(2_500);
  assert.deepEqual(await statesOf(replicas, platform), replicas.map(() => 'open'), `${platform} on every replica`);
  const record = (await storedRecord(redis, platform)) as Record<string, unknown>;
  assert.equal(record.s, 'O', JSON.stringify(record));
  return record;
}

/** Each platform's checks per replica, from one scrape each (every status). */
async function checksByReplica(replicas: readonly Replica[], names: readonly string[]): Promise<Array<Map<string, number>>> {
  return Promise.all(
    replicas.map(async (r) => {
      const text = await r.scrape();
      return new Map(names.map((name) => [name, metricSum(text, 'health_check_total', { platform: name })]));
    }),
  );
}

/**
 * The longest time `name` went without a request between `from` and `to`
 * (performance.now() times), counting from its last request before `from`.
 */
function longestGap(server: PlatformServer, name: string, from: number, to: number): number {
  const times = server.requestsOf(name).map((r) => r.at);
  let previous = times.filter((at) => at < from).at(-1) ?? from;
  let longest = 0;
  for (const at of times.filter((t) => t >= from && t <= to)) {
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return Math.max(longest, to - previous);
}

/** Requests per platform between two performance.now() times. */
function requestsBetween(server: PlatformServer, name: string, from: number, to: number): number {
  return server.requestsOf(name).filter((r) => r.at >= from && r.at <= to).length;
}

/** The messages a replica logged that match `pattern`. */
function logged(replica: Replica, pattern: RegExp | string): Array<Record<string, unknown>> {
  return replica.logLines().filter((l) => (typeof pattern === 'string' ? l.msg === pattern : pattern.test(String(l.msg))));
}

/** `replica` logged going to local mode once, and coming back once. */
function assertLocalModeOnce(replica: Replica): void {
  assert.equal(logged(replica, LOCAL_IN).length, 1, `${replica.instanceId} logged entering local mode once`);
  assert.equal(logged(replica, LOCAL_OUT).length, 1, `${replica.instanceId} logged leaving local mode once`);
}

/** No replica exited, none logged (or wrote to stderr) an unhandled rejection or an uncaught exception. */
function assertAlive(replicas: readonly Replica[]): void {
  for (const r of replicas) {
    assert.equal(r.process.exited(), false, `${r.instanceId} exited; log tail:\n${r.process.logs().slice(-3_000)}`);
    assert.doesNotMatch(r.process.logs(), /unhandled|uncaught/i, `${r.instanceId} logged an unhandled error`);
  }
}

/**
 * After a fault is over: each of `names` checked once per interval across
 * the cluster again (± 1), counted at the server over `windowMs` from now.
 * Answers the counts.
 */
async function oncePerInterval(server: PlatformServer, names: readonly string[], windowMs: number): Promise<number[]> {
  const from = performance.now();
  await sleep(windowMs);
  const to = performance.now();
  const counts = names.map((name) => requestsBetween(server, name, from, to));
  const slots = windowMs / INTERVAL_MS;
  const off = names.filter((_, i) => counts[i]! < slots - 1 || counts[i]! > slots + 1);
  assert.deepEqual(off, [], `over ${windowMs} ms each platform should be checked ${slots} ± 1 times across the cluster; counts: ${names.map((n, i) => `${n}=${counts[i]}`).join(' ')}`);
  return counts;
}

/** Milliseconds, whole, for the diagnostics. */
const round = Math.round;

describe('replicas under Redis faults', { timeout: 600_000 }, () => {
  it('Redis paused (SIGSTOP) for 30 s: checks never stop, every replica goes to local mode and back once, and a platform that failed meanwhile stays OPEN', { timeout: 150_000 }, async (t) => {
    const PAUSE_MS = 30_000;
    const { redis, server, replicas } = await rig(t, { platforms: 30 });
    const failing = server.names.at(-1)!;
    const healthy = server.names.filter((n) => n !== failing);
    await settled(replicas, { members: 3, local: 0 });

    const pausedAt = performance.now();
    redis.pause();
    // Each replica's own time to local mode, from the pause.
    const enter = new Map<string, number>();
    await until('local mode on every replica', replicas, async () => {
      await Promise.all(
        replicas.map(async (r) => {
          if (!enter.has(r.instanceId) && (await r.metric('health_cluster_local_mode')) === 1) enter.set(r.instanceId, performance.now() - pausedAt);
        }),
      );
      return enter.size === replicas.length ? true : undefined;
    }, 10_000);
    const allLocalAt = performance.now();
    server.setMode(failing, 'fail');
    const opened = await breakerOnEvery(replicas, failing, 'open', 10_000);
    const remaining = pausedAt + PAUSE_MS - performance.now();
    assert.ok(remaining > 5_000, `the failing platform took ${round(opened)} ms to open on every replica`);
    await sleep(remaining);
    assert.ok(redis.paused);
    const resumedAt = performance.now();
    redis.resume();

    // Checks never stopped: from the pause to the resume every healthy platform was requested at least once per interval.
    const gaps = healthy.map((name) => longestGap(server, name, pausedAt, resumedAt));
    const longest = Math.max(...gaps);
    assert.ok(longest <= 1.5 * INTERVAL_MS, `longest gap between two checks of one platform during the pause: ${round(longest)} ms (${healthy[gaps.indexOf(longest)]})`);
    // In local mode each replica checks everything: about three checks per platform per interval.
    const localSeconds = (resumedAt - allLocalAt) / 1_000;
    const perInterval = healthy.map((name) => requestsBetween(server, name, allLocalAt, resumedAt) / localSeconds);
    assert.ok(Math.min(...perInterval) >= 2.5, `checks per platform per interval in local mode: ${Math.min(...perInterval).toFixed(2)}–${Math.max(...perInterval).toFixed(2)}`);

    await settled(replicas, { members: 3, local: 0 }, 15_000);
    const leaveTook = performance.now() - resumedAt;
    for (const r of replicas) assertLocalModeOnce(r);

    // The platform opened on every replica alone stays OPEN, in Redis and on every replica, a few resyncs on.
    await staysOpen(redis, replicas, failing);

    // Back to one check per interval across the cluster.
    const counts = await oncePerInterval(server, healthy, 5_000);
    assertAlive(replicas);
    t.diagnostic(
      `local mode entered after ${[...enter].map(([id, ms]) => `${id} ${round(ms)} ms`).join(', ')}; ${failing} open on every replica ${round(opened)} ms after failing; ` +
        `longest gap during the pause ${round(longest)} ms; checks per platform per interval in local mode ${Math.min(...perInterval).toFixed(2)}–${Math.max(...perInterval).toFixed(2)}; ` +
        `every replica out of local mode (members 3) within ${round(leaveTook)} ms of the resume; after: ${Math.min(...counts)}–${Math.max(...counts)} checks per platform in 5 s`,
    );
  });

  it('Redis killed and restarted empty: checks go on, local mode in and out once, and a breaker OPEN before the kill is OPEN again in Redis and on every replica', { timeout: 90_000 }, async (t) => {
    const OUTAGE_MS = 4_000;
    const { redis, server, replicas } = await rig(t, { platforms: 10 });
    const failing = server.names.at(-1)!;
    const healthy = server.names.filter((n) => n !== failing);
    await settled(replicas, { members: 3, local: 0 });
    server.setMode(failing, 'fail');
    await breakerOnEvery(replicas, failing, 'open');
    assert.equal(((await storedRecord(redis, failing)) as { s?: string }).s, 'O');
    const epochBefore = await redis.command('GET', KEYS.epoch);

    const killedAt = performance.now();
    await redis.kill();
    await settled(replicas, { members: 1, local: 1 }, 10_000);
    const enterTook = performance.now() - killedAt;
    // Still OPEN on every replica while they decide alone.
    assert.deepEqual(await statesOf(replicas, failing), ['open', 'open', 'open']);
    await sleep(Math.max(0, killedAt + OUTAGE_MS - performance.now()));
    const restartedAt = performance.now();
    await redis.restart();
    assert.equal(await redis.command('HLEN', KEYS.breakers), 0, 'restarted empty');
    await settled(replicas, { members: 3, local: 0 }, 15_000);
    const leaveTook = performance.now() - restartedAt;

    const gaps = healthy.map((name) => longestGap(server, name, killedAt, performance.now()));
    const longest = Math.max(...gaps);
    assert.ok(longest <= 1.5 * INTERVAL_MS, `longest gap between two checks of one platform from the kill to the rejoin: ${round(longest)} ms (${healthy[gaps.indexOf(longest)]})`);
    for (const r of replicas) assertLocalModeOnce(r);
    // The state is rebuilt: a new epoch, the OPEN breaker written back, every replica showing it.
    const rebuilt = await staysOpen(redis, replicas, failing);
    assert.notEqual(await redis.command('GET', KEYS.epoch), epochBefore);
    const counts = await oncePerInterval(server, healthy, 4_000);
    assertAlive(replicas);
    t.diagnostic(
      `local mode on every replica ${round(enterTook)} ms after the kill; out of it (members 3) ${round(leaveTook)} ms after the restart; ${failing} OPEN again in Redis and on every replica ` +
        `(${JSON.stringify(rebuilt)}); longest gap ${round(longest)} ms; after: ${Math.min(...counts)}–${Math.max(...counts)} checks per platform in 4 s`,
    );
  });

  it('one replica partitioned from Redis: it goes to local mode and checks every platform, the other two cover the whole cluster, and it rejoins after heal', { timeout: 90_000 }, async (t) => {
    // The section without redisUrl: each replica's comes from CONDUCTOR_HEALTH_REDIS_URL, replica-2's through the proxy.
    const { proxy, server, replicas } = await rig(t, { platforms: 12, viaProxy: [2] });
    const [r0, r1, r2] = replicas as [Replica, Replica, Replica];
    const others = [r0, r1];
    await settled(replicas, { members: 3, local: 0 });
    assert.ok(proxy.connections() >= 2, 'replica-2 talks to Redis through the proxy');

    const partitionedAt = performance.now();
    proxy.partition();
    await until('replica-2 in local mode', replicas, async () => ((await r2.metric('health_cluster_local_mode')) === 1 ? true : undefined), 10_000);
    const enterTook = performance.now() - partitionedAt;
    await settled(others, { members: 2, local: 0 }, 10_000);
    const othersSawItLeave = performance.now() - partitionedAt;
    // Let ownership settle, then count what each replica checks over a window.
    await sleep(1_500);
    const names = server.names;
    const before = await checksByReplica(replicas, names);
    const windowFrom = performance.now();
    const localSamples: number[] = [];
    while (performance.now() - windowFrom < 6_000) {
      localSamples.push(...(await metricOnEach(others, 'health_cluster_local_mode')).map((v) => v ?? -1), ...(await metricOnEach(others, 'health_cluster_members')).map((v) => (v === 2 ? 0 : 1)));
      await sleep(250);
    }
    const after = await checksByReplica(replicas, names);
    const seconds = (performance.now() - windowFrom) / 1_000;
    assert.deepEqual([...new Set(localSamples)], [0], 'the two others stay out of local mode, with 2 members, all along');
    const delta = (i: number, name: string): number => after[i]!.get(name)! - before[i]!.get(name)!;
    const partitionedChecks = names.map((name) => delta(2, name));
    const clusterChecks = names.map((name) => delta(0, name) + delta(1, name));
    const slots = Math.floor(seconds);
    assert.ok(Math.min(...partitionedChecks) >= slots - 1, `replica-2 checks every platform itself: ${partitionedChecks.join(',')} in ${seconds.toFixed(1)} s`);
    assert.ok(Math.min(...clusterChecks) >= slots - 1 && Math.max(...clusterChecks) <= slots + 2, `the other two check each platform once per interval: ${clusterChecks.join(',')} in ${seconds.toFixed(1)} s`);
    for (const r of others) assert.equal(logged(r, LOCAL_IN).length, 0, `${r.instanceId} never left the cluster`);

    const healedAt = performance.now();
    proxy.heal();
    await settled(replicas, { members: 3, local: 0 }, 15_000);
    const rejoinTook = performance.now() - healedAt;
    assertLocalModeOnce(r2);
    await sleep(1_500);
    const counts = await oncePerInterval(server, names, 4_000);
    assertAlive(replicas);
    t.diagnostic(
      `replica-2 in local mode ${round(enterTook)} ms after the partition; the others at 2 members ${round(othersSawItLeave)} ms after it; ` +
        `in ${seconds.toFixed(1)} s replica-2 checked each platform ${Math.min(...partitionedChecks)}–${Math.max(...partitionedChecks)} times, the other two together ${Math.min(...clusterChecks)}–${Math.max(...clusterChecks)}; ` +
        `members 3 everywhere ${round(rejoinTook)} ms after heal; after: ${Math.min(...counts)}–${Math.max(...counts)} checks per platform in 4 s`,
    );
  });

  it('minReplicas 2: a sick replica whose checks all fail opens no shared breaker; a platform down for everyone opens; two sick replicas open the platforms they both rank first', { timeout: 120_000 }, async (t) => {
    const SICK_WINDOW_MS = 8_000;
    const cluster = await rig(t, { platforms: 12, sick: [0], cluster: { minReplicas: 2 } });
    const { redis, server, replicas } = cluster;
    const down = server.names.at(-1)!;
    await settled(replicas, { members: 3, local: 0 });
    const [sick] = replicas as [Replica];

    // Over several intervals: no shared breaker leaves CLOSED, in Redis or on any replica, while the sick one's failures are counted.
    const from = performance.now();
    let samples = 0;
    let withFailures = 0;
    while (performance.now() - from < SICK_WINDOW_MS) {
      const records = (await redis.command('HGETALL', KEYS.breakers)) as string[];
      for (let i = 0; i < records.length; i += 2) {
        const record = JSON.parse(records[i + 1]!) as { s: string; f: number; r: string };
        assert.equal(record.s, 'C', `${records[i]}'s shared breaker left CLOSED on one sick replica's failures: ${records[i + 1]}`);
        if (record.f > 0) {
          withFailures += 1;
          // Failures counted before the sick replica joined come back attributed to nobody ('').
          assert.ok(record.r === sick.instanceId || record.r === '', `only the sick replica fails: ${records[i + 1]}`);
        }
      }
      const texts = await Promise.all(replicas.map((r) => r.scrape()));
      for (const name of server.names) for (const [i, scrape] of texts.entries()) assert.equal(breakerState(scrape, name), 'closed', `${name} on replica-${i}`);
      samples += 1;
      await sleep(200);
    }
    const sickFailures = metricSum(await sick.scrape(), 'health_check_total', { status: 'failure' });
    assert.ok(sickFailures >= SICK_WINDOW_MS / INTERVAL_MS, `the sick replica's own checks fail: ${sickFailures}`);
    assert.ok(withFailures > 0, 'the sick replica\'s failures reach the shared records (counted, not enough to open)');
    // Nothing failed at the platforms: the sick replica's checks never left its process.
    for (const name of server.names) assert.ok(server.requestsOf(name).every((r) => r.outcome === 200));

    // A platform down for everyone opens, on failures from at least two replicas.
    const downAt = performance.now();
    server.setMode(down, 'fail');
    await breakerOnEvery(replicas, down, 'open', 15_000);
    const openTook = performance.now() - downAt;
    const record = (await storedRecord(redis, down)) as { s: string; r: string };
    assert.equal(record.s, 'O');
    const blamed = new Set(record.r.split(','));
    assert.ok(blamed.size >= 2, `the open record names the replicas whose failures opened it: ${JSON.stringify(record)}`);

    // Two sick replicas: replica-1 restarted with a sick network. The platforms whose first two ranked are both sick open; the rest stay CLOSED.
    await cluster.restart(1, { sick: true });
    await settled(replicas, { members: 3, local: 0 });
    const ids = replicas.map((r) => r.instanceId);
    const bothSick = server.names.filter((name) => name !== down && top(name, ids, 2).every((id) => id !== 'replica-2'));
    const oneSick = server.names.filter((name) => name !== down && !bothSick.includes(name));
    assert.ok(bothSick.length > 0 && oneSick.length > 0, `ranks: ${server.names.map((n) => `${n}:${top(n, ids, 2).join('>')}`).join(' ')}`);
    const twoSickAt = performance.now();
    for (const name of bothSick) await breakerOnEvery(replicas, name, 'open', 15_000);
    const twoSickTook = performance.now() - twoSickAt;
    for (const name of bothSick) assert.deepEqual(new Set(((await storedRecord(redis, name)) as { r: string }).r.split(',')), new Set(['replica-0', 'replica-1']));
    // Several intervals on, the others are still CLOSED everywhere.
    await sleep(4_000);
    for (const name of oneSick) {
      assert.deepEqual(await statesOf(replicas, name), ['closed', 'closed', 'closed'], `${name} (ranked ${top(name, ids, 2).join(', ')}) opened`);
      const stored = (await storedRecord(redis, name)) as { s: string } | undefined;
      assert.ok(stored === undefined || stored.s === 'C', `${name}: ${JSON.stringify(stored)}`);
    }
    assertAlive(replicas);
    t.diagnostic(
      `one sick replica: ${samples} samples over ${SICK_WINDOW_MS} ms, ${withFailures} records seen with its failures counted, none open; its failed checks: ${sickFailures}; ` +
        `${down} down for everyone open on every replica in ${round(openTook)} ms (r=${record.r}); two sick: ${bothSick.join(',')} open in ${round(twoSickTook)} ms, ${oneSick.join(',')} closed`,
    );
  });

  it('values corrupted by hand in Redis (garbage in :breakers and :checks, garbage on the channel): logged and ignored, checks go on, and the next write repairs each record', { timeout: 90_000 }, async (t) => {
    const cluster = await rig(t, { platforms: 6 });
    const { redis, server, replicas } = cluster;
    const [p0, p1, p2, p3, p4] = server.names as [string, string, string, string, string];
    await settled(replicas, { members: 3, local: 0 });

    // Garbage on the channel: not JSON, JSON that is no object, a change whose record is no record. Every replica hears it.
    const messages = ['not json {', 'null', '42', JSON.stringify({ p: p0, v: 1, by: 'intruder', st: { s: 'O' } }), JSON.stringify({ p: p0, v: 2, by: 'intruder', st: 'O' })];
    for (const message of messages) assert.equal(await redis.command('PUBLISH', KEYS.channel, message), replicas.length * 1, 'each replica is subscribed once');
    for (const r of replicas) {
      await r.process.waitFor(`${r.instanceId} logging the corrupt message`, async () => logged(r, CORRUPT_VALUE).find((l) => l.where === 'message'), 5_000);
    }
    assert.deepEqual(await statesOf(replicas, p0), ['closed', 'closed', 'closed'], 'a message whose record does not parse changes nothing');

    // Garbage records: JSON cut short, JSON lacking fields, last checks that do not parse (p3's and p4's owners
    // rewrite theirs within a second; a platform nobody checks keeps its garbage); the version moved so every replica reads them.
    await redis.command('HSET', KEYS.breakers, p1, '{"s":"O","g":');
    await redis.command('HSET', KEYS.breakers, p2, '{"s":"O"}');
    await redis.command('HSET', KEYS.checks, p3, 'garbage');
    await redis.command('HSET', KEYS.checks, p4, '1|replica-9|bogus|1000');
    await redis.command('HSET', KEYS.checks, 'unregistered', '1|2|3|4|5');
    await redis.command('INCR', KEYS.version);
    for (const r of replicas) await r.process.waitFor(`${r.instanceId} logging the corrupt last checks`, async () => logged(r, CORRUPT_CHECK)[0], 5_000);
    // Each replica logs one such line a minute: a replica started now reads the corrupt records as it joins, and logs them.
    await cluster.restart(2);
    await settled(replicas, { members: 3, local: 0 });
    const restarted = replicas[2]!;
    const joined = await restarted.process.waitFor('the restarted replica logging a corrupt record', async () => logged(restarted, CORRUPT_VALUE).find((l) => l.where === p1 || l.where === p2), 5_000);
    assert.match(String(joined.value), /^\{"s":"O"/);
    // Ignored: nobody opened p1 or p2 on the strength of the garbage.
    for (const name of [p1, p2]) assert.deepEqual(await statesOf(replicas, name), ['closed', 'closed', 'closed'], name);

    // The next writes repair every record: the owners' next checks of p3 and p4, the first failures of p1 and p2.
    for (const name of [p3, p4]) {
      await until(`${name}'s last check rewritten`, replicas, async () => (/^\d+\|replica-[012]\|success\|1000$/.test(String(await redis.command('HGET', KEYS.checks, name))) ? true : undefined), 5_000);
    }
    server.setMode(p1, 'fail');
    server.setMode(p2, 'fail');
    for (const name of [p1, p2]) {
      await breakerOnEvery(replicas, name, 'open', 10_000);
      const record = await storedRecord(redis, name);
      assert.equal(typeof record === 'object' && record.s, 'O', `${name}: ${JSON.stringify(record)}`);
    }
    const healthy = server.names.filter((n) => n !== p1 && n !== p2);
    const counts = await oncePerInterval(server, healthy, 3_000);
    assertAlive(replicas);
    t.diagnostic(`after the corruption, ${Math.min(...counts)}–${Math.max(...counts)} checks per healthy platform in 3 s; corrupt records repaired and opened`);
  });

  it('a corrupted breaker record of a platform whose breaker opened and closed before is repaired by the next failure, and opens again', { timeout: 90_000 }, async (t) => {
    const { redis, server, replicas } = await rig(t, { platforms: 4, resetTimeoutMs: 1_500 });
    const flaky = server.names[0]!;
    await settled(replicas, { members: 3, local: 0 });
    // Opened, then closed by a good trial: its record is some periods on.
    server.setMode(flaky, 'fail');
    await breakerOnEvery(replicas, flaky, 'open');
    server.setMode(flaky, 'ok');
    const closed = await until(`${flaky} closed again in Redis`, replicas, async () => {
      const record = (await storedRecord(redis, flaky)) as { s?: string; g?: number } | undefined;
      return record?.s === 'C' && (record.g ?? 0) >= 3 ? record : undefined;
    }, 15_000);
    await breakerOnEvery(replicas, flaky, 'closed');

    await redis.command('HSET', KEYS.breakers, flaky, 'garbage');
    await redis.command('INCR', KEYS.version);
    await sleep(2_500); // a resync reads it (and ignores it)
    server.setMode(flaky, 'fail');
    await breakerOnEvery(replicas, flaky, 'open', 15_000).catch(async (error: Error) => {
      throw new Error(`${error.message}; stored: ${JSON.stringify(await storedRecord(redis, flaky))} (before the corruption: ${JSON.stringify(closed)}); states: ${(await statesOf(replicas, flaky)).join(',')}`);
    });
    const record = await storedRecord(redis, flaky);
    assert.equal(typeof record === 'object' && record.s, 'O', JSON.stringify(record));
    assertAlive(replicas);
  });

  it('wrong-type keys (:breakers a string, :breakers:version and :checks lists): logged, no replica exits, checks go on, and the next writes repair them', { timeout: 90_000 }, async (t) => {
    const { redis, server, replicas } = await rig(t, { platforms: 4 });
    const failing = server.names[0]!;
    const healthy = server.names.slice(1);
    await settled(replicas, { members: 3, local: 0 });
    // In one script: a replica's flush between a DEL and a RPUSH would make :checks a hash again.
    const breakKeys = `redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], 'not a hash')
redis.call('RPUSH', KEYS[2], 'not a number')
redis.call('RPUSH', KEYS[3], 'not a hash')`;
    await redis.command('EVAL', breakKeys, 3, KEYS.breakers, KEYS.version, KEYS.checks);
    const brokenAt = performance.now();
    // Logged: every replica's periodic resync reads the version (nothing but a breaker write touches it).
    await until('every replica logging a WRONGTYPE error', replicas, async () => (replicas.every((r) => r.logLines().some((l) => /WRONGTYPE/.test(String(l.error)))) ? true : undefined), 10_000);
    await sleep(Math.max(0, brokenAt + 2_500 - performance.now()));
    // Checks go on: every platform at least once per interval.
    const gaps = server.names.map((name) => longestGap(server, name, brokenAt, performance.now()));
    assert.ok(Math.max(...gaps) <= 1.5 * INTERVAL_MS, `longest gap ${round(Math.max(...gaps))} ms`);

    server.setMode(failing, 'fail');
    const types = async (): Promise<string[]> => Promise.all([KEYS.breakers, KEYS.version, KEYS.checks].map(async (key) => String(await redis.command('TYPE', key))));
    await until('the keys of the right types again, the failing platform OPEN on every replica', replicas, async () => {
      if ((await types()).join() !== 'hash,string,hash') return undefined;
      return (await statesOf(replicas, failing)).every((s) => s === 'open') ? true : undefined;
    }, 15_000).catch(async (error: Error) => {
      const warned = new Set(replicas[0]!.logLines().filter((l) => l.level === 40).map((l) => `${String(l.msg)} (${String(l.error)})`));
      throw new Error(`${error.message}; TYPE of :breakers, :breakers:version, :checks: ${(await types()).join(', ')}; ${failing} on the replicas: ${(await statesOf(replicas, failing)).join(',')}; replica-0 warned: ${[...warned].join(' / ')}`);
    });
    const record = await storedRecord(redis, failing);
    assert.equal(typeof record === 'object' && record.s, 'O', JSON.stringify(record));
    await oncePerInterval(server, healthy, 3_000);
    assertAlive(replicas);
  });

  it('minReplicas 2: a sick replica cut off from Redis opens its breakers alone, and back in the cluster it does not open them for everyone', { timeout: 90_000 }, async (t) => {
    const { redis, proxy, server, replicas } = await rig(t, { platforms: 6, viaProxy: [2], sick: [2], cluster: { minReplicas: 2 } });
    const sick = replicas[2]!;
    await settled(replicas, { members: 3, local: 0 });
    proxy.partition();
    // Alone, its breakers decide on its own failures: every platform opens there, none elsewhere.
    for (const name of server.names) await breakerOnEvery([sick], name, 'open', 15_000);
    for (const name of server.names) assert.deepEqual(await statesOf(replicas.slice(0, 2), name), ['closed', 'closed'], name);
    proxy.heal();
    await settled(replicas, { members: 3, local: 0 }, 15_000);
    await sleep(3_000); // a few resyncs
    const stored = (await redis.command('HGETALL', KEYS.breakers)) as string[];
    const open: string[] = [];
    for (let i = 0; i < stored.length; i += 2) if ((JSON.parse(stored[i + 1]!) as { s: string }).s !== 'C') open.push(`${stored[i]} ${stored[i + 1]}`);
    assert.deepEqual(open, [], 'no shared breaker opened on one replica\'s failures');
    // Every replica shows the shared state, the sick one included.
    for (const name of server.names) assert.deepEqual(await statesOf(replicas, name), ['closed', 'closed', 'closed'], name);
    assertAlive(replicas);
  });
});
