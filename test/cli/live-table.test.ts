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
import { summaryLine, trackRun } from '../../src/cli/run-summary.ts';
import { advance, useFakeClock, useRealClock } from '../helpers/clock.ts';
import { freePort } from '../helpers/ports.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);
const SOCKET = `conductor-health-test-${process.pid}`;
const tmux = (...args: string[]) => execFileAsync('tmux', ['-L', SOCKET, ...args]);

/**
 * `command` as a shell runs it for a person: bash waits for it and prints its
 * exit status, then keeps the pane (and the screen, which tmux may drop with a
 * dead pane) until the server is killed. Bash ends there itself, killed by the
 * SIGINT, only when the command died of it: what an interactive shell does too.
 */
const asTyped = (command: string) => `bash --norc --noprofile -c '${command.replaceAll("'", `'\\''`)}; echo "[exit status $?]"; exec cat'`;

/** Reads the pane until the command's exit status shows; resolves with the screen, or with how the pane died. */
async function afterExit(session: string, timeoutMs = 15_000): Promise<{ status: string; screen: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const screen = (await tmux('capture-pane', '-p', '-t', session)).stdout;
    const shown = /\[exit status (\d+)\]/.exec(screen);
    if (shown) return { status: `status ${shown[1]}`, screen };
    const [dead, signal] = (await tmux('display-message', '-p', '-t', session, '#{pane_dead}|#{pane_dead_signal}')).stdout.trim().split('|');
    // tmux does not always know the signal; the missing status line says enough.
    if (dead === '1') return { status: `no status: the shell was killed${signal ? ` by signal ${signal}` : ''}, as its command was`, screen };
    if (Date.now() > deadline) throw new Error(`${session}: still running after Ctrl-C:\n${screen}`);
    await sleep(100);
  }
}

/** Reads the pane until `done` holds for its text, for at most `timeoutMs` (a bound for a broken run); resolves with the last text read. */
async function screenUntil(session: string, done: (screen: string) => boolean, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = '';
  while (Date.now() < deadline) {
    screen = (await tmux('capture-pane', '-p', '-t', session)).stdout;
    if (done(screen)) break;
    await sleep(200);
  }
  return screen;
}

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

describe('the live table of a replica', () => {
  const hostile = 'evil\x1b]0;pwned\x07\u202etxt';
  const report: HealthReport = {
    status: 'healthy',
    reasons: [],
    degraded: null,
    running: true,
    skippedChecks: 0,
    abandonedChecks: 0,
    platforms: [
      { platform: 'billing', breakerState: 'CLOSED', consecutiveFailures: 0, critical: false, lastResult: 'success', lastDurationSeconds: 0.012, owner: 'replica-1', lastCheckBy: 'replica-1' },
      { platform: 'search', breakerState: 'CLOSED', consecutiveFailures: 0, critical: false, lastResult: 'failure', owner: 'replica-2', lastCheckBy: 'replica-0' },
      { platform: 'fresh', breakerState: 'CLOSED', consecutiveFailures: 0, critical: false, owner: hostile },
    ],
    cluster: { replica: 'replica-1', redis: 'redis://:***@redis:6379', localMode: false, members: ['replica-0', 'replica-1', 'replica-2'] },
  };

  it('names this replica and the members, and per platform the replica that checks it and the one its last check ran on', () => {
    const lines = renderStatusTable(report, 0, []).split('\n');
    assert.equal(lines[1], 'cluster: replica replica-1 of 3 (replica-0, replica-1, replica-2), redis redis://:***@redis:6379');
    assert.match(lines[3]!, /^PLATFORM\s+BREAKER\s+LAST\s+LATENCY\s+FAILURES\s+NEXT TRIAL\s+CHECKED BY\s+LAST CHECK ON$/);
    assert.match(lines[4]!, /^billing\s+CLOSED\s+success\s+12 ms\s+0\s+-\s+replica-1\s+replica-1$/);
    assert.match(lines[5]!, /^search\s+CLOSED\s+failure\s+-\s+0\s+-\s+replica-2\s+replica-0$/, 'checked last by another replica than its owner, after a move');
    assert.match(lines[6]!, /^fresh\s+CLOSED\s+-\s+-\s+0\s+-\s+evil\?\]0;pwned\?\?txt\s+-$/, 'an id from Redis cannot drive the terminal');
  });

  it('says so when it runs in local mode, in colour on a terminal, and names ten members at most', () => {
    const local = renderStatusTable({ ...report, cluster: { ...report.cluster!, localMode: true, members: ['replica-1'] } }, 0, [], true).split('\n');
    assert.equal(local[1], '\x1b[33mcluster: replica replica-1 in local mode: Redis redis://:***@redis:6379 unreachable, checking every platform here\x1b[0m');
    const members = Array.from({ length: 12 }, (_, i) => `r-${String(i).padStart(2, '0')}`);
    const many = renderStatusTable({ ...report, cluster: { ...report.cluster!, members: [...members.slice(0, 11), `${hostile}${'x'.repeat(80)}`] } }, 0, []).split('\n');
    assert.equal(many[1], 'cluster: replica replica-1 of 12 (r-00, r-01, r-02, r-03, r-04, r-05, r-06, r-07, r-08, r-09, 2 more), redis redis://:***@redis:6379');
    const long = renderStatusTable({ ...report, cluster: { ...report.cluster!, members: [`${hostile}${'x'.repeat(80)}`] } }, 0, []).split('\n');
    assert.equal(long[1], `cluster: replica replica-1 of 1 (evil?]0;pwned??txt${'x'.repeat(21)}…), redis redis://:***@redis:6379`, 'a long id is cut to 40 characters');
  });

  it('adds nothing without a cluster', () => {
    const { cluster: _cluster, ...alone } = report;
    const lines = renderStatusTable({ ...alone, platforms: alone.platforms.map(({ owner: _o, lastCheckBy: _l, ...p }) => p) }, 0, []).split('\n');
    assert.equal(lines[1], '');
    assert.match(lines[2]!, /^PLATFORM\s+BREAKER\s+LAST\s+LATENCY\s+FAILURES\s+NEXT TRIAL$/);
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

describe('the summary the table closes with', () => {
  it('counts the checks that ran and names the breakers that are not closed', async () => {
    useFakeClock();
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger, breaker: { failMax: 1, resetTimeoutMs: 600_000 } });
    try {
      monitor.register('ok', () => true);
      monitor.register('bad', () => false);
      const summarise = trackRun(monitor, () => Date.now());
      await monitor.checkPlatformHealth('ok');
      await monitor.checkPlatformHealth('bad');
      await monitor.checkPlatformHealth('bad');
      await advance(83_000);
      const summary = summarise();
      assert.deepEqual(summary, { uptimeSeconds: 83, checks: 2, platforms: 2, breakers: { CLOSED: 1, OPEN: 1, HALF_OPEN: 0 }, open: ['bad'], halfOpen: [] }, 'the refused third check did not run');
      assert.equal(summaryLine(summary), 'conductor-health ran 1 m 23 s: 2 checks of 2 platforms; breakers 1 CLOSED, 1 OPEN (bad)');
    } finally {
      const stopping = monitor.stop();
      await advance(5_000);
      await stopping;
      useRealClock();
    }
  });

  it('says whose checks it counted with a cluster: this replica’s, one of how many, or in local mode', async () => {
    // Not started: the cluster is not joined, so the report has this replica alone, in local mode.
    const monitor = new HealthMonitor({ resources: false, logger: silentLogger, cluster: { redisUrl: 'redis://:secret@127.0.0.1:1', instanceId: 'replica-7' } });
    monitor.register('ok', () => true);
    const summarise = trackRun(monitor, () => 0);
    await monitor.checkPlatformHealth('ok');
    const summary = summarise();
    assert.deepEqual(summary.cluster, { replica: 'replica-7', members: 1, localMode: true });
    assert.equal(summaryLine(summary), 'conductor-health ran 0 s as replica replica-7, in local mode: 1 check here, of 1 platform; breakers 1 CLOSED');
    assert.equal(
      summaryLine({ ...summary, uptimeSeconds: 83, checks: 47, platforms: 3, breakers: { CLOSED: 3, OPEN: 0, HALF_OPEN: 0 }, cluster: { replica: 'replica-1', members: 3, localMode: false } }),
      'conductor-health ran 1 m 23 s as replica replica-1, one of 3: 47 checks here, of 3 platforms; breakers 3 CLOSED',
    );
    await monitor.stop();
  });

  it('stays one line with many platforms, and with hostile names', () => {
    const open = ['a', 'b', 'c', 'd', 'e'];
    const line = summaryLine({ uptimeSeconds: 7_500, checks: 1, platforms: 10_000, breakers: { CLOSED: 9_000, OPEN: 999, HALF_OPEN: 1 }, open, halfOpen: ['x?y'] });
    assert.equal(line, 'conductor-health ran 2 h 5 m: 1 check of 10000 platforms; breakers 9000 CLOSED, 999 OPEN (a, b, c, d, e, 994 more), 1 HALF_OPEN (x?y)');
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

  before(async () => {
    // A pane whose shell died of the signal stays, so how it died can be read.
    await tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'keeper', ';', 'set-option', '-g', 'remain-on-exit', 'on');
  });
  after(async () => {
    await tmux('kill-server').catch(() => {});
    web?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('redraws the table in place, shows the open breaker, and on Ctrl-C exits 0 leaving a summary on the screen', async () => {
    const port = await freePort();
    const command = `OTEL_EXPORTER_PROMETHEUS_PORT=${port} '${process.execPath}' '${CLI}' run --config '${join(dir, 'config.json')}'`;
    await tmux('new-session', '-d', '-s', 'live', '-x', '140', '-y', '30', asTyped(command));
    let screen = await screenUntil('live', (text) => /^gone\s+OPEN\s+rejected/m.test(text) && /^web\s+CLOSED\s+success/m.test(text));
    assert.match(screen, /^web\s+CLOSED\s+success\s+\d+ ms\s+0\s+-$/m, screen);
    assert.match(screen, /^gone\s+OPEN\s+rejected\s+-\s+3\s+\d+ s$/m, screen);
    assert.match(screen, /gone: CLOSED → OPEN/, screen);
    assert.equal(screen.match(/PLATFORM/g)?.length, 1, 'one table on screen: redrawn in place, not appended');
    assert.doesNotMatch(screen, /"level"/, 'no JSON log lines on a terminal');

    await tmux('send-keys', '-t', 'live', 'C-c');
    const end = await afterExit('live');
    assert.equal(end.status, 'status 0', end.screen);
    screen = end.screen;
    assert.doesNotMatch(screen, /PLATFORM/, 'the main screen is back');
    assert.match(screen, /^conductor-health ran (\d+ m )?\d+ s: \d+ checks of 2 platforms; breakers 1 CLOSED, 1 OPEN \(gone\)$/m, screen);
  });

  it('with a cluster (CONDUCTOR_HEALTH_REDIS_URL, a real Redis) names the replica and the members, each platform’s owner and last check’s replica, and whose checks the summary counts', async () => {
    const redis: RedisServer = await startRedis({ password: 'hunter2' });
    try {
      const port = await freePort();
      const command = `CONDUCTOR_HEALTH_REDIS_URL='${redis.url}' OTEL_RESOURCE_ATTRIBUTES=service.instance.id=replica-a OTEL_EXPORTER_PROMETHEUS_PORT=${port} '${process.execPath}' '${CLI}' run --config '${join(dir, 'config.json')}'`;
      await tmux('new-session', '-d', '-s', 'replica', '-x', '160', '-y', '30', asTyped(command));
      let screen = await screenUntil('replica', (text) => /^cluster: replica replica-a of 1 /m.test(text) && /^web\s+CLOSED\s+success.*replica-a\s+replica-a$/m.test(text));
      assert.match(screen, new RegExp(`^cluster: replica replica-a of 1 \\(replica-a\\), redis redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}$`, 'm'), screen);
      assert.match(screen, /^PLATFORM\s+BREAKER\s+LAST\s+LATENCY\s+FAILURES\s+NEXT TRIAL\s+CHECKED BY\s+LAST CHECK ON$/m, screen);
      assert.match(screen, /^web\s+CLOSED\s+success\s+\d+ ms\s+0\s+-\s+replica-a\s+replica-a$/m, screen);
      assert.doesNotMatch(screen, /hunter2/);
      await tmux('send-keys', '-t', 'replica', 'C-c');
      const end = await afterExit('replica');
      assert.equal(end.status, 'status 0', end.screen);
      screen = end.screen;
      assert.match(screen, /^conductor-health ran (\d+ m )?\d+ s as replica replica-a, one of 1: \d+ checks here, of 2 platforms; breakers /m, screen);
    } finally {
      await redis.stop();
    }
  });

  it('npm start ends with status 0 on Ctrl-C, not 130 (the start script execs node, so no shell between npm and the command dies of the SIGINT)', async () => {
    const port = await freePort();
    await tmux('new-session', '-d', '-s', 'npm', '-x', '140', '-y', '30', '-c', ROOT, asTyped(`OTEL_EXPORTER_PROMETHEUS_PORT=${port} CONDUCTOR_HEALTH_DEMO_PORT= npm start`));
    const screen = await screenUntil('npm', (text) => /^healthy\s+CLOSED\s+success/m.test(text));
    assert.match(screen, /^healthy\s+CLOSED\s+success/m, screen);
    await tmux('send-keys', '-t', 'npm', 'C-c');
    const end = await afterExit('npm');
    assert.equal(end.status, 'status 0', `npm start ended with ${end.status} (status 130 to a shell): package.json's start script must be "exec node dist/cli/main.js demo"\n${end.screen}`);
    assert.match(end.screen, /^conductor-health ran (\d+ m )?\d+ s: \d+ checks? of 3 platforms; breakers /m);
  });
});
