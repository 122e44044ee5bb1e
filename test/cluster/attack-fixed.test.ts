// An outside attack on the replicas (issue 21): races between pub/sub, script
// answers and resyncs, hostile values in Redis, ids and prefixes that collide,
// and the rejoin rule. Each test here failed against the first cut of
// cluster/ (commit 0030e94) and holds since the fixes that followed; what held
// from the start is in attack.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

// The process's service.instance.id, as OTEL_RESOURCE_ATTRIBUTES gives it (percent-encoded "edge|1"):
// read once per process, by the one monitor below that has no cluster.instanceId.
process.env.OTEL_RESOURCE_ATTRIBUTES = 'service.instance.id=edge%7C1';

const { top } = await import('../../src/cluster/rendezvous.ts');
const { startRedis } = await import('../helpers/redis.ts');
const { runNode } = await import('../helpers/child.ts');
const { clusterMonitors, fail, until } = await import('../helpers/cluster-monitors.ts');
type RedisServer = Awaited<ReturnType<typeof startRedis>>;

/** A platform name whose ranking over `members` satisfies `want` (owner first). */
function platformWhere(members: readonly string[], want: (ranked: string[]) => boolean, stem = 'p'): string {
  for (let i = 0; ; i++) if (want(top(`${stem}-${i}`, members, members.length))) return `${stem}-${i}`;
}

describe('attacking the replicas: what broke, and holds now', () => {
  let redis: RedisServer;
  let n = 0;
  const { replica, joined, stateOf, stopAll, stopStarted } = clusterMonitors(() => redis.url);
  type Monitor = ReturnType<typeof replica>['monitor'];
  before(async () => {
    redis = await startRedis({ username: 'conductor', password: 'hunter2' });
  });
  after(async () => {
    await stopStarted();
    await redis.stop();
  });
  const prefix = () => `atk${++n}`;

  const stored = async (pfx: string, p: string) => {
    const raw = await redis.command('HGET', `${pfx}:breakers`, p);
    return raw === null ? undefined : (JSON.parse(String(raw)) as Record<string, unknown>);
  };
  const redisTime = async () => {
    const [s, us] = (await redis.command('TIME')) as [string, string];
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };

  it('a replica that first learns a HALF_OPEN breaker (joining while another holds the trial) lets no trial of its own through', async () => {
    const pfx = prefix();
    const ids = ['replica-0', 'replica-1', 'replica-2'];
    const p = platformWhere(ids, (r) => r[0] !== 'replica-2');
    const a = replica('replica-0', [p], { prefix: pfx, resetTimeoutMs: 300 }).monitor;
    const b = replica('replica-1', [p], { prefix: pfx, resetTimeoutMs: 300 }).monitor;
    await joined([a, b]);
    for (let i = 0; i < 3; i++) await assert.rejects(a.getBreaker(p)!.execute(fail));
    assert.deepEqual(await until(() => [stateOf(a, p), stateOf(b, p)], (s) => s.every((x) => x === 'HALF_OPEN'), 2_000), ['HALF_OPEN', 'HALF_OPEN']);
    const c = replica('replica-2', [p], { prefix: pfx, resetTimeoutMs: 300 }).monitor;
    try {
      await joined([a, b, c]);
      assert.equal(await until(() => stateOf(c, p), (s) => s === 'HALF_OPEN'), 'HALF_OPEN');
      assert.equal(c.getBreaker(p)!.tryAcquire(), undefined, 'the trial is the owner’s');
      await sleep(500); // past resetTimeoutMs
      let trials = 0;
      for (const m of [a, b, c]) {
        const permit = m.getBreaker(p)!.tryAcquire();
        if (permit !== undefined) {
          trials += 1;
          permit.release();
        }
      }
      assert.equal(trials, 1, 'one trial in the whole cluster (the owner’s); the joiner’s opossum half-opened by its own timer');
    } finally {
      await stopAll([a, b, c]);
    }
  });

  it('half-opens a shared OPEN breaker though its owner does not track the platform (registered on some replicas only)', async () => {
    const pfx = prefix();
    const ids = ['replica-0', 'replica-1'];
    const p = platformWhere(ids, (r) => r[0] === 'replica-0');
    const owner = replica('replica-0', [], { prefix: pfx, resetTimeoutMs: 200 }).monitor;
    const other = replica('replica-1', [p], { prefix: pfx, resetTimeoutMs: 200 }).monitor;
    try {
      await joined([owner, other]);
      for (let i = 0; i < 3; i++) await assert.rejects(other.getBreaker(p)!.execute(fail));
      assert.equal(await until(() => stateOf(other, p), (s) => s === 'OPEN', 1_000), 'OPEN');
      assert.equal(await until(() => stateOf(other, p), (s) => s !== 'OPEN', 3_000), 'HALF_OPEN', 'stuck OPEN: only the owner claims the trial, and it has no such platform');
    } finally {
      await stopAll([owner, other]);
    }
  });

  for (const [rank, role] of [[1, 'the backup'], [2, 'a replica ranked below the backup']] as const) {
    it(`checks a platform every interval when only ${role} has it registered (a rolling config change, a platform registered at run time)`, async () => {
      const pfx = prefix();
      const ids = ['replica-0', 'replica-1', 'replica-2'];
      const p = platformWhere(ids, (r) => r[rank] === 'replica-2');
      let checks = 0;
      const ms = ids.map((id) => replica(id, id === 'replica-2' ? [p] : [], { prefix: pfx, intervalMs: 200, onCheck: () => (checks += 1) }).monitor);
      try {
        await joined(ms);
        await sleep(2_000); // the silence that lets a lower-ranked replica cover: 2 intervals (3 for the third) + 0.7 s
        checks = 0;
        await sleep(2_000);
        assert.ok(checks >= 8, `${checks} checks in 2 s at a 200 ms interval (10 slots): ownership counts members that do not have the platform, and only the backup covers, once every 2 intervals + 0.7 s`);
      } finally {
        await stopAll(ms);
      }
    });
  }

  it('a claim that fails once (a connection reset, an ACL change, a failover) does not leave the shared breaker OPEN for ever', async () => {
    const pfx = prefix();
    const p = 'claimed';
    // A wait longer than resyncMs (2 s): a resync reads the opening (the version it moved to) before the claim falls due.
    const { monitor: m, logger } = replica('solo', [p], { prefix: pfx, resetTimeoutMs: 3_000, heartbeatMs: 2_000, commandTimeoutMs: 200 });
    const refused = () => logger.entries.some((e) => e.msg === 'conductor-health cluster: a shared breaker step failed; the local breaker carries on' && /NOPERM/.test(String(e.obj.error)));
    try {
      await joined([m], 1);
      m.getBreaker(p)!.forceOpen();
      const record = await until(() => stored(pfx, p), (r) => r?.s === 'O', 1_000);
      await sleep(Math.max(0, Number(record!.h) - (await redisTime()) - 100));
      await redis.command('ACL', 'SETUSER', 'conductor', '-evalsha', '-eval');
      try {
        assert.equal(await until(refused, Boolean, 2_000), true, 'the owner’s claim, refused');
      } finally {
        await redis.command('ACL', 'SETUSER', 'conductor', '+evalsha', '+eval');
      }
      assert.equal((await stored(pfx, p))?.s, 'O');
      assert.equal(await until(() => stateOf(m, p), (s) => s !== 'OPEN', 5_000), 'HALF_OPEN', `stuck OPEN; stored ${JSON.stringify(await stored(pfx, p))}`);
    } finally {
      await redis.command('ACL', 'SETUSER', 'conductor', '+evalsha', '+eval');
      await m.stop();
    }
  });

  it('a forceOpen() whose script call fails does not leave that replica OPEN for ever while the shared breaker is CLOSED', async () => {
    const pfx = prefix();
    const p = 'forced';
    const m = replica('solo', [p], { prefix: pfx, resetTimeoutMs: 300, heartbeatMs: 1_000, commandTimeoutMs: 200 }).monitor;
    try {
      await joined([m], 1);
      await redis.command('ACL', 'SETUSER', 'conductor', '-evalsha', '-eval');
      m.getBreaker(p)!.forceOpen();
      await sleep(100);
      await redis.command('ACL', 'SETUSER', 'conductor', '+evalsha', '+eval');
      await sleep(4_000); // two resyncs, and far past resetTimeoutMs
      const shared = (await stored(pfx, p))?.s ?? 'none';
      const local = stateOf(m, p);
      assert.ok(local !== 'OPEN' || shared === 'O', `local ${local}, shared ${shared}: a coordinated breaker never half-opens by itself, and nobody claims a trial of a CLOSED shared breaker`);
    } finally {
      await redis.command('ACL', 'SETUSER', 'conductor', '+evalsha', '+eval');
      await m.stop();
    }
  });

  it('a breaker record deleted by hand (HDEL, eviction) starts again: failures open it again', async () => {
    const pfx = prefix();
    const p = 'deleted';
    const ms = ['replica-0', 'replica-1'].map((id) => replica(id, [p], { prefix: pfx }).monitor);
    try {
      await joined(ms);
      ms[0]!.getBreaker(p)!.forceOpen();
      await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'OPEN'), 1_000);
      ms[1]!.getBreaker(p)!.reset();
      await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'CLOSED'), 1_000);
      await redis.command('HDEL', `${pfx}:breakers`, p);
      await redis.command('INCR', `${pfx}:breakers:version`);
      for (let i = 0; i < 6; i++) await assert.rejects(ms[i % 2]!.getBreaker(p)!.execute(fail));
      assert.deepEqual(
        await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'OPEN'), 2_000),
        ['OPEN', 'OPEN'],
        `never opens: the replicas send their old period, the new record is at 0; stored ${JSON.stringify(await stored(pfx, p))}`,
      );
    } finally {
      await stopAll(ms);
    }
  });

  for (const [name, raw] of [
    ['a negative period', '{"s":"C","g":-1,"f":0,"r":"","n":0,"o":0,"h":0,"t":"","l":0,"d":0}'],
    ['an infinite period (1e999)', '{"s":"C","g":1e999,"f":0,"r":"","n":0,"o":0,"h":0,"t":"","l":0,"d":0}'],
    ['a NaN failure count', '{"s":"C","g":0,"f":NaN,"r":"","n":0,"o":0,"h":0,"t":"","l":0,"d":0}'],
  ] as const) {
    it(`a stored record with ${name} (valid to the Lua, not to the replicas) is ignored and repaired by the next failures`, async () => {
      const pfx = prefix();
      const p = 'hostile';
      await redis.command('HSET', `${pfx}:breakers`, p, raw);
      const { monitor: m, logger } = replica('solo', [p], { prefix: pfx });
      try {
        await joined([m], 1);
        for (let i = 0; i < 3; i++) await assert.rejects(m.getBreaker(p)!.execute(fail));
        assert.equal(await until(() => stateOf(m, p), (s) => s === 'OPEN', 2_000), 'OPEN', `stored ${String(await redis.command('HGET', `${pfx}:breakers`, p))}; warned: ${[...new Set(logger.entries.map((e) => `${e.msg} ${String(e.obj.error ?? '')}`))].join(' / ')}`);
      } finally {
        await m.stop();
      }
    });
  }

  it('a message on the channel with a far-future period does not freeze a replica’s breaker', async () => {
    const pfx = prefix();
    const p = 'spoofed';
    const ms = ['replica-0', 'replica-1'].map((id) => replica(id, [p], { prefix: pfx, resetTimeoutMs: 200 }).monitor);
    try {
      await joined(ms);
      const now = await redisTime();
      const st = { s: 'O', g: 1e12, f: 3, r: '', n: 1, o: now, h: now + 200, t: '', l: 0, d: 200 };
      await redis.command('PUBLISH', `${pfx}:changes`, JSON.stringify({ p, v: 1, by: 'intruder', st }));
      // Applied as a change made elsewhere (a message is trusted as the shared state)...
      await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'OPEN'), 1_000);
      // Whatever a message says, the shared record (none: CLOSED) is the truth, and it is read again within a resync.
      assert.deepEqual(await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'CLOSED'), 5_000), ['CLOSED', 'CLOSED'], 'stuck: no record of a lower period is applied after it');
    } finally {
      await stopAll(ms);
    }
  });

  it('a last check stored with a time in the future does not keep the backup from covering a silent owner', async () => {
    const pfx = prefix();
    // A member that heartbeats no more but has not expired (a replica frozen, or one whose checks are lost): it owns p.
    await redis.command('ZADD', `${pfx}:members`, (await redisTime()) + 3_600_000, 'ghost');
    const p = platformWhere(['ghost', 'backup'], (r) => r[0] === 'ghost');
    await redis.command('HSET', `${pfx}:checks`, p, `${(await redisTime()) + 86_400_000}|ghost|success|200`);
    let checks = 0;
    const m = replica('backup', [p], { prefix: pfx, intervalMs: 200, onCheck: () => (checks += 1) }).monitor;
    try {
      await joined([m], 2);
      checks = 0;
      await sleep(3_000);
      assert.ok(checks >= 1, `${checks} checks in 3 s: the backup covers after 2 intervals + 0.7 s, unless the owner's last check is dated tomorrow`);
    } finally {
      await m.stop();
    }
  });

  it('two clusters with one key prefix in two databases of one Redis do not hear each other (pub/sub channels ignore the database)', async () => {
    const pfx = prefix();
    const p = 'payments';
    const staging = replica('staging-0', [p], { prefix: pfx, url: `${redis.url}/1` }).monitor;
    const production = replica('production-0', [p], { prefix: pfx, url: `${redis.url}/2` }).monitor;
    try {
      await joined([staging, production], 1);
      staging.getBreaker(p)!.forceOpen();
      await sleep(500);
      assert.equal(stateOf(production, p), 'CLOSED', 'staging’s open breaker opened production’s');
    } finally {
      await stopAll([staging, production]);
    }
  });

  it('a replica id from OTEL_RESOURCE_ATTRIBUTES with a "|" in it is checked like any other: its checks parse everywhere, so its backup stays idle', async () => {
    const pfx = prefix();
    const self = 'edge|1';
    let p = '';
    // The owner whether the id is used as it is or made safe ("edge_1").
    for (let i = 0; p === ''; i++) if (top(`p-${i}`, [self, 'replica-b'], 1)[0] === self && top(`p-${i}`, ['edge_1', 'replica-b'], 1)[0] === 'edge_1') p = `p-${i}`;
    const counts = new Map<string, number>();
    const owner = replica(undefined, [p], { prefix: pfx, intervalMs: 200, onCheck: () => counts.set('owner', (counts.get('owner') ?? 0) + 1) });
    const backup = replica('replica-b', [p], { prefix: pfx, intervalMs: 200, onCheck: () => counts.set('backup', (counts.get('backup') ?? 0) + 1) });
    try {
      await joined([owner.monitor, backup.monitor], 2);
      counts.clear();
      await sleep(2_500);
      assert.ok((counts.get('owner') ?? 0) >= 8, `the owner checks: ${counts.get('owner')}`);
      assert.equal(counts.get('backup') ?? 0, 0, `the backup duplicated ${counts.get('backup')} checks of a live owner; it warned: ${backup.logger.entries.map((e) => e.msg).join(' / ')}`);
    } finally {
      await stopAll([owner.monitor, backup.monitor]);
    }
  });

  it('back from local mode, a breaker that closed on a good trial while Redis was away is not re-opened for everyone by the stale shared OPEN', async () => {
    const pfx = prefix();
    const p = 'recovered';
    const opts = { prefix: pfx, resetTimeoutMs: 300, heartbeatMs: 100, commandTimeoutMs: 100 };
    const ms = ['replica-0', 'replica-1'].map((id) => replica(id, [p], opts).monitor);
    try {
      await joined(ms);
      ms[0]!.getBreaker(p)!.forceOpen();
      await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'OPEN'), 1_000);
      redis.pause();
      try {
        assert.deepEqual(await until(() => ms.map((m) => m.report().cluster!.localMode), (l) => l.every(Boolean), 3_000), [true, true]);
        // Alone, each breaker half-opens after its wait; a good trial closes it: the platform is back.
        for (const m of ms) {
          await until(() => stateOf(m, p), (s) => s === 'HALF_OPEN', 2_000);
          await m.getBreaker(p)!.execute(async () => 'ok');
        }
        assert.deepEqual(ms.map((m) => stateOf(m, p)), ['CLOSED', 'CLOSED']);
      } finally {
        redis.resume();
      }
      assert.deepEqual(await until(() => ms.map((m) => m.report().cluster!.localMode), (l) => l.every((x) => !x), 5_000), [false, false]);
      await sleep(500);
      assert.deepEqual(ms.map((m) => stateOf(m, p)), ['CLOSED', 'CLOSED'], `the newer evidence (a good trial) lost to the shared OPEN of before the outage; stored ${JSON.stringify(await stored(pfx, p))}`);
    } finally {
      await stopAll(ms);
    }
  });

  it('two replicas given one id (a copy-pasted service.instance.id) do not both run the one half-open trial, or it is logged', async () => {
    const pfx = prefix();
    const p = 'twins';
    const twins = [replica('same', [p], { prefix: pfx, resetTimeoutMs: 200 }), replica('same', [p], { prefix: pfx, resetTimeoutMs: 200 })];
    const ms = twins.map((t) => t.monitor);
    try {
      await joined(ms, 1);
      for (let i = 0; i < 3; i++) await assert.rejects(ms[0]!.getBreaker(p)!.execute(fail));
      await until(() => ms.map((m) => stateOf(m, p)), (s) => s.every((x) => x === 'HALF_OPEN'), 2_000);
      const permits = ms.map((m) => m.getBreaker(p)!.tryAcquire());
      const trials = permits.filter((x) => x !== undefined).length;
      for (const permit of permits) permit?.release();
      const logged = twins.some((t) => t.logger.entries.some((e) => (e.level === 'error' || e.level === 'warn') && /same (replica )?id|collid|duplicate/i.test(String(e.msg))));
      assert.ok(trials <= 1 || logged, `${trials} trials at once, and nothing logged about the shared id`);
    } finally {
      await stopAll(ms);
    }
  });

  it('a stored OPEN record due in the year 2286 half-opens within maxResetTimeoutMs (the longest wait there can be)', async () => {
    const pfx = prefix();
    const p = 'forever';
    const now = await redisTime();
    await redis.command('HSET', `${pfx}:breakers`, p, JSON.stringify({ s: 'O', g: 1, f: 3, r: '', n: 1, o: now, h: 1e13, t: '', l: 0, d: 1e13 - now }));
    await redis.command('INCR', `${pfx}:breakers:version`);
    const m = replica('solo', [p], { prefix: pfx, resetTimeoutMs: 200, maxResetTimeoutMs: 500 }).monitor;
    const evalsha = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(String(await redis.command('INFO', 'commandstats')))?.[1] ?? 0);
    try {
      await joined([m], 1);
      assert.equal(await until(() => stateOf(m, p), (s) => s === 'OPEN', 1_000), 'OPEN');
      const before = await evalsha();
      await sleep(1_000);
      const calls = (await evalsha()) - before;
      assert.ok(calls < 50, `${calls} script calls in 1 s from one idle replica: the owner's claim timer (${1e13 - now} ms) overflows setTimeout, fires after 1 ms, is refused, and is planned again`);
      assert.equal(await until(() => stateOf(m, p), (s) => s !== 'OPEN', 3_000), 'HALF_OPEN', 'OPEN until 2286: a wait longer than any the options allow is taken as stored');
    } finally {
      await m.stop();
    }
  });

  it('a replica that stops while holding the half-open trial hands it on: the new owner runs it at once, not after the lease', async () => {
    const pfx = prefix();
    const ids = ['replica-0', 'replica-1'];
    const p = platformWhere(ids, (r) => r[0] === 'replica-0');
    const [owner, heir] = ids.map((id) => replica(id, [p], { prefix: pfx, resetTimeoutMs: 200 }).monitor) as [Monitor, Monitor];
    try {
      await joined([owner, heir]);
      for (let i = 0; i < 3; i++) await assert.rejects(owner.getBreaker(p)!.execute(fail));
      await until(() => stored(pfx, p), (r) => r?.s === 'H' && r.t === 'replica-0', 2_000);
      await owner.stop(); // a rolling restart: its trial, claimed for its next check an interval away, never runs
      await joined([heir], 1);
      const permit = await until(() => heir.getBreaker(p)!.tryAcquire(), (x) => x !== undefined, 2_000);
      assert.ok(permit !== undefined, `no trial for the new owner: the leaver's lease (${Math.round((Number((await stored(pfx, p))?.l) - (await redisTime())) / 1000)} s left) holds every replica HALF_OPEN and refusing`);
      permit.release();
    } finally {
      await stopAll([owner, heir]);
    }
  });

  it('a member name of 100 KB read from Redis is not logged whole', async () => {
    const pfx = prefix();
    const huge = `m${'x'.repeat(100_000)}`;
    const { monitor: m, logger } = replica('solo', [], { prefix: pfx });
    try {
      await joined([m], 1);
      await redis.command('ZADD', `${pfx}:members`, (await redisTime()) + 60_000, huge);
      await redis.command('PUBLISH', `${pfx}:changes`, JSON.stringify({ m: 'hint' }));
      // Logged as a member that joined, or as one ignored: either way, not whole.
      const mentioned = () => logger.entries.some((e) => (e.msg === 'conductor-health cluster: a replica joined' && e.obj.replica !== 'solo') || /member/.test(String(e.msg)));
      assert.equal(await until(mentioned, Boolean, 2_000), true);
      const longest = Math.max(...logger.entries.map((e) => JSON.stringify(e.obj).length));
      assert.ok(longest < 2_000, `a log line of ${longest} characters`);
    } finally {
      await m.stop();
    }
  });
  it('stop() as Redis stalls, just when the replica goes to local mode (a SIGTERM during an outage): the process still exits', async () => {
    const script = join(tmpdir(), `conductor-health-attack-${process.pid}-${Math.random().toString(36).slice(2)}.ts`);
    const src = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    await writeFile(
      script,
      `const { HealthMonitor } = await import(${src('../../src/index.ts')});
const { redisCommand } = await import(${src('../helpers/redis.ts')});
const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(String(e)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let stopping;
const logger = { info() {}, error() {}, debug() {}, warn(obj, msg) { if (/local mode/.test(String(msg))) stopping ??= m.stop(); } };
const m = new HealthMonitor({ resources: false, intervalMs: 3_600_000, logger, cluster: { redisUrl: ${JSON.stringify(redis.url)}, instanceId: 'child', keyPrefix: ${JSON.stringify(prefix())}, heartbeatMs: 100, commandTimeoutMs: 300 } });
m.register('p', () => true);
m.start();
while (m.report().cluster?.localMode !== false) await sleep(10);
await redisCommand(${redis.port}, ['CLIENT', 'PAUSE', '1500', 'ALL'], { username: 'conductor', password: 'hunter2', timeoutMs: 2_000 });
while (stopping === undefined) await sleep(10);
const t0 = performance.now();
await stopping;
process.stdout.write(JSON.stringify({ stopMs: performance.now() - t0, unhandled }));`,
    );
    const run = await runNode(script, { safetyMs: 8_000, env: { CONDUCTOR_HEALTH_REDIS_URL: '' } }).finally(() => rm(script, { force: true }));
    assert.match(run.stdout, /"unhandled":\[\]/, run.stderr);
    assert.ok(run.exitedByItself, `alive 8 s after stop() (${run.stdout}): the connections opened for local mode, destroyed while still connecting, finished connecting afterwards and hold the process`);
  });

  it('10,000 platforms: joining with every shared breaker OPEN, and rejoining with 10,000 decided alone, blocks the event loop briefly and writes every local decision back', async () => {
    const N = 10_000;
    const names = Array.from({ length: N }, (_, i) => `platform-${i}`);
    const bulk = async (pfx: string) => {
      const now = await redisTime();
      for (let i = 0; i < N; i += 1_000) {
        const args: string[] = [];
        for (const name of names.slice(i, i + 1_000)) args.push(name, JSON.stringify({ s: 'O', g: 1, f: 3, r: '', n: 1, o: now, h: now + 3_600_000, t: '', l: 0, d: 3_600_000 }));
        await redis.command('HSET', `${pfx}:breakers`, ...args);
      }
      await redis.command('SET', `${pfx}:breakers:version`, '1');
    };
    /** The longest event-loop block (ms) from the start of a replica of `names` in cluster `pfx` until it has joined and `settled` holds, then 1 s. (report() is O(platforms): polled through the log and the breakers instead.) */
    const joining = async (pfx: string, settled: (m: Monitor) => boolean) => {
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      const { monitor: m, logger } = replica('bulk', names, { prefix: pfx, heartbeatMs: 200, commandTimeoutMs: 500 });
      await until(() => logger.entries.some((e) => e.msg === 'conductor-health cluster: joined') && settled(m), Boolean, 10_000);
      await sleep(1_000);
      delay.disable();
      return { m, logger, blockMs: Math.round(delay.max / 1e6) };
    };
    // The same replica joining an empty cluster: what the monitor itself costs (10,000 schedules), for comparison.
    const baseline = await joining(prefix(), () => true);
    await baseline.m.stop();
    const pfx = prefix();
    await bulk(pfx);
    const { m, logger, blockMs: joinMs } = await joining(pfx, (mm) => stateOf(mm, names[0]!) === 'OPEN' && stateOf(mm, names[N - 1]!) === 'OPEN');
    try {
      // Alone (Redis frozen), each breaker is reset and opened again by hand: 10,000 decisions newer than the shared state.
      redis.pause();
      try {
        await until(() => logger.entries.some((e) => /running in local mode/.test(String(e.msg))), Boolean, 5_000);
        await sleep(500);
        for (const name of names) {
          m.getBreaker(name)!.reset();
          m.getBreaker(name)!.forceOpen();
        }
      } finally {
        redis.resume();
      }
      const rejoin = monitorEventLoopDelay({ resolution: 5 });
      rejoin.enable();
      await until(() => logger.entries.some((e) => /rejoined the cluster/.test(String(e.msg))), Boolean, 5_000);
      await sleep(3_000);
      rejoin.disable();
      const all = (await redis.command('HGETALL', `${pfx}:breakers`)) as string[];
      let adopted = 0;
      for (let i = 1; i < all.length; i += 2) if ((JSON.parse(all[i]!) as { g: number }).g > 1) adopted += 1;
      const rejoinMs = Math.round(rejoin.max / 1e6);
      const blocks = `longest event-loop block joining ${joinMs} ms (${baseline.blockMs} ms joining with no shared state), rejoining ${rejoinMs} ms`;
      assert.equal(adopted, N, `${adopted} of ${N} local decisions written back (the others' adopt timed out behind 10,000 script calls sent at once); ${blocks}`);
      assert.ok(joinMs < baseline.blockMs + 150 && rejoinMs < 150, blocks);
    } finally {
      await m.stop();
    }
  });
});
