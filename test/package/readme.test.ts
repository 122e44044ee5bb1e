// README and CHANGELOG say what the code does: the tables, figures and routes a reader relies on
// are checked against the code, the lock file and a real run.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ERROR_CODES } from '../../src/common/errors.ts';
import { peerBinaries } from '../helpers/peers.ts';
import { packagesRefusing } from './engines.ts';
import { ROOT, SHELL } from './shell.ts';

const run = promisify(execFile);
const README = join(ROOT, 'README.md');

describe("README's error codes", () => {
  it('lists every code the package throws, and no other', async () => {
    const readme = await readFile(README, 'utf8');
    const table = readme.slice(readme.indexOf('| code | class | when |'), readme.indexOf('\n\n', readme.indexOf('| code | class | when |')));
    const listed = [...table.matchAll(/`(E[A-Z]+)`/g)].map((m) => m[1]).sort();
    assert.deepEqual(listed, Object.keys(ERROR_CODES).sort());
  });
});

describe("README's engine warnings", () => {
  it('gives, for the Node it names, the number of packages in the lock file whose engines that Node misses', async () => {
    const readme = await readFile(README, 'utf8');
    const claim = /On the system Node (\d+\.\d+), `npm ci` prints (\d+) `npm warn EBADENGINE` blocks/.exec(readme.replace(/\s+/g, ' '));
    assert.ok(claim, "README's Quick start says how many EBADENGINE blocks npm ci prints, and on which Node");
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as Parameters<typeof packagesRefusing>[0];
    const refusing = packagesRefusing(lock, `${claim[1]}.0`);
    assert.equal(Number(claim[2]), refusing.length, `npm ci on Node ${claim[1]} warns for: ${refusing.join(', ')}`);
    // The install test holds the lock's count to a real npm ci on the system's Node.
  });
});

describe("CHANGELOG's Unreleased section", () => {
  /** Every name src/index.ts exports, types included. */
  async function exported(): Promise<Set<string>> {
    const index = await readFile(join(ROOT, 'src', 'index.ts'), 'utf8');
    const lists = [...index.matchAll(/^export (?:type )?\{([^}]*)\}/gm)].map((m) => m[1]!);
    return new Set(lists.flatMap((list) => list.split(',').map((name) => name.trim().split(/\s+as\s+/).at(-1)!).filter((name) => name !== '')));
  }

  /** The API names the bullets of `### heading` start with: backticked, before the bullet's first colon. */
  function leadingNames(section: string, heading: string): string[] {
    const start = section.indexOf(`### ${heading}\n`);
    assert.ok(start >= 0, `### ${heading} in Unreleased`);
    const end = section.indexOf('\n### ', start + 1);
    const bullets = section.slice(start, end < 0 ? undefined : end).split(/^- /m).slice(1);
    return bullets.flatMap((bullet) =>
      [...bullet.split(/:\s/)[0]!.matchAll(/`([A-Za-z_]\w*)(\(\))?`/g)]
        // Classes, types and constants (capitalised; error codes are checked below), and functions
        // (`name()`); methods and options are not exports.
        .filter((m) => (/^[A-Z]/.test(m[1]!) && !/^E[A-Z]+$/.test(m[1]!)) || m[2] !== undefined)
        .map((m) => m[1]!),
    );
  }

  async function unreleased(): Promise<string> {
    const changelog = await readFile(join(ROOT, 'CHANGELOG.md'), 'utf8');
    const start = changelog.indexOf('## [Unreleased]');
    assert.ok(start >= 0, 'CHANGELOG.md has an Unreleased section');
    const end = changelog.indexOf('\n## ', start + 1);
    return changelog.slice(start, end < 0 ? undefined : end);
  }

  it('lists as added names the package exports, and as removed names it no longer does', async () => {
    const section = await unreleased();
    const names = await exported();
    const added = leadingNames(section, 'Added');
    const removed = leadingNames(section, 'Removed');
    assert.ok(added.length > 0 && removed.length > 0, `names found: added ${added.join(', ')}; removed ${removed.join(', ')}`);
    assert.deepEqual(added.filter((name) => !names.has(name)), [], 'added, yet not exported by src/index.ts');
    assert.deepEqual(removed.filter((name) => names.has(name)), [], 'removed, yet still exported by src/index.ts');
  });

  it('gives error codes that ERROR_CODES holds, and as former codes only ones it does not', async () => {
    const section = await unreleased();
    const codes = [...section.matchAll(/(was )?`(E[A-Z]+)`/g)].map((m) => ({ code: m[2]!, former: m[1] !== undefined }));
    assert.ok(codes.some((c) => c.former) && codes.some((c) => !c.former), JSON.stringify(codes));
    const known = new Set(Object.keys(ERROR_CODES));
    assert.deepEqual(codes.filter((c) => known.has(c.code) === c.former), [], 'a current code missing from ERROR_CODES, or a former one still in it');
  });
});

describe("README's trace route without Docker", () => {
  const tmux = (...args: string[]) => run('tmux', ['-L', `conductor-health-route-${process.pid}`, ...args], { env: SHELL });
  after(async () => {
    // What the route left running (a step failed, or its stop line missed something) dies with
    // neither the tmux server nor the shell's SIGHUP: end the shell's children, by pid.
    const shellPid = await tmux('list-panes', '-t', 'route', '-F', '#{pane_pid}').then(({ stdout }) => stdout.trim(), () => '');
    if (shellPid !== '') {
      const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', shellPid]).catch(() => ({ stdout: '' }));
      for (const pid of stdout.split('\n').map(Number).filter((n) => n > 0)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
    await tmux('kill-server').catch(() => {});
  });

  /** The route's shell block, one command a line (backslash continuations joined). */
  async function routeCommands(): Promise<string[]> {
    const readme = await readFile(README, 'utf8');
    const bullet = readme.slice(readme.indexOf('- **Collector and Jaeger without Docker**'));
    const block = /```sh\n([\s\S]*?)```/.exec(bullet);
    assert.ok(block, 'the bullet has a sh block');
    return block[1]!.replace(/\\\n\s*/g, '').split('\n').map((line) => line.trim()).filter((line) => line !== '');
  }

  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });

  /** Polls `ok` every 200 ms until it holds; fails naming `what` after `timeoutMs` (a bound, not a measurement). */
  async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Types `line` into the interactive shell, as a reader pastes it. */
  const type = async (line: string) => {
    await tmux('send-keys', '-t', 'route', '-l', line);
    await tmux('send-keys', '-t', 'route', 'Enter');
  };

  it("typed into an interactive shell, serves the Collector's own telemetry on 127.0.0.1:8888, and its last line stops all it started", { timeout: 180_000 }, async () => {
    await peerBinaries(); // the route's first line would build them for 20 minutes; fail now, saying how
    const commands = await routeCommands();
    const demo = commands.findIndex((line) => /\bnpm start\b/.test(line));
    assert.ok(demo > 0 && demo < commands.length - 1, `npm start, then the lines that stop the rest: ${commands.join('\n')}`);
    const readme = await readFile(README, 'utf8');
    const ports = [...new Set([...commands.join('\n').matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])))];
    assert.match(readme.replace(/\s+/g, ' '), /The Collector also listens on 127\.0\.0\.1:8888/);
    // 9464: the demo's /metrics (README's Quick start); 8888: the Collector's own telemetry.
    ports.push(9464, 8888);
    const taken = (await Promise.all(ports.map(async (port) => ((await listening(port)) ? port : undefined)))).filter((p) => p !== undefined);
    assert.deepEqual(taken, [], 'the route binds fixed ports: these are taken on this host already');

    await tmux('new-session', '-d', '-s', 'route', '-x', '200', '-y', '50', '-c', ROOT, 'bash --norc --noprofile');
    for (const line of commands.slice(0, demo + 1)) await type(line);
    await until('the demo on 127.0.0.1:9464', () => listening(9464));
    await until("the Collector's own telemetry on 127.0.0.1:8888", async () => {
      const response = await fetch('http://127.0.0.1:8888/metrics').catch(() => undefined);
      return response?.ok === true && (await response.text()).includes('otelcol_');
    });

    await tmux('send-keys', '-t', 'route', 'C-c'); // what README says stops the demo
    await until('the demo to stop on Ctrl-C', async () => !(await listening(9464)));
    const stillUp = (await Promise.all(ports.map(async (port) => ((await listening(port)) ? port : undefined)))).filter((p) => p !== undefined);
    assert.ok(stillUp.length > 0, 'Ctrl-C stops only the demo, so the route needs its stop line');

    for (const line of commands.slice(demo + 1)) await type(line);
    await until(`ports ${ports.join(', ')} closed`, async () => !(await Promise.all(ports.map(listening))).some(Boolean), 30_000);
  });
});
