// One breaker per platform for replicas sharing a real Redis: monitors in one
// process, each with its own connections and replica id, as replicas would be
// (the tests with separate processes are replicas.test.ts and faults.test.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HealthMonitor } from '../../src/index.ts';
import type { BreakerState } from '../../src/core/breaker-state.ts';
import { top } from '../../src/cluster/rendezvous.ts';
import { until } from '../helpers/cluster-monitors.ts';
import { recordingLogger } from '../helpers/logger.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

const IDS = ['replica-0', 'replica-1', 'replica-2'];

describe('a breaker shared by replicas', () => {
  let redis: RedisServer;
  let prefix = 0;
  before(async () => {
    redis = await startRedis({ password: 'hunter2', username: 'conductor' });
  });
  after(() => redis.stop());

  /** Three started monitors of one cluster (a prefix of their own), each with `platform` registered; its scheduled check is true unless `checkFails`. */
  async function cluster(platform: string, options: { minReplicas?: number; resetTimeoutMs?: number } = {}) {
    prefix += 1;
    const loggers = IDS.map(() => recordingLogger());
    const monitors = IDS.map(
      (id, i) =>
        new HealthMonitor({
          resources: false,
          intervalMs: 3_600_000,
          logger: loggers[i],
          breaker: { resetTimeoutMs: options.resetTimeoutMs ?? 60_000 },
          cluster: { redisUrl: redis.url, instanceId: id, keyPrefix: `t${prefix}`, heartbeatMs: 100, minReplicas: options.minReplicas ?? 1 },
        }),
    );
    for (const m of monitors) {
      m.register(platform, () => true);
      m.start();
    }
    const members = () => monitors.map((m) => m.report().cluster?.members.length);
    assert.deepEqual(await until(members, (n) => n.every((x) => x === 3)), [3, 3, 3]);
    const breakers = monitors.map((m) => m.getBreaker(platform)!);
    const states = () => breakers.map((b) => b.getState().state);
    return { monitors, breakers, loggers, states, stop: () => Promise.all(monitors.map((m) => m.stop())) };
  }

  const fail = () => Promise.reject(new Error('platform down'));
  const allAre = (state: BreakerState) => (states: BreakerState[]) => states.every((s) => s === state);

  it('opens on every replica after failMax consecutive failures, wherever they came from; the others reject from then on', async () => {
    const c = await cluster('mixed');
    try {
      await assert.rejects(c.breakers[0]!.execute(fail));
      await assert.rejects(c.breakers[1]!.execute(fail));
      assert.deepEqual(c.states(), ['CLOSED', 'CLOSED', 'CLOSED']);
      await assert.rejects(c.breakers[2]!.execute(fail));
      assert.deepEqual(await until(c.states, allAre('OPEN'), 1_000), ['OPEN', 'OPEN', 'OPEN']);
      let ran = false;
      await assert.rejects(
        c.breakers[0]!.execute(async () => (ran = true)),
        (error: { code?: string }) => error.code === 'ECIRCUITOPEN',
      );
      assert.equal(ran, false);
      // The replica whose failure Redis counted third opened it; the other two applied it, and say so.
      const opened = c.monitors.map((m) => m.report({ history: true }).transitions?.find((t) => t.to === 'OPEN')?.remote === true);
      assert.equal(opened.filter(Boolean).length, 2, String(opened));
    } finally {
      await c.stop();
    }
  });

  it('keeps the CLOSED hot path local: successes while no failure is counted send nothing to Redis', async () => {
    const c = await cluster('quiet');
    try {
      const before = Number(String(await redis.command('GET', `t${prefix}:breakers:version`)) || 0);
      for (let i = 0; i < 200; i++) await c.breakers[i % 3]!.execute(async () => 'ok');
      const after = Number(String(await redis.command('GET', `t${prefix}:breakers:version`)) || 0);
      assert.equal(after, before);
    } finally {
      await c.stop();
    }
  });

  it('lets exactly one half-open trial through in the whole cluster, on the platform’s owner, and closes everywhere on its success', async () => {
    const c = await cluster('trial', { resetTimeoutMs: 300 });
    try {
      for (const b of c.breakers) await assert.rejects(b.execute(fail));
      assert.deepEqual(await until(c.states, allAre('OPEN'), 1_000), ['OPEN', 'OPEN', 'OPEN']);
      assert.deepEqual(await until(c.states, allAre('HALF_OPEN'), 2_000), ['HALF_OPEN', 'HALF_OPEN', 'HALF_OPEN']);
      const owner = IDS.indexOf(top('trial', IDS, 1)[0]!);
      const permits = c.breakers.map((b) => b.tryAcquire());
      assert.deepEqual(
        permits.map((p) => p !== undefined),
        IDS.map((_, i) => i === owner),
        'the owner alone holds the trial',
      );
      permits[owner]!.success();
      assert.deepEqual(await until(c.states, allAre('CLOSED'), 1_000), ['CLOSED', 'CLOSED', 'CLOSED']);
    } finally {
      await c.stop();
    }
  });

  it('lets a permit of a period that ended change nothing, as in one process', async () => {
    const c = await cluster('stale');
    try {
      const stale = c.breakers[0]!.tryAcquire()!;
      c.breakers[1]!.forceOpen();
      await until(c.states, allAre('OPEN'), 1_000);
      c.breakers[2]!.reset();
      await until(c.states, allAre('CLOSED'), 1_000);
      assert.equal(stale.failure(new Error('late')), false);
      await assert.rejects(c.breakers[1]!.execute(fail));
      await assert.rejects(c.breakers[1]!.execute(fail));
      // Two counted failures, not three: the stale one was not one of them.
      const counts = () => c.breakers.map((b) => b.getState().failureCount);
      assert.deepEqual(await until(counts, (n) => n.every((x) => x === 2), 1_000), [2, 2, 2]);
      assert.deepEqual(c.states(), ['CLOSED', 'CLOSED', 'CLOSED']);
    } finally {
      await c.stop();
    }
  });

  it('with minReplicas 2, one replica failing every call never opens it; a second replica’s failures do', async () => {
    const c = await cluster('sick', { minReplicas: 2 });
    try {
      for (let i = 0; i < 10; i++) await assert.rejects(c.breakers[0]!.execute(fail));
      assert.deepEqual(await until(c.states, (s) => s.some((x) => x !== 'CLOSED'), 300), ['CLOSED', 'CLOSED', 'CLOSED']);
      await assert.rejects(c.breakers[1]!.execute(fail));
      assert.deepEqual(await until(c.states, allAre('OPEN'), 1_000), ['OPEN', 'OPEN', 'OPEN']);
      const record = JSON.parse(String(await redis.command('HGET', `t${prefix}:breakers`, 'sick'))) as { r: string; f: number };
      assert.deepEqual(record.r.split(',').sort(), ['replica-0', 'replica-1']);
      assert.equal(record.f, 11);
    } finally {
      await c.stop();
    }
  });

  it('logs a value read from Redis that does not parse, ignores it, and the next write repairs it', async () => {
    const c = await cluster('corrupt');
    try {
      await redis.command('HSET', `t${prefix}:breakers`, 'corrupt', '{"s":"O","g":"not a number"');
      await redis.command('INCR', `t${prefix}:breakers:version`);
      await redis.command('PUBLISH', `t${prefix}:changes`, 'garbage \u0000 not json');
      await redis.command('PUBLISH', `t${prefix}:changes`, JSON.stringify({ p: 'corrupt', st: { s: 'O' } }));
      // Logged once a minute at most, however many values are bad (a line per value would flood the log).
      const warnings = () => c.loggers.map((l) => l.entries.filter((e) => e.msg === 'conductor-health cluster: a value read from Redis does not parse; ignored'));
      assert.deepEqual(await until(() => warnings().map((w) => w.length), (n) => n.every((x) => x === 1), 3_000), [1, 1, 1]);
      for (const [warning] of warnings()) assert.doesNotMatch(JSON.stringify(warning!.obj), /\u0000/, 'the value is shown printable');
      assert.deepEqual(c.states(), ['CLOSED', 'CLOSED', 'CLOSED']);
      for (const b of c.breakers) await assert.rejects(b.execute(fail));
      assert.deepEqual(await until(c.states, allAre('OPEN'), 1_000), ['OPEN', 'OPEN', 'OPEN']);
      const record = JSON.parse(String(await redis.command('HGET', `t${prefix}:breakers`, 'corrupt'))) as { s: string };
      assert.equal(record.s, 'O');
    } finally {
      await c.stop();
    }
  });

  it('keeps an open breaker open when Redis loses its data, and counts failures again from there', async () => {
    const c = await cluster('wiped');
    try {
      for (const b of c.breakers) await assert.rejects(b.execute(fail));
      // Every replica OPEN first (a message missed before a subscription is made is read by the resync that follows it).
      assert.deepEqual(await until(c.states, allAre('OPEN'), 3_000), ['OPEN', 'OPEN', 'OPEN']);
      await redis.command('FLUSHALL');
      const rebuilt = await until(() => redis.command('HGET', `t${prefix}:breakers`, 'wiped'), (v) => v !== null, 3_000);
      assert.equal((JSON.parse(String(rebuilt)) as { s: string }).s, 'O');
      assert.deepEqual(c.states(), ['OPEN', 'OPEN', 'OPEN']);
      c.breakers[0]!.reset();
      await until(c.states, allAre('CLOSED'), 1_000);
      for (const b of c.breakers) await assert.rejects(b.execute(fail));
      assert.deepEqual(await until(c.states, allAre('OPEN'), 1_000), ['OPEN', 'OPEN', 'OPEN']);
    } finally {
      await c.stop();
    }
  });

  it('keeps an open breaker open when Redis loses its data with minReplicas 2 too: the write-back is the shared verdict, not one replica\'s', async () => {
    const c = await cluster('wiped-quorum', { minReplicas: 2 });
    try {
      for (const b of c.breakers) await assert.rejects(b.execute(fail));
      assert.deepEqual(await until(c.states, allAre('OPEN'), 3_000), ['OPEN', 'OPEN', 'OPEN']);
      await redis.command('FLUSHALL');
      const rebuilt = await until(() => redis.command('HGET', `t${prefix}:breakers`, 'wiped-quorum'), (v) => v !== null, 3_000);
      assert.equal((JSON.parse(String(rebuilt)) as { s: string }).s, 'O', String(rebuilt));
      await new Promise((resolve) => setTimeout(resolve, 500)); // resyncs and messages after the write-back
      assert.deepEqual(c.states(), ['OPEN', 'OPEN', 'OPEN']);
    } finally {
      await c.stop();
    }
  });

  it('shows the Redis URL masked, user and password, in the report and every log line', async () => {
    const c = await cluster('masked');
    try {
      assert.match(c.monitors[0]!.report().cluster!.redis, /^redis:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/?$/);
      assert.ok(c.loggers[0]!.entries.some((e) => e.msg === 'conductor-health cluster: joined'));
    } finally {
      await c.stop();
    }
    for (const logger of c.loggers) assert.doesNotMatch(JSON.stringify(logger.entries), /hunter2|conductor@/);
  });
});
