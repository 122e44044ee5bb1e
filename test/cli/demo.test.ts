// `conductor-health demo` (what `npm start` runs) on a host where the ports
// examples/demo.yaml names are taken: it must still run, or say how to move it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/cli/config-file.ts';
import { demoPorts, startDemoPlatforms, withDemoPorts, type DemoPlatforms } from '../../src/cli/demo.ts';
import { freePort } from '../helpers/ports.ts';
import { logLines, runCli, spawnCli, waitFor } from './cli-process.ts';

const DEMO_CONFIG = fileURLToPath(new URL('../../examples/demo.yaml', import.meta.url));

/** Listens on `port` of 127.0.0.1; resolves with the server, or undefined when another process already holds the port (taken either way). */
function hold(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A port P with P, P + 1 and P + 2 free a moment ago. */
async function freeBase(): Promise<number> {
  for (;;) {
    const base = await freePort();
    const held = await Promise.all([base, base + 1, base + 2].map(hold));
    await Promise.all(held.map((s) => s && new Promise((resolve) => s.close(resolve))));
    if (held.every(Boolean)) return base;
  }
}

type Report = { platforms: Array<{ platform: string; lastResult?: string }> };

describe('conductor-health demo', () => {
  let taken: Array<Server | undefined> = [];
  before(async () => (taken = await Promise.all([18081, 18082, 18083].map(hold))));
  after(() => Promise.all(taken.map((s) => s && new Promise((resolve) => s.close(resolve)))));

  it('runs with the ports examples/demo.yaml names taken: its platforms get free ones, checked as the file says', async () => {
    const port = await freePort();
    const cli = spawnCli(['demo', '--json-logs'], { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), CONDUCTOR_HEALTH_DEMO_PORT: '' });
    try {
      const report = await waitFor('a check of every demo platform', async () => {
        const body = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as Report;
        return body.platforms.every((p) => p.lastResult !== undefined) ? body : undefined;
      }, 20_000).catch((error: Error) => assert.fail(`${error.message}; output:\n${cli.output()}`));
      const results = Object.fromEntries(report.platforms.map((p) => [p.platform, p.lastResult]));
      assert.equal(results.healthy, 'success');
      assert.equal(results.down, 'failure', 'nobody listens where down is checked, though 18083 is held');
      const running = logLines(cli.output()).find((l) => l.msg === 'conductor-health running');
      const demo = running?.demo as Record<string, string>;
      assert.match(demo.healthy!, /^http:\/\/127\.0\.0\.1:\d+\/health$/);
      assert.ok(!/:1808[123]\b/.test(JSON.stringify(demo)), JSON.stringify(demo));
      assert.equal(await (await fetch(demo.healthy!)).text(), 'ok\n', 'the logged address is the platform');
      cli.child.kill('SIGTERM');
      assert.equal(await cli.exited, 0, cli.output());
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('exits 1 naming CONDUCTOR_HEALTH_DEMO_PORT and the way out when a port it pins is taken', async () => {
    const base = await freeBase();
    const blocker = await hold(base + 1);
    try {
      const result = await runCli(['demo'], { OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()), CONDUCTOR_HEALTH_DEMO_PORT: String(base) });
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `conductor-health: cannot start the demo platform "flaky" on 127.0.0.1:${base + 1}: the address is already in use; set CONDUCTOR_HEALTH_DEMO_PORT to another free port (the demo takes it and the next two), or unset it to let the demo pick free ports\n`,
      );
    } finally {
      blocker?.close();
    }
  });

  it('exits 1 naming CONDUCTOR_HEALTH_DEMO_PORT when it is not a port', async () => {
    const result = await runCli(['demo'], { OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()), CONDUCTOR_HEALTH_DEMO_PORT: '65534' });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'conductor-health: environment variable CONDUCTOR_HEALTH_DEMO_PORT must be an integer >= 1 <= 65533, got "65534"\n');
  });
});

describe('the demo platforms and examples/demo.yaml', () => {
  let platforms: DemoPlatforms | undefined;
  after(() => platforms?.close());

  it('pins the platforms to CONDUCTOR_HEALTH_DEMO_PORT and the two after it, and puts demo.yaml’s targets there', async () => {
    const base = await freeBase();
    const ports = demoPorts({ CONDUCTOR_HEALTH_DEMO_PORT: String(base) });
    assert.deepEqual(ports, { healthy: base, flaky: base + 1, down: base + 2 });
    assert.deepEqual(demoPorts({}), { healthy: 0, flaky: 0, down: 0 }, 'unset: free ports');
    platforms = await startDemoPlatforms(ports);
    assert.deepEqual(platforms.ports, ports);
    const config = withDemoPorts(parseConfig(await readFile(DEMO_CONFIG, 'utf8'), 'demo.yaml'), platforms);
    const where = config.targets.map((t) => (t.type === 'tcp' ? `${t.name} tcp ${t.host}:${t.port}` : `${t.name} ${t.url}`));
    assert.deepEqual(where, [`healthy http://127.0.0.1:${base}/health`, `flaky http://127.0.0.1:${base + 1}/health`, `down tcp 127.0.0.1:${base + 2}`]);
    assert.equal(await (await fetch(`http://127.0.0.1:${base}/health`)).text(), 'ok\n');
  });
});
