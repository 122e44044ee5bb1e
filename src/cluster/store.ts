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
import { BREAKER, CHECKS, HEARTBEAT, LEAVE, type Script } from './scripts.ts';

type Client = ReturnType<typeof createClient>;

/** The keys of one cluster, all under its prefix: no key of another prefix is ever touched. */
export function clusterKeys(prefix: string) {
  return {
    members: `${prefix}:members`,
    epoch: `${prefix}:epoch`,
    breakers: `${prefix}:breakers`,
    version: `${prefix}:breakers:version`,
    checks: `${prefix}:checks`,
    channel: `${prefix}:changes`,
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

/** The answer of a breaker script: Redis's time (ms) and the record, as stored (JSON). */
export interface BreakerReply {
  readonly now: number;
  readonly record: string;
}

export class SharedStore {
  /** The URL with its user and password masked, for every message that names it. */
  readonly where: string;
  readonly keys: ReturnType<typeof clusterKeys>;
  readonly #settings: ClusterSettings;
  readonly #onMessage: (message: string) => void;
  readonly #logger: Logger;
  readonly #limiter = new LogLimiter();
  #commands!: Client;
  #subscriber!: Client;
  #closed = false;

  /** Opens both connections in the background: until they are up, every command fails at once. */
  constructor(settings: ClusterSettings, logger: Logger, onMessage: (message: string) => void) {
    this.where = maskRedisUrl(settings.redisUrl);
    this.keys = clusterKeys(settings.keyPrefix);
    this.#settings = settings;
    this.#onMessage = onMessage;
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
      commandOptions: { timeout },
      socket: { connectTimeout: Math.max(timeout, 1_000), reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2_000) },
    });
    const subscriber = (this.#subscriber = this.#commands.duplicate());
    for (const [client, role] of [[this.#commands, 'commands'], [subscriber, 'subscriber']] as const) {
      // An error event with no listener would crash the process; the client reconnects by itself.
      client.on('error', (error: unknown) => this.#warn(`redis-${role}`, error));
    }
    // Subscribed once connected; the client renews the subscription after each reconnection.
    subscriber.once('ready', () => {
      subscriber.subscribe(this.keys.channel, this.#onMessage).catch((error: unknown) => this.#warn('redis-subscribe', error));
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

  /** A heartbeat: Redis's time, its epoch and the live members with their expiries (Redis ms). */
  async heartbeat(id: string, ttlMs: number, epochToken: string): Promise<{ now: number; epoch: string; members: Map<string, number> }> {
    const reply = await this.#run(HEARTBEAT, [this.keys.members, this.keys.epoch], [id, String(ttlMs), epochToken, this.keys.channel]);
    const [now, epoch, members] = reply as [number, string, unknown];
    const expiries = new Map<string, number>();
    for (const [member, expiry] of pairs(members)) expiries.set(member, Number(expiry));
    return { now: Number(now), epoch: String(epoch), members: expiries };
  }

  /** Leaves the members at once (a stop), rather than after the expiry. */
  async leave(id: string): Promise<void> {
    await this.#run(LEAVE, [this.keys.members], [id, this.keys.channel]);
  }

  /** One shared-breaker step (see scripts.ts for the arguments). */
  async breaker(args: readonly string[]): Promise<BreakerReply> {
    const reply = (await this.#run(BREAKER, [this.keys.breakers, this.keys.version], [...args.slice(0, 10), this.keys.channel, ...args.slice(10)])) as [number, string];
    return { now: Number(reply[0]), record: String(reply[1]) };
  }

  /** Records checks: platform, age in ms, status and interval quads; answers Redis's time. */
  async recordChecks(replica: string, quads: readonly string[]): Promise<number> {
    return Number(await this.#run(CHECKS, [this.keys.checks], [replica, ...quads]));
  }

  /** The version every breaker write increments (0 when none was written). */
  async version(): Promise<number> {
    return Number((await this.#send(['GET', this.keys.version])) ?? 0);
  }

  /** Every shared breaker record, by platform. */
  async breakers(): Promise<Map<string, string>> {
    return pairs(await this.#send(['HGETALL', this.keys.breakers]));
  }

  /** Every platform's last check, as recorded ("time|replica|status|interval"). */
  async checks(): Promise<Map<string, string>> {
    return pairs(await this.#send(['HGETALL', this.keys.checks]));
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
   * own timeout stops once a command is written, so a Redis that is paused,
   * or behind a partition, would hold a written command for ever: this bound
   * holds whatever the client does.
   */
  #send(args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new RedisTimeoutError(this.#settings.commandTimeoutMs)), this.#settings.commandTimeoutMs);
      timer.unref();
      this.#commands.sendCommand(args).then(
        (reply: unknown) => {
          clearTimeout(timer);
          resolve(reply);
        },
        (error: unknown) => {
          clearTimeout(timer);
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
