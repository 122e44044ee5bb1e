/**
 * Replicas for real: three separate processes of the built command on one
 * config, one real redis-server, and one platform server counting what
 * reaches each platform. What the cluster promises is measured where it
 * matters, at the platforms: each checked once per interval across the
 * cluster, one breaker per platform opening on every replica, one half-open
 * trial per reset period cluster-wide, a killed replica's platforms checked
 * again within memberTtlMs + one interval, and half-open timing unmoved by
 * a replica's clock being 30 s off.
 *
 * One Redis serves the file; each test is a cluster of its own (its own key
 * prefix, its own replicas and platform server), stopped when it ends.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { top } from '../../src/cluster/rendezvous.ts';
import { startPlatformServer, type PlatformRequest, type PlatformServer } from '../helpers/platform-server.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { find, parseExposition } from '../helpers/exposition.ts';
import { clockOffsetEnv, metricSum, metricValue, startReplicas, type Replica, type ReplicaOptions } from '../helpers/replicas.ts';

const HEARTBEAT_MS = 250;
const MEMBER_TTL_MS = 1_000;
const FAIL_MAX = 3;

/** The one Redis of this file; each test's cluster has a key prefix of its own. */
let redis: RedisServer;

/** A bound on a broken run, not a timing assertion: how long a poll waits for what should come much sooner. */
const GIVE_UP_MS = 20_000;

/** One test's cluster: its own key prefix, platforms, check and breaker times. */
interface ClusterSpec {
  prefix: string;
  platforms: number;
  intervalMs: number;
  timeoutMs: number;
  /** The breaker's wait before its trial and the trial's lease; it opens after FAIL_MAX failures. */
  breaker?: { resetTimeoutMs: number; halfOpenTimeoutMs: number };
  /** Replica i's environment: its clock offset. */
  perReplicaEnv?: ReplicaOptions['perReplicaEnv'];
}

/** A test's platform server and three replicas, all stopped when the test ends. */
interface TestCluster {
  server: PlatformServer;
  replicas: readonly Replica[];
  /** The replicas' ids, the members of the cluster. */
  ids: readonly string[];
}

/** Polls `probe` every `pollMs` until it returns something other than undefined; throws after `timeoutMs` saying `what`. */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = GIVE_UP_MS, pollMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    await sleep(pollMs);
  }
}

/**
 * Starts a platform server and three replicas on one config (short times,
 * degraded mode off: it would slow replicas on a 2-core box), stopped when
 * the test ends, and waits until each replica sees the three as members,
 * out of local mode.
 */
async function startCluster(t: TestContext, { prefix, platforms, intervalMs, timeoutMs, breaker, perReplicaEnv }: ClusterSpec): Promise<TestCluster> {
  const server = await startPlatformServer({ platforms });
  t.after(() => server.stop());
  const config = JSON.stringify({
    monitor: { intervalMs, timeoutMs },
    ...(breaker ? { breaker: { failMax: FAIL_MAX, ...breaker } } : {}),
    resources: false,
    cluster: { redisUrl: redis.url, keyPrefix: prefix, heartbeatMs: HEARTBEAT_MS, memberTtlMs: MEMBER_TTL_MS },
    targets: server.targets(),
  });
  const { replicas, stopAll } = await startReplicas(3, config, { perReplicaEnv });
  t.after(() => stopAll());
  await membersSeen(replicas, 3);
  return { server, replicas, ids: replicas.map((r) => r.instanceId) };
}

/** Waits until every one of `replicas` shows `count` members and is not in local mode. */
async function membersSeen(replicas: readonly Replica[], count: number): Promise<void> {
  await until(`health_cluster_members ${count} on ${replicas.map((r) => r.instanceId).join(', ')}`, async () => {
    const texts = await Promise.all(replicas.map((r) => r.scrape()));
    return texts.every((text) => metricValue(text, 'health_cluster_members') === count && metricValue(text, 'health_cluster_local_mode') === 0) || undefined;
  });
}

/**
 * Waits until `replica`'s /healthz says every platform is owned where the
 * rendezvous hashing over `members` puts it, and was last checked by that
 * owner: the cluster in its steady state, ownership settled since the joins.
 */
async function ownersChecking(replica: Replica, members: readonly string[]): Promise<void> {
  let wrong: string[] = [];
  await until(`every platform last checked by its owner, on ${replica.instanceId}'s /healthz`, async () => {
    const rows = (await replica.healthz()).body.platforms as Array<{ platform: string; owner?: string; lastCheckBy?: string }>;
    wrong = rows.filter((row) => row.owner !== ownerOf(row.platform, members) || row.lastCheckBy !== row.owner).map((row) => `${row.platform} owner ${row.owner} by ${row.lastCheckBy}`);
    return wrong.length === 0 || undefined;
  }).catch((error: Error) => {
    throw new Error(`${error.message}; still: ${wrong.slice(0, 10).join(', ')}`);
  });
}

/** The value of `platform`'s circuit_breaker_state for `state` on each replica, from one parallel scrape. */
async function breakerShown(replicas: readonly Replica[], platform: string, state: 'closed' | 'open' | 'half_open'): Promise<number[]> {
  const texts = await Promise.all(replicas.map((r) => r.scrape()));
  return texts.map((text) => metricValue(text, 'circuit_breaker_state', { platform, state }) ?? -1);
}

/**
 * Scrapes `replicas` every 25 ms until each shows `platform`'s breaker in
 * `state`; answers when each was first seen so (`performance.now()` when
 * that scrape answered: an upper bound on when the state got there).
 */
async function firstSeen(replicas: readonly Replica[], platform: string, state: 'closed' | 'open', timeoutMs: number): Promise<number[]> {
  const seen: Array<number | undefined> = replicas.map(() => undefined);
  return until(
    `circuit_breaker_state{platform="${platform}",state="${state}"} 1 on every replica`,
    async () => {
      const shown = await breakerShown(replicas, platform, state);
      const now = performance.now();
      shown.forEach((value, i) => {
        if (value === 1) seen[i] ??= now;
      });
      return seen.every((at) => at !== undefined) ? (seen as number[]) : undefined;
    },
    timeoutMs,
    25,
  );
}

/** What `replicas` logged of the cluster and of their schedule (joins, leaves, local mode, skipped slots), for an assertion's message. */
function eventsOf(replicas: readonly Replica[]): string {
  return replicas
    .flatMap((r) => r.logLines().filter((l) => /cluster|skipped/.test(String(l.msg))).map((l) => ({ time: Number(l.time), line: `${r.instanceId} ${String(l.msg)}${l.replica ? ` ${String(l.replica)}` : ''}${l.missed ? ` (${String(l.missed)} missed, ${String(l.maxLatenessMs)} ms late)` : ''}` })))
    .sort((a, b) => a.time - b.time)
    .map(({ time, line }) => `${new Date(time).toISOString()} ${line}`)
    .join('\n');
}

/** Each platform's owner among `members`, by the rendezvous hashing the replicas use. */
const ownerOf = (platform: string, members: readonly string[]): string => top(platform, members, 1)[0]!;

const round = (ms: number): number => Math.round(ms);

describe('replicas of the command sharing one Redis', { timeout: 180_000 }, () => {
  before(async () => {
    redis = await startRedis();
  });

  after(async () => {
    await redis?.stop();
  });

  it('checks each of 300 platforms once per interval across three replicas, counted at the platforms, each replica running its third', async (t) => {
    const INTERVAL_MS = 1_000;
    const WINDOW_INTERVALS = 10;
    const { server, replicas, ids } = await startCluster(t, { prefix: 'once-per-interval', platforms: 300, intervalMs: INTERVAL_MS, timeoutMs: 500 });
    // Steady state: each platform owned where the hashing puts it, and checked there.
    await ownersChecking(replicas[0]!, ids);

    // Each replica's checks per platform, from one parallel scrape.
    const checksByReplica = async (): Promise<Array<Map<string, number>>> =>
      (await Promise.all(replicas.map((r) => r.scrape()))).map((text) => {
        const perPlatform = new Map<string, number>();
        for (const s of find(parseExposition(text), 'health_check_total')) perPlatform.set(s.labels.platform!, (perPlatform.get(s.labels.platform!) ?? 0) + Number(s.value));
        return perPlatform;
      });
    const before = await checksByReplica();
    const from = performance.now();
    const to = from + WINDOW_INTERVALS * INTERVAL_MS;
    // The measurement window itself: nothing to poll for, the server counts what arrives in it.
    await sleep(to - performance.now());
    const afterWindow = await checksByReplica();

    const inWindow = (requests: readonly PlatformRequest[]): number => requests.filter((r) => r.at >= from && r.at < to).length;
    const perPlatform = server.names.map((name) => ({ name, requests: inWindow(server.requestsOf(name)) }));
    const off = perPlatform.filter(({ requests }) => Math.abs(requests - WINDOW_INTERVALS) > 1);
    const ranBy = (name: string): string => ids.map((id, i) => `${id} ${(afterWindow[i]!.get(name) ?? 0) - (before[i]!.get(name) ?? 0)}`).join(', ');
    assert.deepEqual(
      off.map(({ name, requests }) => `${name} ${requests} (owner ${ownerOf(name, ids)}; ${ranBy(name)})`),
      [],
      `platforms not requested ${WINDOW_INTERVALS} ± 1 times in ${WINDOW_INTERVALS} intervals; what the replicas logged:\n${eventsOf(replicas)}`,
    );
    const total = perPlatform.reduce((sum, p) => sum + p.requests, 0);
    // A duplicate: a platform requested again within half an interval (two replicas ran one slot).
    // A miss: no request for one and a half intervals (a slot nobody ran).
    const gaps = server.names.flatMap((name) => {
      const at = server.requestsOf(name).filter((r) => r.at >= from && r.at < to).map((r) => r.at);
      return at.slice(1).map((t, k) => t - at[k]!);
    });
    const duplicates = gaps.filter((gap) => gap < INTERVAL_MS / 2).length;
    const misses = gaps.filter((gap) => gap > INTERVAL_MS * 1.5).length;
    assert.ok(duplicates <= total * 0.01, `${duplicates} duplicate checks in the window of ${total} (≤ 1 %); what the replicas logged:\n${eventsOf(replicas)}`);
    t.diagnostic(`${total} requests in the window (${300 * WINDOW_INTERVALS} slots): ${duplicates} duplicates, ${misses} gaps over 1.5 intervals, longest gap ${round(Math.max(...gaps))} ms`);
    assert.equal(server.strays(), 0);

    // Each replica ran, between the two scrapes (the window, give or take a scrape's milliseconds),
    // the checks of the platforms it owns, about a third of them: each owned platform's once per
    // interval but for a slot or two a stalled event loop skips (not made up, by design; the
    // per-platform counts above hold the cluster to N ± 1), and next to none of the others'.
    const owned = ids.map((id) => new Set(server.names.filter((name) => ownerOf(name, ids) === id)));
    const delta = (i: number, name: string): number => (afterWindow[i]!.get(name) ?? 0) - (before[i]!.get(name) ?? 0);
    const ran = ids.map((_, i) => server.names.reduce((sum, name) => sum + delta(i, name), 0));
    for (const [i, id] of ids.entries()) {
      const expected = owned[i]!.size * WINDOW_INTERVALS;
      const ofOwned = [...owned[i]!].reduce((sum, name) => sum + delta(i, name), 0);
      const ofOthers = ran[i]! - ofOwned;
      const odd = server.names.filter((name) => (owned[i]!.has(name) ? Math.abs(delta(i, name) - WINDOW_INTERVALS) > 1 : delta(i, name) !== 0)).map((name) => `${name} ${delta(i, name)}`);
      assert.ok(Math.abs(ofOwned - expected) <= expected * 0.02, `${id} ran ${ofOwned} checks of the ${owned[i]!.size} platforms it owns, expected ${expected} ± 2 %; off: ${odd.join(', ')}`);
      assert.ok(ofOthers <= total * 0.01, `${id} ran ${ofOthers} checks of platforms it does not own; off: ${odd.join(', ')}`);
      const share = ran[i]! / total;
      assert.ok(share > 0.2 && share < 0.47, `${id} ran ${(share * 100).toFixed(1)} % of the checks`);
      if (odd.length > 0) t.diagnostic(`${id}: checks in the window beyond ${WINDOW_INTERVALS} ± 1 of a platform it owns, or of one it does not: ${odd.join(', ')}`);
    }
    t.diagnostic(`window of ${WINDOW_INTERVALS} intervals: ${total} requests at the platforms; replicas ran ${ran.join(' + ')} (owning ${owned.map((o) => o.size).join(', ')} platforms)`);

    // The sum of health_check_total over the replicas is the count at the platforms, since the start.
    // Requests counted before the scrapes were sent and after they answered bound it; a check between
    // its request and its count (a millisecond or two) may be missing from the sum.
    const counted = (): number => [...server.counts().values()].reduce((sum, n) => sum + n, 0);
    const below = counted();
    const sum = (await checksByReplica()).reduce((all, perPlatform) => all + [...perPlatform.values()].reduce((a, b) => a + b, 0), 0);
    const above = counted();
    assert.ok(sum <= above && sum >= below - 10, `health_check_total summed over replicas ${sum}, requests at the platforms ${below}…${above}`);
    t.diagnostic(`health_check_total over replicas ${sum}, requests at the platforms ${below}…${above}`);
  });

  it('opens a failing platform’s breaker on all three replicas within 1 s of its third failure, lets one trial through per reset period, and closes it on all three', async (t) => {
    const INTERVAL_MS = 1_000;
    const RESET_MS = 3_000;
    const PERIODS = 3;
    const breaker = { resetTimeoutMs: RESET_MS, halfOpenTimeoutMs: 5_000 };
    const { server, replicas, ids } = await startCluster(t, { prefix: 'one-breaker', platforms: 3, intervalMs: INTERVAL_MS, timeoutMs: 500, breaker });
    const platform = server.names[0]!;
    const owner = ownerOf(platform, ids);

    const failingFrom = performance.now();
    server.setMode(platform, 'fail');
    const opened = await firstSeen(replicas, platform, 'open', 3 * INTERVAL_MS + GIVE_UP_MS);
    const failures = server.requestsOf(platform).filter((r) => r.at >= failingFrom);
    assert.ok(failures.length >= FAIL_MAX, `${failures.length} requests since the platform fails`);
    assert.ok(failures.slice(0, FAIL_MAX).every((r) => r.outcome === 503));
    const third = failures[FAIL_MAX - 1]!.at;
    const propagation = opened.map((at) => at - third);
    for (const [i, ms] of propagation.entries()) {
      assert.ok(ms >= 0, `${replicas[i]!.instanceId} showed OPEN ${round(-ms)} ms before the third failure reached the platform`);
      assert.ok(ms <= 1_000, `${replicas[i]!.instanceId} showed OPEN ${round(ms)} ms after the third failure`);
    }
    t.diagnostic(`OPEN seen on the replicas ${propagation.map(round).join(', ')} ms after the third failure (scrapes every 25 ms)`);

    // While it fails, each reset period lets exactly one trial through, whichever replica holds it:
    // consecutive requests are a reset period apart, plus at most one interval (the trial rides the
    // owner's next scheduled check after the wait; 300 ms more for timers late on a loaded 2-core
    // box), never two in one period.
    const trials = await until(`${PERIODS} trials`, () => {
      const requests = server.requestsOf(platform).filter((r) => r.at > third);
      return requests.length >= PERIODS ? requests : undefined;
    }, PERIODS * (RESET_MS + INTERVAL_MS) + GIVE_UP_MS, 100);
    const times = [third, ...trials.slice(0, PERIODS).map((r) => r.at)];
    const gaps = times.slice(1).map((at, i) => at - times[i]!);
    for (const gap of gaps) {
      assert.ok(gap >= RESET_MS - 50 && gap <= RESET_MS + INTERVAL_MS + 300, `a trial ${round(gap)} ms after the previous request; gaps ${gaps.map(round).join(', ')} ms`);
    }
    assert.ok(trials.slice(0, PERIODS).every((r) => r.outcome === 503));
    t.diagnostic(`trial requests ${gaps.map(round).join(', ')} ms apart (reset ${RESET_MS} ms, interval ${INTERVAL_MS} ms)`);

    // It recovers: the next trial succeeds and every replica shows CLOSED, within a second of it.
    const recoveringFrom = performance.now();
    server.setMode(platform, 'ok');
    const closed = await firstSeen(replicas, platform, 'closed', RESET_MS + INTERVAL_MS + GIVE_UP_MS);
    const good = server.requestsOf(platform).find((r) => r.at >= recoveringFrom);
    assert.ok(good !== undefined && good.outcome === 200, 'a successful trial closed it');
    const closing = closed.map((at) => at - good.at);
    for (const [i, ms] of closing.entries()) assert.ok(ms >= 0 && ms <= 1_000, `${replicas[i]!.instanceId} showed CLOSED ${round(ms)} ms after the good trial`);
    t.diagnostic(`CLOSED seen on the replicas ${closing.map(round).join(', ')} ms after the good trial`);

    // Every request that reached the platform is a check one replica counted (rejected ones reach
    // nothing), and the failing ones were all its owner's.
    const reached = async (r: Replica): Promise<{ all: number; failed: number }> => {
      const text = await r.scrape();
      const all = metricSum(text, 'health_check_total', { platform }) - metricSum(text, 'health_check_total', { platform, status: 'rejected' });
      return { all, failed: metricSum(text, 'health_check_total', { platform, status: 'failure' }) };
    };
    const settled = await until('every request to the platform counted by a replica', async () => {
      const counts = await Promise.all(replicas.map(reached));
      const seen = server.requestsOf(platform).length;
      return counts.reduce((sum, c) => sum + c.all, 0) === seen ? { counts, seen } : undefined;
    }, 5_000);
    for (const [i, r] of replicas.entries()) {
      if (r.instanceId !== owner) assert.equal(settled.counts[i]!.failed, 0, `${r.instanceId} is not ${platform}'s owner (${owner}) and ran a failing check of it`);
    }
    t.diagnostic(`requests at ${platform}: ${settled.seen}; checks that reached it per replica: ${settled.counts.map((c) => c.all).join(', ')} (owner ${owner})`);
  });

  it('checks a killed replica’s platforms again within memberTtlMs + one interval, and the survivors see two members', async (t) => {
    const INTERVAL_MS = 1_000;
    // Past the sum: the survivors' heartbeat 10 ms after the expiry, its round trip, and timers
    // firing late on a 2-core box that runs two replicas, Redis and this test.
    const TOLERANCE_MS = 300;
    const { server, replicas, ids } = await startCluster(t, { prefix: 'failover', platforms: 30, intervalMs: INTERVAL_MS, timeoutMs: 500 });
    const victim = replicas[1]!;
    const survivors = replicas.filter((r) => r !== victim);
    const orphans = server.names.filter((name) => ownerOf(name, ids) === victim.instanceId);
    assert.ok(orphans.length > 0, `${victim.instanceId} owns none of the 30 platforms`);
    // Steady state first: the victim checks each of its platforms.
    await ownersChecking(survivors[0]!, ids);

    const killedAt = performance.now();
    await victim.kill('SIGKILL');
    const deadAt = performance.now();
    const bound = MEMBER_TTL_MS + INTERVAL_MS + TOLERANCE_MS;
    const firstAfter = await until(`a request to each of ${victim.instanceId}'s ${orphans.length} platforms after the kill`, () => {
      const firsts = orphans.map((name) => server.requestsOf(name).find((r) => r.at > deadAt)?.at);
      return firsts.every((at) => at !== undefined) ? (firsts as number[]) : undefined;
    }, bound + GIVE_UP_MS, 20);
    const failover = firstAfter.map((at) => at - killedAt);
    const late = orphans.flatMap((name, i) => (failover[i]! > bound ? [`${name} ${round(failover[i]!)} ms`] : []));
    assert.deepEqual(late, [], `platforms of ${victim.instanceId} requested again later than ${bound} ms after the kill`);
    t.diagnostic(`${orphans.length} platforms of ${victim.instanceId} requested again ${round(Math.min(...failover))}…${round(Math.max(...failover))} ms after the kill (bound ${bound} ms)`);

    await membersSeen(survivors, 2);
    for (const survivor of survivors) {
      assert.ok(
        survivor.logLines().some((l) => l.msg === 'conductor-health cluster: a replica left' && l.replica === victim.instanceId),
        `${survivor.instanceId} logged that ${victim.instanceId} left`,
      );
      assert.deepEqual(((await survivor.healthz()).body.cluster as { members: string[] }).members, survivors.map((r) => r.instanceId));
      // Each of the victim's platforms is now owned, and checked, where the hashing over the two puts it.
      await ownersChecking(survivor, survivors.map((r) => r.instanceId));
    }
  });

  it('half-opens after resetTimeoutMs, measured at the platform, when the owner’s clock is 30 s ahead or behind, as when it is right', async (t) => {
    const INTERVAL_MS = 250;
    const RESET_MS = 3_000;
    const offsets = [0, 30_000, -30_000];
    const perReplicaEnv = (i: number): Record<string, string> | undefined => (offsets[i] === 0 ? undefined : clockOffsetEnv(offsets[i]!));
    const breaker = { resetTimeoutMs: RESET_MS, halfOpenTimeoutMs: 2_000 };
    const wallBefore = Date.now();
    const { server, replicas, ids } = await startCluster(t, { prefix: 'clock-offset', platforms: 30, intervalMs: INTERVAL_MS, timeoutMs: 200, breaker, perReplicaEnv });
    const wallAfter = Date.now();
    // The offsets reached the replicas: each logged its start by its own shifted clock.
    for (const [i, replica] of replicas.entries()) {
      const started = Number(replica.logLines().find((l) => l.msg === 'conductor-health running')?.time) - offsets[i]!;
      assert.ok(started >= wallBefore && started <= wallAfter, `${replica.instanceId} logged its start ${started - wallBefore} ms after the test started it, its clock ${offsets[i]} ms off`);
    }
    // One failing platform owned by each replica: the one whose clock is right is the control.
    const failing = ids.map((id) => {
      const name = server.names.find((n) => ownerOf(n, ids) === id);
      assert.ok(name !== undefined, `${id} owns none of the 30 platforms`);
      return name;
    });
    const from = performance.now();
    for (const name of failing) server.setMode(name, 'fail');
    // Opening (the third failure), then two trials, each failing and re-opening.
    const requests = await until('two trials of each failing platform', () => {
      const all = failing.map((name) => server.requestsOf(name).filter((r) => r.at >= from));
      return all.every((list) => list.length >= FAIL_MAX + 2) ? all : undefined;
    }, 3 * INTERVAL_MS + 2 * (RESET_MS + INTERVAL_MS) + GIVE_UP_MS, 50);

    const report: string[] = [];
    const gapsOf = (list: readonly PlatformRequest[]): number[] => {
      const [opening, trial1, trial2] = list.slice(FAIL_MAX - 1).map((r) => r.at);
      return [trial1! - opening!, trial2! - trial1!];
    };
    const control = gapsOf(requests[0]!);
    for (const [i, list] of requests.entries()) {
      const gaps = gapsOf(list);
      report.push(`${ids[i]} (clock ${offsets[i]! >= 0 ? '+' : ''}${offsets[i]! / 1000} s) owning ${failing[i]}: ${gaps.map(round).join(', ')} ms`);
      for (const gap of gaps) {
        assert.ok(gap >= RESET_MS - 50 && gap <= RESET_MS + INTERVAL_MS + 300, `${failing[i]}, owned by ${ids[i]} whose clock is ${offsets[i]} ms off: a trial ${round(gap)} ms after the previous request (reset ${RESET_MS} ms)`);
      }
      // The same as the control's, to within the scheduling noise of one check slot.
      gaps.forEach((gap, k) => assert.ok(Math.abs(gap - control[k]!) <= 100, `${failing[i]} (clock ${offsets[i]} ms off): gap ${round(gap)} ms, control ${round(control[k]!)} ms`));
    }
    t.diagnostic(`from the opening to the first trial, and between trials: ${report.join('; ')}`);
    // The replica whose clock is off ran them: the opening failures and the trials are its checks.
    for (const [i, replica] of replicas.entries()) {
      const failed = metricSum(await replica.scrape(), 'health_check_total', { platform: failing[i]!, status: 'failure' });
      assert.ok(failed >= FAIL_MAX + 2, `${replica.instanceId} ran ${failed} failing checks of ${failing[i]}, the platform it owns`);
    }
  });
});
