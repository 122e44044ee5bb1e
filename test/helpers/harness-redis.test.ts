// Proves the replicas tests' helpers work against the real things they wrap:
// Debian's redis-server, TCP through the partitionable proxy, the platform
// server under load, the clock-offset preload, and the built command.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createClient } from '@redis/client';
import { waitFor } from '../cli/cli-process.ts';
import { runNode } from './child.ts';
import { startPlatformServer } from './platform-server.ts';
import { encodeCommand, parseReply, RedisReplyError, RedisTimeoutError, redisCommand, startRedis, type RedisServer, type RespValue } from './redis.ts';
import { clockOffsetEnv, metricSum, metricValue, startReplicas } from './replicas.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

/** Long enough that a reply which was coming would have come; a bound on absence, not a timing assertion. */
const SILENCE_MS = 500;

/** The state letter of a process in /proc (T: stopped), or undefined once it is gone. */
function processState(pid: number): string | undefined {
  try {
    return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** A raw connection that stays open across commands, as a client's pooled one does. */
class RespConnection {
  readonly socket: Socket;
  #buffer = Buffer.alloc(0);
  #closed = false;
  /** The code of the error that ended it, if one did (ECONNRESET for a RST). */
  errorCode: string | undefined;
  #waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.errorCode = error.code;
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static open(port: number): Promise<RespConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RespConnection(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(...args: Array<string | number>): void {
    this.socket.write(encodeCommand(args));
  }

  /** The next reply, or 'silence' when none is complete within `ms`, or 'closed'. */
  async reply(ms: number): Promise<RespValue | RedisReplyError | 'silence' | 'closed'> {
    const deadline = performance.now() + ms;
    for (;;) {
      const parsed = parseReply(this.#buffer);
      if (parsed) {
        this.#buffer = this.#buffer.subarray(parsed.next);
        return parsed.value;
      }
      if (this.#closed) return 'closed';
      const left = deadline - performance.now();
      if (left <= 0) return 'silence';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves once the connection is closed, or false after `ms`. */
  async waitClosed(ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!this.#closed && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - performance.now());
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#closed;
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Runs `use` on a node-redis client of `url` that gives up at once rather than reconnecting. */
async function withClient<T>(url: string, use: (client: { ping(): Promise<unknown>; sendCommand(args: string[]): Promise<unknown> }) => Promise<T>): Promise<T> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => {}); // the rejection below says it
  await client.connect();
  try {
    return await use(client);
  } finally {
    client.destroy();
  }
}

describe('Redis helper', { timeout: 60_000 }, () => {
  test('starts a loopback Redis 7 without persistence that answers commands and nested replies', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.equal(await redis.command('PING'), 'PONG');
    assert.equal(await redis.command('SET', 'k', 'v'), 'OK');
    assert.equal(await redis.command('GET', 'k'), 'v');
    assert.equal(await redis.command('GET', 'missing'), null);
    assert.equal(await redis.command('HSET', 'h', 'f', 'garbage'), 1);
    assert.deepEqual(await redis.command('EVAL', "return {1, 'two', {3}, false}", 0), [1, 'two', [3], null]);
    assert.deepEqual(await redis.command('CONFIG', 'GET', 'save'), ['save', '']);
    assert.deepEqual(await redis.command('CONFIG', 'GET', 'appendonly'), ['appendonly', 'no']);
    assert.deepEqual(await redis.command('CONFIG', 'GET', 'bind'), ['bind', '127.0.0.1']);
    const info = await redis.command('INFO', 'server');
    assert.match(String(info), /redis_version:7\./);
    assert.match(String(await redis.command('INFO', 'commandstats')), /cmdstat_hset:calls=1,/);
    await assert.rejects(redis.command('INCR', 'h'), (error: unknown) => error instanceof RedisReplyError && /^WRONGTYPE/.test(error.message));
  });

  test('pause() leaves commands unanswered (connections still accepted); resume() answers again', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    redis.pause();
    assert.equal(redis.paused, true);
    // kill() returns once the signal is sent; the kernel stops the process a moment later.
    assert.equal(await waitFor('the Redis stopped', async () => (processState(redis.pid) === 'T' ? 'T' : undefined)), 'T');
    await assert.rejects(redis.commandWithin(SILENCE_MS, 'PING'), RedisTimeoutError);
    redis.resume();
    assert.equal(redis.paused, false);
    assert.equal(await redis.command('PING'), 'PONG');
  });

  test('stop() ends a paused server, and is idempotent', async () => {
    const redis = await startRedis();
    const { pid } = redis;
    redis.pause();
    await redis.stop();
    assert.equal(processState(pid), undefined);
    await redis.stop();
    assert.match(redis.logs(), /Redis is now ready to exit|Received SIGTERM/);
  });

  test('a test process ended by SIGTERM while its Redis is paused takes that Redis with it', async (t) => {
    const script = `import { startRedis } from ${JSON.stringify(new URL('./redis.ts', import.meta.url).href)};
      const redis = await startRedis();
      redis.pause();
      console.log(redis.pid);
      setInterval(() => {}, 1_000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
    t.after(() => child.kill('SIGTERM')); // on a failure before the test's own: its handler still ends that Redis
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    const pid = await waitFor('the paused Redis pid', async () => (/^\d+\n/.test(out) ? Number(out) : undefined));
    assert.equal(await waitFor('the Redis stopped', async () => (processState(pid) === 'T' ? 'T' : undefined)), 'T');
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM'); // the signal still ends the process as it would have
    // Gone, or a zombie whose reaper has not come by: either way no longer stopped.
    await waitFor('the Redis to die', async () => (['Z', undefined].includes(processState(pid)) ? true : undefined));
  });

  test('kill() then restart() gives an empty server on the same port, scripts flushed', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const { port, pid } = redis;
    await redis.command('SET', 'k', 'v');
    const sha = await redis.command('SCRIPT', 'LOAD', 'return 1');
    redis.pause();
    await redis.kill();
    assert.equal(processState(pid), undefined);
    await assert.rejects(redis.command('PING'), /ECONNREFUSED/);
    await redis.restart();
    assert.equal(redis.port, port);
    assert.notEqual(redis.pid, pid);
    assert.equal(await redis.command('DBSIZE'), 0);
    await assert.rejects(redis.command('EVALSHA', String(sha), 0), /NOSCRIPT/);
    // The first run's log is kept: a failure message shows both.
    assert.equal(redis.logs().match(/Ready to accept connections/g)?.length, 2);
  });

  test('a password goes into the URL, URL-encoded, and node-redis connects with it', async (t) => {
    const password = 's3cr:t@/x';
    const redis = await startRedis({ password });
    t.after(() => redis.stop());
    assert.equal(redis.url, `redis://:${encodeURIComponent(password)}@127.0.0.1:${redis.port}`);
    await assert.rejects(redisCommand(redis.port, ['GET', 'k']), /NOAUTH/);
    assert.equal(await redis.command('PING'), 'PONG');
    assert.equal(await withClient(redis.url, (client) => client.ping()), 'PONG');
  });

  test('an ACL user goes into the URL as user:password, and node-redis connects as that user', async (t) => {
    const redis = await startRedis({ username: 'conductor', password: 'p@ss' });
    t.after(() => redis.stop());
    assert.equal(redis.url, `redis://conductor:p%40ss@127.0.0.1:${redis.port}`);
    assert.equal(await redis.command('ACL', 'WHOAMI'), 'conductor');
    assert.equal(await withClient(redis.url, (client) => client.sendCommand(['ACL', 'WHOAMI'])), 'conductor');
  });
});

/** A Redis behind a proxy, and a connection through it that has had its first reply; all stopped after the test. */
async function proxiedRedis(t: TestContext): Promise<{ redis: RedisServer; proxy: TcpProxy; conn: RespConnection }> {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startTcpProxy(redis.port);
  t.after(() => proxy.stop());
  const conn = await RespConnection.open(proxy.port);
  t.after(() => conn.close());
  conn.send('PING');
  assert.equal(await conn.reply(5_000), 'PONG');
  return { redis, proxy, conn };
}

describe('TCP proxy helper', { timeout: 60_000 }, () => {
  test('passes bytes both ways, on new and kept connections', async (t) => {
    const { redis, proxy, conn } = await proxiedRedis(t);
    assert.equal(await redisCommand(proxy.port, ['SET', 'k', 'through']), 'OK');
    assert.equal(await redis.command('GET', 'k'), 'through');
    const big = 'x'.repeat(1 << 20); // larger than a socket buffer: forwarded in many chunks
    conn.send('SET', 'big', big);
    assert.equal(await conn.reply(10_000), 'OK');
    conn.send('GET', 'big');
    assert.equal(await conn.reply(10_000), big);
    assert.equal(proxy.connections(), 1);
  });

  test('a partition holds commands on open connections (nothing reaches Redis, the socket stays open); heal() resets them and new ones flow', async (t) => {
    const { redis, proxy, conn } = await proxiedRedis(t);

    proxy.partition();
    conn.send('INCR', 'held');
    assert.equal(await conn.reply(SILENCE_MS), 'silence');
    assert.equal(conn.closed, false);
    assert.equal(await redis.command('GET', 'held'), null);
    // A new connection is accepted (no refusal a client could act on) and goes nowhere.
    const accepted = proxy.accepted();
    await assert.rejects(redisCommand(proxy.port, ['PING'], { timeoutMs: SILENCE_MS }), RedisTimeoutError);
    assert.equal(proxy.accepted(), accepted + 1);

    proxy.heal();
    assert.equal(await conn.waitClosed(5_000), true);
    assert.equal(conn.errorCode, 'ECONNRESET');
    assert.equal(await redis.command('GET', 'held'), null);
    assert.equal(await redisCommand(proxy.port, ['PING']), 'PONG');
  });

  test('heal({ keepConnections: true }) delivers what was held, in order, and dials connections accepted meanwhile', async (t) => {
    const { redis, proxy, conn: early } = await proxiedRedis(t);

    proxy.partition();
    early.send('INCR', 'n');
    early.send('INCR', 'n');
    const late = await RespConnection.open(proxy.port);
    t.after(() => late.close());
    late.send('INCRBY', 'n', 10);
    assert.equal(await late.reply(SILENCE_MS), 'silence');
    assert.equal(await redis.command('GET', 'n'), null);

    proxy.heal({ keepConnections: true });
    // Each connection keeps its order; which of the two Redis reads first is not ours to say.
    const [first, second, third] = [await early.reply(5_000), await early.reply(5_000), await late.reply(5_000)];
    assert.ok(typeof first === 'number' && second === first + 1, `early: ${String(first)}, ${String(second)}`);
    assert.equal(third, first === 1 ? 12 : 10);
    assert.equal(await redis.command('GET', 'n'), '12');
    assert.equal(early.closed, false);
  });

  test('Redis closing a connection during a partition is not passed on until heal()', async (t) => {
    const { redis, proxy, conn } = await proxiedRedis(t);

    proxy.partition();
    assert.equal(await redis.command('CLIENT', 'KILL', 'TYPE', 'normal'), 1); // the proxied one: CLIENT KILL skips its caller
    assert.equal(await conn.waitClosed(SILENCE_MS), false);
    proxy.heal({ keepConnections: true });
    assert.equal(await conn.waitClosed(5_000), true);
    assert.equal(proxy.connections(), 0);
  });

  test('node-redis behind a partition learns of it only through its own socket timeout, and reconnects after heal()', async (t) => {
    const { proxy } = await proxiedRedis(t);
    // node-redis 6.3's commandOptions.timeout stops counting once a command is
    // written, so only the socket's inactivity timeout bounds a black hole.
    const client = createClient({ url: `redis://127.0.0.1:${proxy.port}`, disableOfflineQueue: true, socket: { socketTimeout: SILENCE_MS, reconnectStrategy: () => 100 } });
    const errors: unknown[] = [];
    client.on('error', (error: unknown) => errors.push(error));
    await client.connect();
    t.after(() => client.destroy());
    assert.equal(await client.ping(), 'PONG');
    proxy.partition();
    await assert.rejects(client.ping(), /Socket timeout/);
    proxy.heal();
    await waitFor('a PONG after the heal', async () => ((await client.ping()) === 'PONG' ? true : undefined));
    assert.ok(errors.some((error) => /Socket timeout/.test(String(error))), errors.map(String).join('; '));
  });

  test('a dead target closes the client connection; stop() closes everything', async (t) => {
    const { redis, proxy, conn } = await proxiedRedis(t);
    await redis.kill();
    assert.equal(await conn.waitClosed(5_000), true);
    await assert.rejects(redisCommand(proxy.port, ['PING']), /closed before the reply/);
    const open = await RespConnection.open(proxy.port);
    t.after(() => open.close());
    proxy.partition();
    await proxy.stop();
    assert.equal(await open.waitClosed(5_000), true);
    await assert.rejects(RespConnection.open(proxy.port), /ECONNREFUSED/);
    await proxy.stop();
  });
});

describe('platform server helper', { timeout: 60_000 }, () => {
  test('counts requests per platform with their arrival times, and resets', async (t) => {
    const server = await startPlatformServer({ platforms: 12 });
    t.after(() => server.stop());
    assert.equal(server.names.length, 12);
    assert.deepEqual([server.names[0], server.names[11]], ['p00', 'p11']);
    assert.deepEqual(server.targets()[3], { name: 'p03', type: 'http', url: `${server.origin}/p/p03` });
    const before = { at: performance.now(), wall: Date.now() };
    for (const name of ['p00', 'p00', 'p05']) {
      const res = await fetch(server.url(name));
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok');
    }
    const counts = server.counts();
    assert.equal(counts.size, 12);
    assert.equal(counts.get('p00'), 2);
    assert.equal(counts.get('p05'), 1);
    assert.equal(counts.get('p01'), 0);
    const [first, second] = server.requestsOf('p00');
    assert.ok(first && second);
    assert.ok(first.at >= before.at && second.at >= first.at);
    assert.ok(first.wallTime >= before.wall);
    assert.equal(first.outcome, 200);
    server.reset();
    assert.equal(server.requestsOf('p00').length, 0);
    assert.throws(() => server.requestsOf('nope'), /no platform "nope"/);
  });

  test('fails or hangs a platform on demand; unknown and malformed paths are 404 strays', async (t) => {
    const server = await startPlatformServer({ platforms: 3 });
    t.after(() => server.stop());
    server.setFailing('p1', true);
    assert.equal((await fetch(server.url('p1'))).status, 503);
    assert.equal((await fetch(server.url('p0'))).status, 200);
    server.setFailing('p1', false);
    assert.equal((await fetch(server.url('p1'))).status, 200);
    assert.deepEqual(server.requestsOf('p1').map((r) => r.outcome), [503, 200]);

    server.setHanging('p2', true);
    await assert.rejects(fetch(server.url('p2'), { signal: AbortSignal.timeout(SILENCE_MS) }), /TimeoutError|aborted/);
    assert.deepEqual(server.requestsOf('p2').map((r) => r.outcome), ['hang']);

    assert.equal((await fetch(`${server.origin}/p/unknown`)).status, 404);
    assert.equal((await fetch(`${server.origin}/p/%E0%A4%A`)).status, 404);
    assert.equal((await fetch(`${server.origin}/elsewhere`)).status, 404);
    assert.equal(server.strays(), 3);
  });

  test('stop() ends held requests, and requests after it are refused without crashing it', async () => {
    const server = await startPlatformServer({ platforms: 1 });
    server.setHanging('p0', true);
    const held = fetch(server.url('p0'));
    await waitFor('the held request', async () => (server.requestsOf('p0').length === 1 ? true : undefined));
    // A connection opened before stop() that sends its request after it.
    const raw = await new Promise<Socket>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(server.origin).port) }, () => resolve(socket));
    });
    raw.on('error', () => {});
    await server.stop();
    await assert.rejects(held);
    raw.write('GET /p/p0 HTTP/1.1\r\nhost: x\r\n\r\n');
    await assert.rejects(fetch(server.url('p0')), /fetch failed/);
    assert.equal(server.requestsOf('p0').length, 1);
    await server.stop();
  });

  test('300 platforms, each requested by three clients in a round, three rounds: every request counted', async (t) => {
    const server = await startPlatformServer({ platforms: 300 });
    t.after(() => server.stop());
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(
        [0, 1, 2].flatMap(() => server.names.map(async (name) => {
          const res = await fetch(server.url(name));
          await res.arrayBuffer();
          return res.status;
        })),
      );
      assert.ok(statuses.every((s) => s === 200));
    }
    const counts = [...server.counts().values()];
    assert.equal(counts.length, 300);
    assert.ok(counts.every((c) => c === 9), `counts: ${[...new Set(counts)].join(', ')}`);
    assert.equal(server.strays(), 0);
  });
});

const CLOCK_OFFSET = fileURLToPath(new URL('./clock-offset.ts', import.meta.url));
const CLOCK_PROBE = `
const t0 = performance.now();
setTimeout(() => console.log(JSON.stringify({
  now: Date.now(),
  date: new Date().getTime(),
  string: Date(),
  origin: performance.timeOrigin,
  perfAtStart: t0,
  timerElapsed: performance.now() - t0,
  epoch: new Date(0).getTime(),
  utc: Date.UTC(2026, 0, 1),
  isDate: new Date() instanceof Date && Object.getPrototypeOf(new Date()) === Date.prototype,
})), 100);
`;

interface ClockProbe {
  now: number;
  date: number;
  string: string;
  origin: number;
  perfAtStart: number;
  timerElapsed: number;
  epoch: number;
  utc: number;
  isDate: boolean;
}

describe('clock-offset preload', { timeout: 60_000 }, () => {
  for (const offset of [30_000, -30_000]) {
    test(`shifts the wall clock by ${offset} ms, not performance.now() or timers`, async () => {
      const wallBefore = Date.now();
      const perfBefore = performance.now();
      const run = await runNode('-e', { nodeArgs: ['--import', CLOCK_OFFSET], args: [CLOCK_PROBE], env: { CLOCK_OFFSET_MS: String(offset) } });
      const perfElapsed = performance.now() - perfBefore;
      const wallAfter = Date.now();
      assert.equal(run.code, 0, run.stderr);
      const probe = JSON.parse(run.stdout) as ClockProbe;
      for (const shifted of [probe.now, probe.date, probe.origin]) {
        assert.ok(shifted >= wallBefore + offset && shifted <= wallAfter + offset, `${shifted} not within [${wallBefore}, ${wallAfter}] + ${offset}`);
      }
      const fromString = Date.parse(probe.string); // whole seconds
      assert.ok(fromString >= wallBefore + offset - 1_000 && fromString <= wallAfter + offset, probe.string);
      // The child's monotonic clock starts at its own start, not 30 s away.
      assert.ok(probe.perfAtStart >= 0 && probe.perfAtStart + probe.timerElapsed <= perfElapsed, JSON.stringify(probe));
      assert.equal(probe.epoch, 0);
      assert.equal(probe.utc, 1767225600000);
      assert.equal(probe.isDate, true);
    });
  }

  test('clockOffsetEnv() loads it through NODE_OPTIONS, keeping what NODE_OPTIONS held', async (t) => {
    const inherited = process.env.NODE_OPTIONS;
    t.after(() => (inherited === undefined ? delete process.env.NODE_OPTIONS : (process.env.NODE_OPTIONS = inherited)));
    process.env.NODE_OPTIONS = '--title=clock-probe';
    const env = clockOffsetEnv(-30_000);
    assert.match(env.NODE_OPTIONS!, /^--title=clock-probe --import=file:\/\/\S+clock-offset\.ts$/);
    const wallBefore = Date.now();
    const run = await runNode('-e', { args: ['console.log(Date.now(), process.title)'], env });
    const wallAfter = Date.now();
    assert.equal(run.code, 0, run.stderr);
    const [now, title] = run.stdout.trim().split(' ');
    assert.equal(title, 'clock-probe');
    assert.ok(Number(now) >= wallBefore - 30_000 && Number(now) <= wallAfter - 30_000, `${now} not within [${wallBefore}, ${wallAfter}] - 30000`);
  });

  test('refuses a CLOCK_OFFSET_MS that is not a number', async () => {
    const run = await runNode('-e', { nodeArgs: ['--import', CLOCK_OFFSET], args: ['console.log("ran")'], env: { CLOCK_OFFSET_MS: '30s' } });
    assert.notEqual(run.code, 0);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /CLOCK_OFFSET_MS must be a number of milliseconds, got "30s"/);
  });
});

describe('metric readers', () => {
  const text = [
    '# TYPE health_check_total counter',
    'health_check_total{platform="a",status="success"} 3',
    'health_check_total{platform="b",status="success"} 4',
    'health_check_total{platform="b",status="failure"} 1',
    'circuit_breaker_state{platform="a"} 0',
    'le_bound{le="+Inf"} +Inf',
    '',
  ].join('\n');

  test('metricValue reads one sample, undefined when none, and refuses an ambiguous match', () => {
    assert.equal(metricValue(text, 'circuit_breaker_state', { platform: 'a' }), 0);
    assert.equal(metricValue(text, 'health_check_total', { platform: 'b', status: 'failure' }), 1);
    assert.equal(metricValue(text, 'circuit_breaker_state', { platform: 'z' }), undefined);
    assert.equal(metricValue(text, 'le_bound'), Infinity);
    assert.throws(() => metricValue(text, 'health_check_total', { platform: 'b' }), /2 samples match/);
  });

  test('metricSum adds every matching sample', () => {
    assert.equal(metricSum(text, 'health_check_total'), 8);
    assert.equal(metricSum(text, 'health_check_total', { status: 'success' }), 7);
    assert.equal(metricSum(text, 'nothing'), 0);
  });
});

describe('replicas helper', { timeout: 120_000 }, () => {
  test('runs replicas of the built command, each its own instance id, port and env; a clock offset reaches one; kill() ends one alone', async (t) => {
    const platforms = await startPlatformServer({ platforms: 3 });
    t.after(() => platforms.stop());
    const config = JSON.stringify({ monitor: { intervalMs: 1000, timeoutMs: 500 }, targets: platforms.targets() });
    const wallBefore = Date.now();
    const { replicas, stopAll } = await startReplicas(2, config, {
      env: { OTEL_SERVICE_NAME: 'replicas-harness' },
      perReplicaEnv: [undefined, clockOffsetEnv(30_000)],
    });
    t.after(() => stopAll());
    const wallAfter = Date.now();
    const [r0, r1] = replicas;
    assert.ok(r0 && r1);
    assert.deepEqual(replicas.map((r) => r.instanceId), ['replica-0', 'replica-1']);
    assert.notEqual(new URL(r0.metricsUrl).port, new URL(r1.metricsUrl).port);

    for (const replica of replicas) {
      const text = await replica.scrape();
      assert.equal(metricValue(text, 'target_info', { service_instance_id: replica.instanceId, service_name: 'replicas-harness' }), 1);
    }
    // Without a cluster each replica checks every platform itself.
    await waitFor('two requests per platform', async () => ([...platforms.counts().values()].every((c) => c >= 2) ? true : undefined));
    await r0.process.waitFor('a check of p0 counted', async () => ((await r0.metric('health_check_total', { platform: 'p0', status: 'success' })) ?? 0) >= 1 || undefined);
    const health = await r0.healthz();
    assert.equal(health.status, 200);
    assert.equal(health.body.running, true);
    assert.deepEqual((health.body.platforms as Array<{ platform: string }>).map((p) => p.platform).sort(), ['p0', 'p1', 'p2']);

    const started = (replica: typeof r0): number => Number(replica.logLines().find((l) => l.msg === 'conductor-health running')?.time);
    assert.ok(started(r0) >= wallBefore && started(r0) <= wallAfter, `replica-0 logged its start at ${started(r0)}`);
    assert.ok(started(r1) >= wallBefore + 30_000 && started(r1) <= wallAfter + 30_000, `replica-1 logged its start at ${started(r1)}`);

    await r1.kill('SIGKILL');
    assert.equal(r1.process.exited(), true);
    assert.equal(processState(r1.process.pid), undefined);
    assert.equal(r0.process.exited(), false);
    assert.match(await r0.scrape(), /health_check_total/);
    await stopAll();
    assert.equal(r0.process.exited(), true);
    assert.ok(r0.logLines().some((l) => l.msg === 'stopped'));
    await stopAll();
  });
});
