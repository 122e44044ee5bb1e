// Stopping on signals, in a real child process: whatever arrives and whenever,
// the command ends by itself with status 0, never killed by the signal.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../helpers/ports.ts';
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { logLines, spawnCli, waitForChecks } from './cli-process.ts';

/** Runs of the two-signal case: it failed in 2 of 8 before the handlers stayed to the end. */
const RUNS = 12;

describe('conductor-health run, stopping on signals', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-signals-'));
    file = join(dir, 'targets.yaml');
    await writeFile(file, 'monitor: { intervalMs: 100 }\nresources: false\ntargets:\n  - { name: a, type: tcp, host: 127.0.0.1, port: 1 }\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Starts the command on `file` with `env` and waits for a counted check. */
  async function startStoppable(env: Record<string, string> = {}) {
    const port = await freePort();
    const cli = spawnCli(['run', '--config', file, '--json-logs'], { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), ...env });
    try {
      await waitForChecks(port, 'a');
    } catch (error) {
      cli.child.kill('SIGKILL');
      throw new Error(`${(error as Error).message}; output:\n${cli.output()}`);
    }
    return cli;
  }

  it(`exits 0 in each of ${RUNS} runs when a second SIGTERM follows the first by 20 ms, even after a stop that took less`, async () => {
    const ends: Array<number | string | null> = [];
    for (let run = 0; run < RUNS; run += 1) {
      const cli = await startStoppable();
      try {
        cli.child.kill('SIGTERM');
        await sleep(20);
        cli.child.kill('SIGTERM');
        ends.push(await cli.exited);
      } finally {
        cli.child.kill('SIGKILL');
      }
    }
    assert.deepEqual(ends, Array(RUNS).fill(0), 'a number is an exit status, a name the signal that killed it');
  });

  it('exits 0 under a SIGTERM every 2 ms from the first until it has exited, in each of 4 runs', async () => {
    // Node's teardown puts the default action back before the process is gone: a signal then killed it after a clean stop.
    const ends: Array<number | string | null> = [];
    for (let run = 0; run < 4; run += 1) {
      const cli = await startStoppable();
      let gone = false;
      void cli.exited.then(() => (gone = true));
      try {
        while (!gone) {
          cli.child.kill('SIGTERM');
          await sleep(2);
        }
        ends.push(await cli.exited);
      } finally {
        cli.child.kill('SIGKILL');
      }
    }
    assert.deepEqual(ends, [0, 0, 0, 0]);
  });

  it('logs a second SIGTERM 20 ms after the first as "already stopping", finishes the stop and flushes spans', async () => {
    // A collector that never answers holds the stop in its span flush, bounded by the export timeout.
    const collector = await startOtlpReceiver({ mode: 'hang' });
    try {
      for (let run = 0; run < 3; run += 1) {
        const cli = await startStoppable({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_TIMEOUT: '1000' });
        try {
          cli.child.kill('SIGTERM');
          await sleep(20);
          cli.child.kill('SIGTERM');
          assert.equal(await cli.exited, 0, cli.output());
          const lines = logLines(cli.output());
          const stopping = lines.findIndex((l) => l.msg === 'stopping');
          const again = lines.findIndex((l) => /^already stopping/.test(l.msg ?? ''));
          assert.ok(stopping >= 0 && again > stopping, `"stopping", then "already stopping":\n${cli.output()}`);
          assert.equal(lines[again]!.signal, 'SIGTERM');
          assert.ok(lines.findIndex((l) => l.msg === 'stopped') > again, 'the stop finished');
        } finally {
          cli.child.kill('SIGKILL');
        }
      }
      assert.ok(collector.requests > 0, 'the span export was attempted before exiting');
    } finally {
      await collector.close();
    }
  });

  it('stops cleanly on SIGHUP, and on SIGINT then SIGTERM', async () => {
    for (const signals of [['SIGHUP'], ['SIGINT', 'SIGTERM']] as const) {
      const cli = await startStoppable();
      try {
        for (const signal of signals) cli.child.kill(signal);
        assert.equal(await cli.exited, 0, cli.output());
        // Two signals sent at once may reach the handler in either order.
        assert.ok((signals as readonly string[]).includes(String(logLines(cli.output()).find((l) => l.msg === 'stopped')?.signal)), cli.output());
      } finally {
        cli.child.kill('SIGKILL');
      }
    }
  });
});
