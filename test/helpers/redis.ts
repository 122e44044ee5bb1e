// A real redis-server per suite, and the faults the replicas must survive:
// a pause (SIGSTOP: connections open, no answers), a kill, an empty restart.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
import { spawnServer, type ServerProcess } from './server-process.ts';

/** A RESP2 reply: simple and bulk strings, integers, nil, arrays of these. */
export type RespValue = string | number | null | RespValue[];

/** An error reply (`-ERR …`, `-NOSCRIPT …`), as a rejection of {@link redisCommand}. */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

/** No complete reply within the bound: the server is paused, partitioned or gone quiet. */
export class RedisTimeoutError extends Error {
  override name = 'RedisTimeoutError';
}

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** `--requirepass` (or the password of `username`): clients must AUTH, and `url` carries it. */
  password?: string;
  /** An ACL user (all keys, channels and commands) with `password`; the default user stays passwordless unless `password` alone is given. */
  username?: string;
}

/** A running redis-server; see {@link startRedis}. */
export interface RedisServer {
  /** `redis://127.0.0.1:P`, or `redis://user:pass@127.0.0.1:P` with credentials (URL-encoded). */
  readonly url: string;
  readonly port: number;
  /** The current process's id (a restart changes it). */
  readonly pid: number;
  /** True between pause() and resume(). */
  readonly paused: boolean;
  /** One command on a short-lived connection (AUTH first when needed); rejects after 5 s without a reply. */
  command(...args: Array<string | number>): Promise<RespValue>;
  /** The same with its own bound, e.g. to show a paused server does not answer. */
  commandWithin(timeoutMs: number, ...args: Array<string | number>): Promise<RespValue>;
  /** SIGSTOP: the kernel still accepts connections and buffers commands, nothing answers. */
  pause(): void;
  /** SIGCONT: it answers what was buffered and what comes next. */
  resume(): void;
  /** SIGKILL (resuming it is not needed: the kernel kills a stopped process) and waits for the exit. */
  kill(): Promise<void>;
  /** A fresh, empty server on the same port (after kill(); kills the running one first if not). */
  restart(): Promise<void>;
  /** Every incarnation's stdout and stderr, oldest first. */
  logs(): string;
  /** Resumes a paused server so SIGTERM can end it, waits for the exit, removes its dir. Idempotent. */
  stop(): Promise<void>;
}

const NOT_FOUND = 'redis-server not found: install the Debian package `redis-server` (.ci/run does)';
const COMMAND_TIMEOUT_MS = 5_000;

/**
 * Starts `redis-server` on a free loopback port with persistence off, in a
 * temp dir of its own, and resolves once it answers PING. Retries on another
 * port when the one found free was taken meanwhile. Until stop(), the server
 * (paused or not) is killed when the test process exits or is ended by
 * SIGINT, SIGTERM or SIGHUP.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'conductor-health-redis-'));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        return await handle(dir, port, options, await launch(dir, port, options));
      } catch (error) {
        if (attempt < 5 && error instanceof PortInUseError) continue;
        throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

class PortInUseError extends Error {}

function serverArgs(dir: string, port: number, { password, username }: StartRedisOptions): string[] {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'notice'];
  if (username !== undefined) {
    if (password === undefined) throw new Error('startRedis: a username needs a password');
    // Redis reads each `--name value…` pair as a config line; `user` is ACL SETUSER's syntax.
    args.push('--user', username, 'on', `>${password}`, '~*', '&*', '+@all');
  } else if (password !== undefined) {
    args.push('--requirepass', password);
  }
  return args;
}

async function launch(dir: string, port: number, options: StartRedisOptions): Promise<ServerProcess> {
  const server = await spawnServer('redis-server', 'redis-server', serverArgs(dir, port, options), {}, { cwd: dir, notFound: NOT_FOUND });
  try {
    await server.waitFor('PING answered', async () => ((await redisCommand(port, ['PING'], { ...options, timeoutMs: 1_000 })) === 'PONG' ? true : undefined), 15_000);
    return server;
  } catch (error) {
    await server.stop();
    if (/address already in use/i.test(server.logs())) throw new PortInUseError(`port ${port} in use`);
    throw error;
  }
}

function redisUrl(port: number, { username, password }: StartRedisOptions): string {
  if (password === undefined) return `redis://127.0.0.1:${port}`;
  return `redis://${encodeURIComponent(username ?? '')}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
}

async function handle(dir: string, port: number, options: StartRedisOptions, first: ServerProcess): Promise<RedisServer> {
  let server = first;
  let paused = false;
  let pastLogs = '';
  let stopping: Promise<void> | undefined;
  const signal = (name: NodeJS.Signals): void => {
    if (!server.exited()) process.kill(server.pid, name);
  };
  // A test process ended by a signal must not leave its Redis behind, least
  // of all a paused one: a stopped process only holds the Ctrl-C that reaches
  // its group pending, frozen for ever. (On a normal exit spawnServer's SIGKILL
  // ends it; the kernel kills a stopped process too.) So end the server, then
  // let the signal do what it would have done had nobody listened.
  const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (name: NodeJS.Signals): void => {
    try {
      signal('SIGKILL');
    } catch {
      /* already gone */
    }
    unwatchSignals();
    if (process.listenerCount(name) === 0) process.kill(process.pid, name);
  };
  const unwatchSignals = (): void => {
    for (const name of STOP_SIGNALS) process.removeListener(name, onSignal);
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  const resume = (): void => {
    signal('SIGCONT');
    paused = false;
  };
  const kill = async (): Promise<void> => {
    signal('SIGKILL');
    paused = false;
    // After SIGKILL, stop() only waits for the exit event (its SIGTERM reaches a dying process).
    await server.stop();
  };
  return {
    url: redisUrl(port, options),
    port,
    get pid() {
      return server.pid;
    },
    get paused() {
      return paused;
    },
    command: (...args) => redisCommand(port, args, { ...options, timeoutMs: COMMAND_TIMEOUT_MS }),
    commandWithin: (timeoutMs, ...args) => redisCommand(port, args, { ...options, timeoutMs }),
    pause() {
      signal('SIGSTOP');
      paused = true;
    },
    resume,
    kill,
    async restart() {
      if (stopping) throw new Error('redis: restart() after stop()');
      if (!server.exited()) await kill();
      pastLogs += server.logs();
      // The old process's sockets are gone with it (Redis binds with SO_REUSEADDR,
      // so TIME_WAIT does not block the port); only another test taking the port
      // in between can, and then it usually frees it again soon.
      for (let attempt = 1; ; attempt++) {
        try {
          server = await launch(dir, port, options);
          return;
        } catch (error) {
          if (attempt < 10 && error instanceof PortInUseError) {
            await sleep(200);
            continue;
          }
          throw error;
        }
      }
    },
    logs: () => pastLogs + server.logs(),
    stop() {
      stopping ??= (async () => {
        if (paused) resume();
        await server.stop();
        unwatchSignals();
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** Encodes a command as a RESP array of bulk strings, the form every Redis accepts. */
export function encodeCommand(args: ReadonlyArray<string | number>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(String(arg));
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Parses one RESP2 reply at `offset`: the value and the offset after it, or
 * undefined when the buffer does not hold all of it yet. An error reply is
 * returned as a RedisReplyError value, so the caller decides when to throw.
 */
export function parseReply(buffer: Buffer, offset = 0): { value: RespValue | RedisReplyError; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buffer[offset]!)) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new RedisReplyError(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at);
        if (!item) return undefined;
        // An error inside an array (EXEC's) stays a value: its message as a string.
        items.push(item.value instanceof RedisReplyError ? `-${item.value.message}` : item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buffer.toString('utf8', offset, Math.min(buffer.length, offset + 40)))}`);
  }
}

/**
 * Sends one command to 127.0.0.1:`port` on a connection of its own (AUTH
 * first when `password` is given) and resolves with its reply; an error reply
 * rejects with RedisReplyError, no reply within `timeoutMs` with
 * RedisTimeoutError. The connection is closed either way. Also a raw client
 * for a port that only forwards to Redis (a proxy).
 */
export function redisCommand(
  port: number,
  args: ReadonlyArray<string | number>,
  { password, username, timeoutMs = COMMAND_TIMEOUT_MS }: StartRedisOptions & { timeoutMs?: number } = {},
): Promise<RespValue> {
  const auth = password === undefined ? [] : [username === undefined ? ['AUTH', password] : ['AUTH', username, password]];
  const commands = [...auth, args];
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, value?: RespValue): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    const what = args.map(String).join(' ').slice(0, 80);
    const timer = setTimeout(() => finish(new RedisTimeoutError(`redis :${port}: no reply to ${what} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(Buffer.concat(commands.map(encodeCommand))));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const replies: Array<RespValue | RedisReplyError> = [];
        for (let at = 0; replies.length < commands.length; ) {
          const reply = parseReply(received, at);
          if (!reply) return;
          replies.push(reply.value);
          at = reply.next;
        }
        const failed = replies.find((r) => r instanceof RedisReplyError);
        if (failed) finish(failed);
        else finish(undefined, replies.at(-1) as RespValue);
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.on('error', (error) => finish(new Error(`redis :${port}: ${what}: ${error.message}`, { cause: error })));
    socket.on('close', () => finish(new Error(`redis :${port}: connection closed before the reply to ${what}`)));
  });
}
