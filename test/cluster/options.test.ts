// A cluster is opt-in and its options speak the package's words: a bad one
// names the field, the value (its password masked) and the way out; without
// one nothing of the cluster, and no Redis client, is loaded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthMonitor } from '../../src/index.ts';
import { clusterSettings, maskRedisUrl } from '../../src/cluster/options.ts';
import { runNode } from '../helpers/child.ts';

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  assert.fail('no error');
}

describe('cluster options', () => {
  const monitor = (cluster: unknown) => () => new HealthMonitor({ resources: false, cluster: cluster as never });

  it('refuse a bad one naming the field, the value and the way out', () => {
    const cases: Array<[() => unknown, string, RegExp]> = [
      [monitor({ redisURL: 'redis://x' }), 'EUNKNOWNOPTION', /unknown cluster option "redisURL"; did you mean "redisUrl"\?/],
      [monitor({}), 'EOPTIONTYPE', /"cluster\.redisUrl" is missing: give the Redis the replicas share \(redis:\/\/host:6379\), or set CONDUCTOR_HEALTH_REDIS_URL/],
      [monitor({ redisUrl: 'http://x' }), 'EOPTIONRANGE', /"cluster\.redisUrl" must be a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/x"/],
      [monitor({ redisUrl: 'redis://x', heartbeatMs: 1_000, memberTtlMs: 1_000 }), 'EOPTIONRANGE', /"cluster\.memberTtlMs" must be more than cluster\.heartbeatMs \(1000\), got 1000: .*leave it out/],
      [monitor({ redisUrl: 'redis://x', keyPrefix: 'a b' }), 'EOPTIONRANGE', /"cluster\.keyPrefix" must be letters, digits and \. _ : - \(1 to 128 of them\), got "a b"/],
      [monitor({ redisUrl: 'redis://x', minReplicas: 0 }), 'EOPTIONRANGE', /"cluster\.minReplicas" must be an integer >= 1/],
      [monitor({ redisUrl: 'redis://x', instanceId: '' }), 'EOPTIONRANGE', /"cluster\.instanceId" must be letters/],
      [() => clusterSettings(undefined, { CONDUCTOR_HEALTH_REDIS_URL: 'tcp://db' }), 'EENVIRONMENT', /CONDUCTOR_HEALTH_REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL, got "tcp:\/\/db"/],
    ];
    for (const [fn, code, message] of cases) {
      const got = refusal(fn);
      assert.equal(got.code, code, got.message);
      assert.match(got.message, message);
    }
  });

  it('never quote a password back', () => {
    for (const fn of [monitor({ redisUrl: 'http://user:hunter2@x' }), () => clusterSettings(undefined, { CONDUCTOR_HEALTH_REDIS_URL: 'postgres://u:hunter2@db' })]) {
      const { message } = refusal(fn);
      assert.doesNotMatch(message, /hunter2/);
      assert.match(message, /:\*\*\*@/);
    }
    assert.equal(maskRedisUrl('redis://user:p%40ss@host:6379/2'), 'redis://***:***@host:6379/2');
    assert.equal(maskRedisUrl('rediss://:pw@h'), 'rediss://:***@h');
    assert.equal(maskRedisUrl('redis://h:1'), 'redis://h:1');
  });

  it('come from CONDUCTOR_HEALTH_REDIS_URL alone, code winning over the environment', () => {
    assert.equal(clusterSettings(undefined, {}), undefined);
    assert.equal(clusterSettings(undefined, { CONDUCTOR_HEALTH_REDIS_URL: ' ' }), undefined);
    const fromEnv = clusterSettings(undefined, { CONDUCTOR_HEALTH_REDIS_URL: 'redis://db:6379' });
    assert.equal(fromEnv?.redisUrl, 'redis://db:6379');
    assert.equal(fromEnv?.keyPrefix, 'conductor-health');
    assert.equal(fromEnv?.heartbeatMs, 2_000);
    assert.equal(clusterSettings({ redisUrl: 'redis://code:1', keyPrefix: 'p', heartbeatMs: 2_000, minReplicas: 1, commandTimeoutMs: 500, resyncMs: 2_000 }, { CONDUCTOR_HEALTH_REDIS_URL: 'redis://env:1' })?.redisUrl, 'redis://code:1');
  });
});

describe('loading the cluster', () => {
  /** Runs `body` in a child that records every module it loads; answers the ones from @redis/ and src/cluster/. */
  async function modulesLoaded(body: string): Promise<{ loaded: string[]; exitedByItself: boolean; code: number | null; stderr: string }> {
    const script = join(tmpdir(), `conductor-health-cluster-load-${process.pid}-${Math.random().toString(36).slice(2)}.ts`);
    await writeFile(
      script,
      `import { registerHooks } from 'node:module';
const loaded = new Set();
registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
const { HealthMonitor } = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)});
${body}
process.stdout.write(JSON.stringify([...loaded].filter((u) => /@redis|\\/src\\/cluster\\//.test(u))));
`,
    );
    const run = await runNode(script, { safetyMs: 20_000, env: { CONDUCTOR_HEALTH_REDIS_URL: '' } }).finally(() => rm(script, { force: true }));
    return { loaded: run.stdout === '' ? [] : (JSON.parse(run.stdout) as string[]), exitedByItself: run.exitedByItself, code: run.code, stderr: run.stderr };
  }

  it('loads no Redis client and no cluster code for a monitor without a cluster', async () => {
    const run = await modulesLoaded(`const m = new HealthMonitor({ resources: false, intervalMs: 50, logger: { info() {}, warn() {}, error() {}, debug() {} } });
m.register('p', () => true);
m.start();
await new Promise((r) => setTimeout(r, 200));
await m.stop();`);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.loaded.filter((u) => !u.endsWith('/src/cluster/options.ts')), []);
  });

  it('loads them on start() with one, and stop() leaves the process able to exit though Redis never answered', async () => {
    const run = await modulesLoaded(`const m = new HealthMonitor({ resources: false, intervalMs: 50, logger: { info() {}, warn() {}, error() {}, debug() {} }, cluster: { redisUrl: 'redis://127.0.0.1:1', heartbeatMs: 50 } });
m.register('p', () => true);
m.start();
await new Promise((r) => setTimeout(r, 300));
await m.stop();`);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.exitedByItself, 'a timer or a socket kept the process alive after stop()');
    assert.ok(run.loaded.some((u) => u.includes('/@redis/client/')), run.loaded.join('\n'));
    assert.ok(run.loaded.some((u) => u.endsWith('/src/cluster/cluster.ts')));
  });
});
