/**
 * The shared store: the Redis the replicas share, through node-redis
 * (`@redis/client`, Redis's own client). Two connections: one for commands,
 * pipelined by the client when issued in one tick, and one subscribed to the
 * cluster's channel. No offline queue and a short command timeout, so an
 * outage is seen at once rather than queued: every command either answers
 * within `commandTimeoutMs` or fails, and a failure is the caller's to
 * absorb. The client reconnects by itself.
 */
import { createClient } from '@redis/client';
import { LogLimiter } from '../common/log-limiter.ts';
import type { Logger } from '../common/logger.ts';
import { shortMessage } from '../core/failure.ts';
import { maskRedisUrl, type ClusterSettings } from './options.ts';
import { BREAKER, CHECKS, HEARTBEAT, LEAVE, READ_BREAKERS, type Script } from './scripts.ts';

type Client = ReturnType<typeof createClient>;

/**
 * The keys of one cluster, all under its prefix: no key of another prefix is
 * ever touched. Keys live in the URL's database; the channel names it too,
 * because pub/sub ignores databases: two clusters of one prefix in two
 * databases would hear each other.
 */
export function clusterKeys(prefix: string, database = 0) {
  return {
    token: (id: string) => `${prefix}:token:${id}`,
    members: `${prefix}:members`,
    epoch: `${prefix}:epoch`,
    breakers: `${prefix}:breakers`,
    version: `${prefix}:breakers:version`,
    checks: `${prefix}:checks`,
    channel: database === 0 ? `${prefix}:changes` : `${prefix}:changes:db${database}`,
  };
}

/** A Redis command that got no answer within the command timeout. */
export class RedisTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms (cluster.commandTimeoutMs)`);
    this.name = 'RedisTimeoutError';
  }
}

/** The answer of a breaker script: Redis's time (ms), the record as stored (JSON) and the version it is at. */
export interface BreakerReply {
  readonly now: number;
  readonly record: string;
  readonly version: number;
}

/** The whole shared breaker state at one instant. */
export interface BreakersSnapshot {
  readonly version: number;
  /** The epoch token ('' for none): another than the membership's means Redis lost its data. */
  readonly epoch: string;
  readonly records: Map<string, string>;
}

/** After a reconnection, how long the client is given to renew the subscription before the resync that covers the gap. */
const RESUBSCRIBED_MS = 100;

/** What a heartbeat answers (see {@link SharedStore.heartbeat}). */
export interface HeartbeatReply {
  readonly now: number;
  readonly epoch: string;
  readonly members: Map<string, number>;
  readonly strangers: readonly string[];
  readonly priorToken: string;
}

/** A member id as replicas write it (see the options' NAME); anything else in the members is not one of ours. */
const MEMBER_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The database a Redis URL selects (its path, `/2`), 0 by default. */
export function databaseOf(url: string): number {
  try {
    const n = Number(new URL(url).pathname.slice(1) || '0');
    return Number.isInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

export class SharedStore {
  /** The URL with its user and password masked, for every message that names it. */
  readonly where: string;
  readonly keys: ReturnType<typeof clusterKeys>;
  readonly #settings: ClusterSettings;
  readonly #onMessage: (message: string) => void;
  readonly #onSubscribed: () => void;
  readonly #logger: Logger;
  readonly #limiter = new LogLimiter();
  #commands!: Client;
  #subscriber!: Client;
  #closed = false;
  #stopping = false;
  /** The bounds of the commands in flight: a stop refs them (see {@link stopping}). */
  readonly #pending = new Set<NodeJS.Timeout>();

  /**
   * Opens both connections in the background (until they are up, every
   * command fails at once). `onMessage` gets each message on the cluster's channel; `onSubscribed` is told each time the subscription is made, or made again. */
  constructor(settings: ClusterSettings, logger: Logger, onMessage: (message: string) => void, onSubscribed: () => void) {
    this.where = maskRedisUrl(settings.redisUrl);
    this.keys = clusterKeys(settings.keyPrefix, databaseOf(settings.redisUrl));
    this.#settings = settings;
    this.#onMessage = onMessage;
    this.#onSubscribed = onSubscribed;
    this.#logger = logger;
    this.#open();
  }

  /**
   * Drops both connections and opens new ones: a replica gone to local mode
   * does this, because a connection into a network black hole may stay open
   * for many minutes with its commands unanswered, while a new one either
   * connects or fails within the connect timeout.
   */
  reconnect(): void {
    if (this.#closed) return;
    this.#destroy();
    this.#open();
  }

  #open(): void {
    const timeout = this.#settings.commandTimeoutMs;
    this.#commands = createClient({
      url: this.#settings.redisUrl,
      disableOfflineQueue: true,
      socket: { connectTimeout: Math.max(timeout, 1_000), reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2_000) },
    });
    const subscriber = (this.#subscriber = this.#commands.duplicate());
    for (const [client, role] of [[this.#commands, 'commands'], [subscriber, 'subscriber']] as const) {
      // An error event with no listener would crash the process; the client reconnects by itself.
      client.on('error', (error: unknown) => this.#warn(`redis-${role}`, error));
      // Never what keeps the process alive: a connection still being made when stop() destroys it would.
      client.unref();
    }
    // Subscribed once connected; the client renews the subscription after each reconnection.
    // Messages sent while not subscribed are lost: the owner resyncs on each (re)subscription.
    let subscribed = false;
    subscriber.on('ready', () => {
      if (subscribed) {
        setTimeout(() => this.#onSubscribed(), RESUBSCRIBED_MS).unref();
        return;
      }
      subscribed = true;
      subscriber.subscribe(this.keys.channel, this.#onMessage).then(
        () => this.#onSubscribed(),
        (error: unknown) => this.#warn('redis-subscribe', error),
      );
    });
    for (const client of [this.#commands, subscriber]) client.connect().catch((error: unknown) => this.#warn('redis-connect', error));
  }

  #destroy(): void {
    for (const client of [this.#commands, this.#subscriber]) {
      try {
        client.destroy();
      } catch {
        // Not open yet: nothing to close.
      }
    }
  }

  /**
   * A heartbeat: Redis's time, its epoch, the live members with their
   * expiries (Redis ms; a member whose name is no replica id is left out and
   * counted in `strangers`), and the token the last heartbeat under this id
   * left ('' for none).
   */
  async heartbeat(id: string, ttlMs: number, epochToken: string, processToken: string): Promise<HeartbeatReply> {
    const reply = await this.#run(HEARTBEAT, [this.keys.members, this.keys.epoch, this.keys.token(id)], [id, String(ttlMs), epochToken, this.keys.channel, processToken]);
    const [now, epoch, members, prior] = reply as [number, string, unknown, string];
    const expiries = new Map<string, number>();
    const strangers: string[] = [];
    for (const [member, expiry] of pairs(members)) {
      if (MEMBER_ID.test(member)) expiries.set(member, Number(expiry));
      else strangers.push(member);
    }
    return { now: Number(now), epoch: String(epoch), members: expiries, strangers, priorToken: String(prior ?? '') };
  }

  /** Leaves the members at once (a stop), rather than after the expiry. */
  async leave(id: string, processToken: string): Promise<void> {
    await this.#run(LEAVE, [this.keys.members, this.keys.token(id)], [id, this.keys.channel, processToken]);
  }

  /** One shared-breaker step (see scripts.ts for the arguments). */
  async breaker(args: readonly string[]): Promise<BreakerReply> {
    const reply = (await this.#run(BREAKER, [this.keys.breakers, this.keys.version], [...args.slice(0, 10), this.keys.channel, ...args.slice(10)])) as [number, string, number];
    return { now: Number(reply[0]), record: String(reply[1]), version: Number(reply[2]) };
  }

  /** Every shared breaker record, with the version and epoch they are at, in one step. */
  async readBreakers(): Promise<BreakersSnapshot> {
    const [version, epoch, records] = (await this.#run(READ_BREAKERS, [this.keys.breakers, this.keys.version, this.keys.epoch], [])) as [number, string, unknown];
    return { version: Number(version), epoch: String(epoch), records: pairs(records) };
  }

  /** Records checks: platform, age in ms, status, interval and covering (1 or 0), five fields each; answers Redis's time. */
  async recordChecks(replica: string, fields: readonly string[]): Promise<number> {
    return Number(await this.#run(CHECKS, [this.keys.checks], [replica, ...fields]));
  }

  /** The version every breaker write increments (0 when none was written). */
  async version(): Promise<number> {
    return Number((await this.#send(['GET', this.keys.version])) ?? 0);
  }

  /** Every platform's last check, as recorded ("time|replica|status|interval"). */
  async checks(): Promise<Map<string, string>> {
    return pairs(await this.#send(['HGETALL', this.keys.checks]));
  }

  /** Deletes the last checks of `platforms` (nobody has checked them for long). */
  async forgetChecks(platforms: readonly string[]): Promise<void> {
    await this.#send(['HDEL', this.keys.checks, ...platforms]);
  }

  /**
   * A stop began: its commands (the trials handed on, the last checks, the
   * leave) keep the process alive until answered or timed out, so a command
   * that awaits stop() before it exits is not cut short with nothing left to
   * keep the event loop going.
   */
  stopping(): void {
    this.#stopping = true;
    // A command sent before (a heartbeat in flight) is awaited by the stop too.
    for (const timer of this.#pending) timer.ref();
  }

  /** Closes both connections; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#destroy();
  }

  /** EVALSHA, or EVAL when Redis no longer knows the script (it restarted, or was flushed). */
  async #run(script: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await this.#send(['EVALSHA', script.sha, String(keys.length), ...keys, ...args]);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return this.#send(['EVAL', script.source, String(keys.length), ...keys, ...args]);
    }
  }

  /**
   * One command, answered or failed within `commandTimeoutMs`. The client's
   * own timeout is not used: it stops once a command is written, so a Redis
   * that is paused, or behind a partition, would hold a written command for
   * ever, and it costs an AbortSignal per command. This bound holds whatever
   * the client does.
   */
  #send(args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(timer);
        reject(new RedisTimeoutError(this.#settings.commandTimeoutMs));
      }, this.#settings.commandTimeoutMs);
      // The connections never hold the process (see #open); a stop's commands do, each for at most the bound.
      if (!this.#stopping) timer.unref();
      this.#pending.add(timer);
      const settle = () => {
        clearTimeout(timer);
        this.#pending.delete(timer);
      };
      this.#commands.sendCommand(args).then(
        (reply: unknown) => {
          settle();
          resolve(reply);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  #warn(key: string, error: unknown): void {
    if (this.#closed) return;
    this.#limiter.take(key, (suppressed) => this.#logger.warn({ redis: this.where, error: shortMessage(error), suppressed }, 'conductor-health cluster: Redis error'));
  }
}

/** A hash reply as a Map, whether the client answered a flat array or an object. */
function pairs(reply: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
  } else if (reply !== null && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) map.set(k, String(v));
  }
  return map;
}
