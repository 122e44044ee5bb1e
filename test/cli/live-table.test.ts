import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HealthReport } from '../../src/monitor/report.ts';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { renderStatusTable, startLiveTable } from '../../src/cli/live-table.ts';
import { advance, useFakeClock, useRealClock } from '../helpers/clock.ts';
import { freePort } from '../helpers/ports.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const execFileAsync = promisify(execFile);
const SOCKET = `conductor-health-test-${process.pid}`;
const tmux = (...args: string[]) => execFileAsync('tmux', ['-L', SOCKET, ...args]);

describe('renderStatusTable', () => {
  const report: HealthReport = {
    status: 'degraded',
    reasons: [],
    degraded: { resource: 'memory', value: 0.86, threshold: 0.8 },
    running: true,
    skippedChecks: 2,
    abandonedChecks: 0,
    platforms: [
      { platform: 'discord', breakerState: 'CLOSED', consecutiveFailures: 0, critical: false, lastResult: 'success', lastDurationSeconds: 0.0123 },
      { platform: 'twitch\nevil', breakerState: 'OPEN', consecutiveFailures: 3, critical: false, lastResult: 'rejected', lastDurationSeconds: 0, nextAttemptAt: 12_400 },
    ],
  };

  it('lists every platform with breaker, last result, latency, failures and time to the next trial', () => {
    const lines = renderStatusTable(report, 2_000, ['12:00:00  twitch: CLOSED → OPEN']).split('\n');
    assert.match(lines[0]!, /status: degraded — degraded mode: yes \(memory 86 % ≥ 80 %\) — skipped checks: 2/);
    assert.match(lines[2]!, /^PLATFORM\s+BREAKER\s+LAST\s+LATENCY\s+FAILURES\s+NEXT TRIAL$/);
    assert.match(lines[3]!, /^discord\s+CLOSED\s+success\s+12 ms\s+0\s+-$/);
    assert.match(lines[4]!, /^twitch\?evil\s+OPEN\s+rejected\s+-\s+3\s+11 s$/, 'control characters cannot break the layout');
    assert.ok(lines.includes('  12:00:00  twitch: CLOSED → OPEN'));
  });
});

describe('names and trials in the live table', () => {
  const hostile = 'evil\x1b]0;pwned\x07\u009b2J\u202etxt.exe';

  it('prints no control character or bidi override of a name, in rows or recent events', async () => {
    useFakeClock();
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger, breaker: { failMax: 1 } });
    let written = '';
    const out = { write: (chunk: string) => ((written += chunk), true) } as unknown as NodeJS.WriteStream;
    monitor.register(hostile, () => false);
    const stop = startLiveTable(monitor, out, 1_000);
    try {
      await monitor.checkPlatformHealth(hostile);
      await advance(1_000);
      assert.match(written, /evil.*CLOSED → OPEN/, 'the transition is among the recent events');
      for (const text of [written, renderStatusTable(monitor.report(), Date.now(), [], false)]) {
        assert.ok(!/[\x07\u0080-\u009f\u202a-\u202e\u2066-\u2069]|\x1b\]/.test(text), JSON.stringify(text));
      }
    } finally {
      stop();
      const stopping = monitor.stop();
      await advance(5_000);
      await stopping;
      useRealClock();
    }
  });

  it('shows the time to the next trial of a half-open breaker too', () => {
    const table = renderStatusTable(
      {
        status: 'degraded', reasons: [], degraded: null, running: true, skippedChecks: 0, abandonedChecks: 0,
        platforms: [{ platform: 'p', breakerState: 'HALF_OPEN', consecutiveFailures: 3, critical: false, lastResult: 'rejected', nextAttemptAt: 7_000 }],
      },
      2_000,
      [],
    );
    assert.match(table, /^p\s+HALF_OPEN\s+rejected\s+-\s+3\s+5 s$/m);
  });
});

describe('the live status table in a terminal', () => {
  let dir: string;
  let web: Server;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-tty-'));
    web = createServer((_, res) => res.end('ok'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const config = {
      monitor: { intervalMs: 200, timeoutMs: 150 },
      resources: false,
      targets: [
        { name: 'web', type: 'http', url: `http://127.0.0.1:${(web.address() as { port: number }).port}/` },
        { name: 'gone', type: 'tcp', host: '127.0.0.1', port: await freePort() },
      ],
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  });
  after(async () => {
    await tmux('kill-server').catch(() => {});
    web?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('redraws the table in place, shows the open breaker, and exits on Ctrl-C', async () => {
    const port = await freePort();
    const command = `OTEL_EXPORTER_PROMETHEUS_PORT=${port} '${process.execPath}' '${CLI}' run --config '${join(dir, 'config.json')}'`;
    await tmux('new-session', '-d', '-s', 'live', '-x', '140', '-y', '30', command);
    let screen = '';
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      screen = (await tmux('capture-pane', '-p', '-t', 'live')).stdout;
      if (/^gone\s+OPEN\s+rejected/m.test(screen) && /^web\s+CLOSED\s+success/m.test(screen)) break;
      await sleep(200);
    }
    assert.match(screen, /^web\s+CLOSED\s+success\s+\d+ ms\s+0\s+-$/m, screen);
    assert.match(screen, /^gone\s+OPEN\s+rejected\s+-\s+3\s+\d+ s$/m, screen);
    assert.match(screen, /gone: CLOSED → OPEN/, screen);
    assert.equal(screen.match(/PLATFORM/g)?.length, 1, 'one table on screen: redrawn in place, not appended');
    assert.doesNotMatch(screen, /"level"/, 'no JSON log lines on a terminal');

    await tmux('send-keys', '-t', 'live', 'C-c');
    const gone = Date.now() + 10_000;
    let running = true;
    while (running && Date.now() < gone) {
      running = await tmux('has-session', '-t', 'live').then(() => true, () => false);
      if (running) await sleep(100);
    }
    assert.equal(running, false, 'the command ended after Ctrl-C');
  });
});
