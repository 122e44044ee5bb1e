/**
 * Who is in the cluster: each replica heartbeats with an expiry, and every
 * heartbeat answers the live members, Redis's time and its epoch. After two
 * failed heartbeats in a row a replica runs in local mode (it decides alone);
 * it rejoins after two good ones in a row, so a flapping link does not flap
 * the mode. Joins and leaves are logged once each.
 */
import { randomUUID } from 'node:crypto';
import { Emitter } from '../common/emitter.ts';
import { LogLimiter } from '../common/log-limiter.ts';
import type { Logger } from '../common/logger.ts';
import { printable } from '../common/text.ts';
import { shortMessage } from '../core/failure.ts';
import type { HealthMetrics } from '../core/metrics.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';
import type { SharedStore } from './store.ts';

/** Heartbeats in a row that change the mode: failed ones to go local, good ones to rejoin. */
const HYSTERESIS = 2;

/** Heartbeats in a row that found another process's token under this id before it is called a shared id (one is a restart within the expiry). */
const SHARED_ID_BEATS = 2;

/** What a membership announces. */
export interface MembershipEvents {
  [event: string]: unknown[];
  /** The members, or the mode, changed. */
  change: [];
  /** Redis lost its data (restarted empty, or flushed): the shared state must be rebuilt. */
  wiped: [];
}

export class Membership {
  /** The live members, sorted, this replica included; just this replica in local mode. */
  members: readonly string[];
  /** True until the first good heartbeat, and after two failed ones in a row. */
  localMode = true;
  readonly events: Emitter<MembershipEvents>;
  readonly #store: SharedStore;
  readonly #self: string;
  readonly #heartbeatMs: number;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  readonly #metrics: HealthMetrics;
  #epoch: string | undefined;
  /** Redis's time minus `performance.now()` at the last good heartbeat, half its round trip accounted for. */
  #offset: number | undefined;
  #failures = 0;
  #successes = 0;
  /** Joined once already: a later join is a rejoin, after two good heartbeats. */
  #joined = false;
  #timer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  /** This process's token: another under this replica's id, heartbeat after heartbeat, means two processes share the id. */
  readonly #token = randomUUID();
  #foreignTokens = 0;
  readonly #limiter = new LogLimiter();

  constructor(store: SharedStore, self: string, heartbeatMs: number, ttlMs: number, logger: Logger, metrics: HealthMetrics) {
    this.#store = store;
    this.#self = self;
    this.#heartbeatMs = heartbeatMs;
    this.#ttlMs = ttlMs;
    this.#logger = logger;
    this.#metrics = metrics;
    this.members = [self];
    this.events = new Emitter((error) => logger.error({ error: shortMessage(error) }, 'conductor-health cluster: a membership listener threw'));
  }

  /** Redis's time now, in ms, by this process's monotonic clock; undefined before the first good heartbeat. */
  redisNow(): number | undefined {
    return this.#offset === undefined ? undefined : performance.now() + this.#offset;
  }

  /** Heartbeats now and every `heartbeatMs`; the timer never keeps the process alive. */
  start(): void {
    this.#metrics.setCluster(this.members.length, this.localMode);
    void this.#beat();
    this.#timer = setInterval(() => void this.#beat(), this.#heartbeatMs);
    this.#timer.unref();
  }

  /** Stops heartbeating and leaves at once, within the command timeout; never rejects. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#expiryTimer);
    this.#timer = undefined;
    await this.#beating;
    await this.#store.leave(this.#self, this.#token).catch(() => {});
  }

  /** Heartbeats now, out of turn: another replica joined or left. */
  beatSoon(): void {
    if (this.#timer !== undefined) void this.#beat();
  }

  #beat(): Promise<void> {
    // One at a time: a heartbeat that hangs until its timeout must not pile up others behind it.
    this.#beating ??= this.#heartbeat().finally(() => (this.#beating = undefined));
    return this.#beating;
  }

  async #heartbeat(): Promise<void> {
    const sent = performance.now();
    let reply: Awaited<ReturnType<SharedStore['heartbeat']>>;
    try {
      // A new token each time: whoever finds the epoch gone sets one nobody has seen, so every replica notices the wipe.
      reply = await this.#store.heartbeat(this.#self, this.#ttlMs, randomUUID(), this.#token);
    } catch (error) {
      this.#failed(error);
      return;
    }
    const received = performance.now();
    this.#offset = reply.now - (sent + received) / 2;
    this.#failures = 0;
    this.#successes += 1;
    this.#watchStrangers(reply.strangers, reply.priorToken);
    const wiped = this.#epoch !== undefined && reply.epoch !== this.#epoch;
    this.#epoch = reply.epoch;
    // Told even before a rejoin: what this replica knew of the shared state is void.
    if (wiped) this.events.emit('wiped');
    const wasLocal = this.localMode;
    // The first join is at once; a rejoin waits for a second good heartbeat in a row.
    if (wasLocal) {
      if (this.#joined && this.#successes < HYSTERESIS) return;
      this.localMode = false;
      this.#logger.info({ redis: this.#store.where, members: reply.members.size }, this.#joined ? 'conductor-health cluster: Redis answers again; rejoined the cluster' : 'conductor-health cluster: joined');
      this.#joined = true;
    }
    this.#watchExpiries(reply.members, reply.now);
    const members = [...new Set([...reply.members.keys(), this.#self])].sort();
    const changed = wasLocal || members.join('\n') !== this.members.join('\n');
    if (!wasLocal) this.#logMembership(this.members, members);
    this.members = members;
    this.#metrics.setCluster(members.length, false);
    if (changed) this.events.emit('change');
  }

  /**
   * Heartbeats again when the next other member's expiry passes, unless a
   * heartbeat comes first: a replica that died leaves the members when its
   * expiry passes, not up to a heartbeat later, so its platforms move within
   * `memberTtlMs` of its last heartbeat. A live member renews before then,
   * and the next regular heartbeat sees it and plans again.
   */
  #watchExpiries(members: ReadonlyMap<string, number>, now: number): void {
    clearTimeout(this.#expiryTimer);
    if (this.#timer === undefined) return;
    let next = Infinity;
    for (const [id, expiry] of members) if (id !== this.#self && Number.isFinite(expiry)) next = Math.min(next, expiry);
    if (next === Infinity) return;
    this.#expiryTimer = setTimeout(() => void this.#beat(), Math.min(MAX_TIMER_MS, Math.max(0, next - now) + 10));
    this.#expiryTimer.unref();
  }

  #failed(error: unknown): void {
    this.#successes = 0;
    this.#failures += 1;
    if (this.localMode || this.#failures < HYSTERESIS) return;
    this.localMode = true;
    this.members = [this.#self];
    this.#metrics.setCluster(1, true);
    // A connection into a black hole can stay open for minutes: start afresh, so Redis's return is seen at once.
    this.#store.reconnect();
    this.#logger.warn(
      { redis: this.#store.where, error: shortMessage(error), failedHeartbeats: this.#failures },
      'conductor-health cluster: Redis does not answer; running in local mode (checking every platform, breakers from the last shared state)',
    );
    this.events.emit('change');
  }

  /** The epoch token this replica last saw (undefined before the first heartbeat). */
  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** Logs, once a minute at most, members that are no replica id, and another process heartbeating under this id. */
  #watchStrangers(strangers: readonly string[], priorToken: string): void {
    if (strangers.length > 0) {
      this.#limiter.take('stranger', (suppressed) =>
        this.#logger.warn({ member: printable(strangers[0]!).slice(0, 200), count: strangers.length, suppressed }, 'conductor-health cluster: a member name in Redis is not a replica id; ignored'),
      );
    }
    this.#foreignTokens = priorToken !== '' && priorToken !== this.#token ? this.#foreignTokens + 1 : 0;
    if (this.#foreignTokens >= SHARED_ID_BEATS) {
      this.#limiter.take('shared-id', (suppressed) =>
        this.#logger.error(
          { replica: printable(this.#self), suppressed },
          'conductor-health cluster: another process heartbeats with the same replica id; the two are counted as one and may both run a half-open trial: give each replica its own cluster.instanceId (or service.instance.id)',
        ),
      );
    }
  }

  #logMembership(before: readonly string[], after: readonly string[]): void {
    for (const id of after) if (!before.includes(id)) this.#logger.info({ replica: printable(id) }, 'conductor-health cluster: a replica joined');
    for (const id of before) if (!after.includes(id)) this.#logger.info({ replica: printable(id) }, 'conductor-health cluster: a replica left');
  }
}
