// An outside attack on the replicas (issue 21), the guarantees that held:
// monitors in one process (each with its own connections and replica id)
// against a real Redis, and a child process for what stop() leaves behind.
// Keys under the prefix and no scans; a password Redis refuses never shown;
// a failure of an ended period ignored by the script, and the replicas a
// failure streak names each counted once; Redis times kept to the
// millisecond; a platform registered again follows the shared state at once;
// a message older than the record applied changes nothing; in local mode
// (Redis frozen) calls never wait, and stop() is bounded and lets the process
// exit with no unhandled rejection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor } from '../../src/index.ts';
import { BREAKER } from '../../src/cluster/scripts.ts';
import { runNode } from '../helpers/child.ts';
import { clusterMonitors, fail, until } from '../helpers/cluster-monitors.ts';
import { recordingLogger } from '../helpers/logger.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

describe('attacking the replicas: what holds', () => {
  let redis: RedisServer;
  let n = 0;
  const { replica, joined, stateOf, stopStarted } = clusterMonitors(() => redis.url);
  before(async () => {
    redis = await startRedis({ username: 'conductor', password: 'hunter2' });
  });
  after(async () => {
    await stopStarted();
    await redis.stop();
  });
  const prefix = () => `held${++n}`;

  /** Two joined replicas of a cluster of their own with `p` registered, its breaker forced OPEN on both. */
  async function openOnTwo(p: string): Promise<{ pfx: string; ms: HealthMonitor[] }> {
    const pfx = prefix();
    const ms = ['replica-0', 'replica-1'].map((id) => replica(id, [p], { prefix: pfx }).monitor);
    await joined(ms);
    ms[0]!.getBreaker(p)!.forceOpen();
    assert.deepEqual(await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'OPEN'), 1_000), ['OPEN', 'OPEN']);
    return { pfx, ms };
  }
  const stored = async (pfx: string, p: string) => JSON.parse(String(await redis.command('HGET', `${pfx}:breakers`, p))) as Record<string, number | string>;

  it('keeps every key under the prefix, and sends no KEYS or SCAN, through joins, failures, an opening, checks and leaves', async () => {
    const pfx = prefix();
    await redis.command('CONFIG', 'RESETSTAT');
    const ms = ['replica-0', 'replica-1', 'replica-2'].map((id) => replica(id, ['a', 'b'], { prefix: pfx }).monitor);
    await joined(ms);
    for (const m of ms) await assert.rejects(m.getBreaker('a')!.execute(fail));
    await until(() => ms.map((m) => stateOf(m, 'a')), (s) => s.every((x) => x === 'OPEN'), 1_000);
    for (const m of ms) await m.checkPlatformHealth('b');
    await sleep(700); // a flush of the checks, a resync
    await Promise.all(ms.map((m) => m.stop()));
    const stats = String(await redis.command('INFO', 'commandstats'));
    assert.doesNotMatch(stats, /cmdstat_(keys|scan|hscan|zscan|sscan):/, 'no scan of the keyspace');
    const keys = (await redis.command('KEYS', '*')) as string[];
    assert.ok(keys.length > 0);
    for (const key of keys) assert.ok(key.startsWith(`${pfx}:`) || key.startsWith('held'), `${key} is not under a cluster's prefix`);
    assert.deepEqual(keys.filter((k) => k.startsWith(`${pfx}:`)).sort(), [`${pfx}:breakers`, `${pfx}:breakers:version`, `${pfx}:checks`, `${pfx}:epoch`]);
    // The members left on stop: the sorted set is empty, so Redis removed it.
  });

  it('never prints the password of a URL Redis refuses (a wrong password, an unknown ACL user)', async () => {
    const [host] = redis.url.split('@').slice(-1);
    const logs = [recordingLogger(), recordingLogger()];
    const urls = [`redis://conductor:s3cret-wrong@${host}`, `redis://nobody:an0ther-secret@${host}`];
    const ms = urls.map((url, i) => new HealthMonitor({ resources: false, intervalMs: 3_600_000, logger: logs[i], cluster: { redisUrl: url, instanceId: `r${i}`, keyPrefix: prefix(), heartbeatMs: 100 } }));
    for (const m of ms) {
      m.register('p', () => true);
      m.start();
    }
    try {
      await until(() => logs.map((l) => l.entries.some((e) => /WRONGPASS|NOAUTH|invalid/i.test(String(e.obj.error)))), (seen) => seen.every(Boolean), 3_000);
      for (const [i, m] of ms.entries()) {
        const text = JSON.stringify(logs[i]!.entries) + JSON.stringify(m.report());
        assert.match(text, /WRONGPASS|invalid username-password/i, 'the refusal is logged');
        assert.doesNotMatch(text, /s3cret-wrong|an0ther-secret|conductor:|nobody:/);
        assert.equal(m.report().cluster?.localMode, true);
      }
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
    }
  });

  it('lets the script ignore a failure of a period that ended, and name each failing replica once however often it fails', async () => {
    const pfx = prefix();
    const ms = ['replica-0', 'replica-1'].map((id) => replica(id, ['sick'], { prefix: pfx, minReplicas: 3 }).monitor);
    try {
      await joined(ms);
      for (let i = 0; i < 40; i++) await assert.rejects(ms[i % 2]!.getBreaker('sick')!.execute(fail));
      const record = await until(() => redis.command('HGET', `${pfx}:breakers`, 'sick').then((raw) => JSON.parse(String(raw)) as Record<string, unknown> | null), (r) => r?.f === 40);
      assert.ok(record !== null);
      assert.equal(record.f, 40);
      assert.deepEqual(String(record.r).split(',').sort(), ['replica-0', 'replica-1'], 'two replicas, each once: minReplicas 3 is not reached');
      assert.equal(record.s, 'C');
      // A failure of a period that ended (here 0: the record is some periods on) changes nothing, whoever sends it.
      ms[0]!.getBreaker('sick')!.reset();
      const reset = await until(() => stored(pfx, 'sick'), (r) => r.f === 0);
      assert.ok(Number(reset.g) > 0);
      const keys = [`${pfx}:breakers`, `${pfx}:breakers:version`];
      for (let i = 0; i < 5; i++) {
        await redis.command('EVALSHA', BREAKER.sha, '2', ...keys, 'fail', 'sick', `late-${i}`, '0', '3', '1', '60000', '1', '300000', '30000', `${pfx}:changes`);
      }
      assert.deepEqual(await stored(pfx, 'sick'), reset);
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
    }
  });

  it('keeps Redis times to the millisecond in the records (13-digit ms round-trip through cjson)', async () => {
    const pfx = prefix();
    const keys = [`${pfx}:breakers`, `${pfx}:breakers:version`];
    // The script itself, as a replica's forceOpen() calls it: op, platform, replica, period, failMax, minReplicas, resetTimeoutMs, factor, max, lease, channel.
    const reply = (await redis.command('EVALSHA', BREAKER.sha, '2', ...keys, 'force_open', 'timed', 'replica-0', '0', '3', '1', '12345', '1', '300000', '30000', `${pfx}:changes`).catch(() =>
      redis.command('EVAL', BREAKER.source, '2', ...keys, 'force_open', 'timed', 'replica-0', '0', '3', '1', '12345', '1', '300000', '30000', `${pfx}:changes`),
    )) as [number, string];
    const [now, raw] = reply;
    assert.equal(String(await redis.command('HGET', keys[0]!, 'timed')), raw);
    assert.doesNotMatch(raw, /e\+|\./, 'no exponent, no fraction: the times are whole');
    const { o, h, d } = JSON.parse(raw) as { o: number; h: number; d: number };
    assert.ok(now > 1e12 && Number.isInteger(now));
    assert.equal(o, now);
    assert.equal(h, now + 12_345);
    assert.equal(d, 12_345);
  });

  it('gives a platform registered again while joined the shared state at once: an OPEN breaker stays OPEN for it', async () => {
    const { ms } = await openOnTwo('again');
    try {
      ms[1]!.unregister('again');
      ms[1]!.register('again', () => true);
      assert.equal(await until(() => stateOf(ms[1]!, 'again'), (s) => s === 'OPEN', 1_000), 'OPEN');
      let ran = false;
      await assert.rejects(ms[1]!.getBreaker('again')!.execute(async () => (ran = true)), (e: { code?: string }) => e.code === 'ECIRCUITOPEN');
      assert.equal(ran, false);
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
    }
  });

  it('lets a message on the channel older than the record applied change nothing', async () => {
    const { pfx, ms } = await openOnTwo('old');
    try {
      ms[0]!.getBreaker('old')!.reset();
      await until(() => ms.map((m) => stateOf(m, 'old')), (s) => s.every((x) => x === 'CLOSED'), 1_000);
      const { g } = await stored(pfx, 'old');
      const replay = { s: 'O', g: Number(g) - 1, f: 3, r: '', n: 1, o: 1, h: 9e12, t: '', l: 0, d: 60_000 };
      await redis.command('PUBLISH', `${pfx}:changes`, JSON.stringify({ p: 'old', v: 1, by: 'replay', st: replay }));
      await sleep(300);
      assert.deepEqual(ms.map((m) => stateOf(m, 'old')), ['CLOSED', 'CLOSED']);
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
    }
  });

  /** Runs `body` in a child with a started monitor `m` of platform 'p' in the cluster at `url`; answers what it put in `out`, and whether it exited by itself. */
  async function child(url: string, body: string): Promise<{ out: Record<string, unknown>; exitedByItself: boolean; stderr: string }> {
    const script = join(tmpdir(), `conductor-health-attack-${process.pid}-${Math.random().toString(36).slice(2)}.ts`);
    const src = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    await writeFile(
      script,
      `const { HealthMonitor } = await import(${src('../../src/index.ts')});
const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(String(e)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const m = new HealthMonitor({ resources: false, intervalMs: 50, logger: quiet, cluster: { redisUrl: ${JSON.stringify(url)}, instanceId: 'child', keyPrefix: ${JSON.stringify(prefix())}, heartbeatMs: 100, commandTimeoutMs: 300 } });
m.register('p', () => true);
m.start();
const out = {};
${body}
await sleep(50);
out.unhandled = unhandled;
process.stdout.write(JSON.stringify(out));`,
    );
    const run = await runNode(script, { safetyMs: 20_000, env: { CONDUCTOR_HEALTH_REDIS_URL: '' } }).finally(() => rm(script, { force: true }));
    assert.equal(run.code, 0, run.stderr);
    return { out: JSON.parse(run.stdout) as Record<string, unknown>, exitedByItself: run.exitedByItself, stderr: run.stderr };
  }

  it('stop() in local mode (Redis frozen by SIGSTOP): bounded, and the process exits with no unhandled rejection', async () => {
    try {
      const run = await child(
        redis.url,
        `while (m.report().cluster?.localMode !== false) await sleep(10);
process.kill(${redis.pid}, 'SIGSTOP');
try {
  while (m.report().cluster?.localMode !== true) await sleep(10);
  await sleep(300); // heartbeats on the new connection, hanging
  const t0 = performance.now();
  await m.stop();
  out.stopMs = performance.now() - t0;
} finally {
  process.kill(${redis.pid}, 'SIGCONT');
}`,
      );
      assert.ok(run.exitedByItself, 'a timer or a socket kept the process alive after stop()');
      assert.deepEqual(run.out.unhandled, []);
      assert.ok(Number(run.out.stopMs) < 1_500, `stop() took ${Number(run.out.stopMs)} ms`);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
  });

  it('a replica in local mode because Redis is frozen (SIGSTOP) stops within its bound, its calls never waiting', async () => {
    const pfx = prefix();
    const { monitor: m } = replica('frozen', ['p'], { prefix: pfx });
    await joined([m], 1);
    redis.pause();
    try {
      assert.equal(await until(() => m.report().cluster!.localMode, Boolean, 5_000), true);
      const t = performance.now();
      for (let i = 0; i < 3; i++) await assert.rejects(m.getBreaker('p')!.execute(fail));
      assert.equal(stateOf(m, 'p'), 'OPEN', 'alone, it decides from its own failures');
      assert.ok(performance.now() - t < 100, 'no call waited on Redis');
      const t0 = performance.now();
      await m.stop();
      assert.ok(performance.now() - t0 < 2_000, `stop() took ${performance.now() - t0} ms`);
    } finally {
      redis.resume();
    }
  });
});
