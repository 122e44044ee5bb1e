// The shared last checks on a real Redis: what a replica keeps of them, and
// what it cleans up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clusterMonitors, until } from '../helpers/cluster-monitors.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

describe('the shared last checks', () => {
  let redis: RedisServer;
  const { replica, joined, stopStarted } = clusterMonitors(() => redis.url);
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await stopStarted();
    await redis.stop();
  });

  it('deletes the last check of a platform nobody has checked for 10 minutes and 10 intervals, and keeps the others', async () => {
    const [s, us] = (await redis.command('TIME')) as [string, string];
    const now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    await redis.command('HSET', 'checks-gc:checks', 'gone', `${now - 11 * 60_000}|old-replica|success|5000`, 'slow', `${now - 11 * 60_000}|old-replica|success|120000`, 'recent', `${now - 60_000}|old-replica|success|5000`);
    const { monitor } = replica('r0', ['mine'], { prefix: 'checks-gc', intervalMs: 200 });
    await joined([monitor], 1);
    const fields = async () => ((await redis.command('HKEYS', 'checks-gc:checks')) as string[]).sort();
    // Read every interval: the first read after the join deletes it; "slow" is within 10 of its 2-minute intervals; "mine" is checked here.
    assert.deepEqual(await until(fields, (f) => !f.includes('gone') && f.includes('mine'), 3_000), ['mine', 'recent', 'slow']);
  });
});
