/**
 * One breaker per platform for the whole cluster. Each replica's breaker
 * answers its callers at once; what can change the shared state (a failure,
 * a success after failures, a trial's end, forceOpen/reset) goes to Redis as
 * one script call, and the answer, like every change another replica causes
 * (pub/sub, and a resync for messages lost on the way), is applied to the
 * local breaker. The platform's owner claims the one half-open trial when
 * the shared wait is over. In local mode the breakers decide alone; back in
 * the cluster, the newer evidence wins (see {@link reconcile}).
 */
import type { PlatformCircuitBreaker } from '../breaker/circuit-breaker.ts';
import type { BreakerCoordinator } from '../breaker/coordinator.ts';
import { LogLimiter } from '../common/log-limiter.ts';
import type { Logger } from '../common/logger.ts';
import { printable } from '../common/text.ts';
import { shortMessage } from '../core/failure.ts';
import type { Membership } from './membership.ts';
import { parseRecord, toShared, type SharedRecord } from './record.ts';
import type { SharedStore } from './store.ts';

/** The ops of the breaker script (scripts.ts). */
type Op = 'fail' | 'ok' | 'claim' | 'trial_ok' | 'trial_fail' | 'force_open' | 'reset' | 'read' | 'adopt';

/** The ops that report a transition this replica's breaker made. */
const TRANSITIONS: ReadonlySet<Op> = new Set(['trial_ok', 'trial_fail', 'force_open', 'reset']);

/** One platform's breaker, as this replica follows the shared one. */
class Follower implements BreakerCoordinator {
  readonly platform: string;
  readonly breaker: PlatformCircuitBreaker;
  /** The lease the owner claims a due trial for: long enough for its next scheduled check to carry the trial. */
  readonly claimLeaseMs: number;
  /** The shared record last applied; undefined before the first (and after Redis lost its data). */
  record: SharedRecord | undefined;
  /**
   * While a transition this breaker made here (a trial's end, forceOpen,
   * reset) is on its way to Redis, the period it ended: a message or a
   * resync of that period or older, sent before the transition, would
   * undo it here. The script's answer clears it.
   */
  #endedPeriod: number | undefined;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #shared: SharedBreakers;

  constructor(platform: string, breaker: PlatformCircuitBreaker, claimLeaseMs: number, shared: SharedBreakers) {
    this.platform = platform;
    this.breaker = breaker;
    this.claimLeaseMs = claimLeaseMs;
    this.#shared = shared;
  }

  failed(): void {
    this.send('fail');
  }

  recovered(): void {
    this.send('ok');
  }

  trialEnded(ok: boolean): void {
    this.#ended();
    this.send(ok ? 'trial_ok' : 'trial_fail');
  }

  trialClaimed(leaseMs: number): void {
    this.send('claim', leaseMs);
  }

  forced(to: 'OPEN' | 'CLOSED'): void {
    this.#ended();
    this.send(to === 'OPEN' ? 'force_open' : 'reset');
  }

  /** One script call; its answer is applied as this replica's own doing. A failure is logged, never thrown: the breaker already answered its caller. */
  send(op: Op, leaseMs = this.breaker.halfOpenTimeoutMs, adopt?: string): void {
    this.#shared.call(this, op, leaseMs, adopt);
  }

  /** The script answered (or failed) `op`; true when it is a transition sent by {@link trialEnded} or {@link forced}. */
  answered(op: Op): boolean {
    if (!TRANSITIONS.has(op)) return false;
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    if (this.#inFlight === 0) this.#endedPeriod = undefined;
    return true;
  }

  /**
   * Applies `record` (Redis time `redisNow`) unless it is older than the one
   * applied, or it predates a transition made here that Redis has not
   * answered yet (a message, a resync or the answer to an earlier step);
   * the `transition`'s own answer is the shared verdict on it.
   */
  apply(record: SharedRecord, redisNow: number, self: string, remote: boolean, transition = false): void {
    if (this.record !== undefined && record.period < this.record.period) return;
    if (!transition && this.#endedPeriod !== undefined && record.period <= this.#endedPeriod) return;
    this.record = record;
    this.breaker.applyShared(toShared(record, redisNow, self, remote));
    this.plan(redisNow);
  }

  /**
   * The owner's part: claim the trial when the shared wait is over (or when
   * nobody holds a due trial), and look at a held trial when its lease ends,
   * which the script then counts as failed if it was not settled.
   */
  plan(redisNow: number | undefined): void {
    this.stop();
    const record = this.record;
    if (record === undefined || redisNow === undefined || record.state === 'CLOSED' || !this.#shared.owns(this.platform)) return;
    // This replica's own trial too: the check meant to carry it may never come.
    const held = record.state === 'HALF_OPEN' && record.holder !== '';
    const dueAt = record.state === 'OPEN' ? record.halfOpenAt : held ? record.leaseEnd : redisNow;
    const op: Op = held ? 'read' : 'claim';
    // A little past the due time: a claim a hair early is refused and planned again, which costs a round trip.
    this.#timer = setTimeout(() => this.send(op, op === 'claim' ? this.claimLeaseMs : undefined), Math.max(0, dueAt - redisNow) + 5);
    this.#timer.unref();
  }

  /**
   * The record that says what this breaker decided alone (local mode, or
   * before Redis lost its data), in Redis time; undefined when there is
   * nothing to say (CLOSED, no failure). A HALF_OPEN breaker says OPEN and
   * due: the owner claims the cluster's one trial.
   */
  localRecord(redisNow: number): string | undefined {
    const { state, failureCount, openedAt, nextAttemptAt } = this.breaker.getState();
    if (state === 'CLOSED' && failureCount === 0) return undefined;
    const wallNow = Date.now();
    const waitMs = this.record?.waitMs || this.breaker.resetTimeoutMs;
    const opened = openedAt === undefined ? redisNow : redisNow - Math.max(0, wallNow - openedAt);
    const due = state === 'OPEN' && nextAttemptAt !== undefined ? redisNow + Math.max(0, nextAttemptAt - wallNow) : redisNow;
    const s = state === 'CLOSED' ? 'C' : 'O';
    return JSON.stringify({ s, g: 0, f: failureCount, r: '', n: state === 'CLOSED' ? 0 : 1, o: opened, h: due, t: '', l: 0, d: waitMs });
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #ended(): void {
    this.#inFlight += 1;
    this.#endedPeriod = this.record?.period ?? 0;
  }
}

/** Every platform's follower, and what they share: the store, the membership, the resync. */
export class SharedBreakers {
  readonly self: string;
  readonly #store: SharedStore;
  readonly #membership: Membership;
  readonly #owns: (platform: string) => boolean;
  readonly #logger: Logger;
  readonly #limiter = new LogLimiter();
  readonly #minReplicas: number;
  readonly #followers = new Map<string, Follower>();
  /** The shared version last read in a resync: unchanged, nothing to read again. */
  #version = -1;
  #resyncTimer: NodeJS.Timeout | undefined;
  #resyncing = false;
  /** A reconciliation (see {@link resync}) is owed. */
  #reconcilePending = false;

  constructor(store: SharedStore, membership: Membership, self: string, minReplicas: number, owns: (platform: string) => boolean, logger: Logger) {
    this.#store = store;
    this.#membership = membership;
    this.self = self;
    this.#minReplicas = minReplicas;
    this.#owns = owns;
    this.#logger = logger;
  }

  /** `platform`'s shared breaker is CLOSED with failures counted from fewer than `minReplicas` replicas: they want confirming. */
  unconfirmed(platform: string): boolean {
    const record = this.#followers.get(platform)?.record;
    return record !== undefined && record.state === 'CLOSED' && record.failures > 0 && record.replicas < this.#minReplicas;
  }

  /** Whether this replica claims `platform`'s trial (its owner). */
  owns(platform: string): boolean {
    return this.#owns(platform);
  }

  /**
   * Shares `breaker` from now on (in local mode it decides alone until the
   * replica joins); as the platform's owner this replica claims a due trial
   * for `claimLeaseMs`.
   */
  follow(platform: string, breaker: PlatformCircuitBreaker, claimLeaseMs: number): void {
    const follower = new Follower(platform, breaker, Math.max(claimLeaseMs, breaker.halfOpenTimeoutMs), this);
    this.#followers.get(platform)?.stop();
    this.#followers.set(platform, follower);
    if (this.#membership.localMode) return;
    // Joined already (a platform registered late): read its shared state now. At start-up, the join reads them all at once.
    breaker.coordinate(follower);
    follower.send('read');
  }

  /** Stops sharing `platform`'s breaker (it was unregistered). */
  unfollow(platform: string): void {
    const follower = this.#followers.get(platform);
    if (follower === undefined) return;
    follower.stop();
    follower.breaker.coordinate(undefined);
    this.#followers.delete(platform);
  }

  /** Resyncs every `resyncMs`; the timer never keeps the process alive. */
  start(resyncMs: number): void {
    this.#resyncTimer = setInterval(() => void this.resync(), resyncMs);
    this.#resyncTimer.unref();
  }

  stop(): void {
    clearInterval(this.#resyncTimer);
    for (const follower of this.#followers.values()) {
      follower.stop();
      follower.breaker.coordinate(undefined);
    }
  }

  /** The mode changed. Local: every breaker decides alone, from the state it has. Joined: each follows the shared state again, reconciled. */
  modeChanged(): void {
    const local = this.#membership.localMode;
    for (const follower of this.#followers.values()) {
      follower.stop();
      follower.breaker.coordinate(local ? undefined : follower);
    }
    if (!local) void this.resync(true);
  }

  /** Ownership moved: the new owners plan the trials. */
  ownershipChanged(): void {
    const now = this.#membership.redisNow();
    for (const follower of this.#followers.values()) follower.plan(now);
  }

  /** Redis lost its data (restarted empty, flushed): every replica writes back what its breakers hold, first writer wins, so an open breaker stays open. */
  rebuild(): void {
    // Periods start again from 0: what was applied before says nothing now.
    for (const follower of this.#followers.values()) follower.record = undefined;
    if (!this.#membership.localMode) void this.resync(true);
  }

  /** A change published on the channel (by any replica, this one included), parsed. */
  onMessage(message: { p?: unknown; by?: unknown; st?: unknown }, raw: string): void {
    const follower = typeof message.p === 'string' ? this.#followers.get(message.p) : undefined;
    if (follower === undefined || this.#membership.localMode) return;
    const record = parseRecord(JSON.stringify(message.st ?? null));
    const now = this.#membership.redisNow();
    if (record === undefined || now === undefined) {
      this.#warnCorrupt('message', raw);
      return;
    }
    follower.apply(record, now, this.self, message.by !== this.self);
  }

  /** A message on the channel that does not parse. */
  corruptMessage(raw: string): void {
    this.#warnCorrupt('message', raw);
  }

  /**
   * Reads the whole shared state when its version moved since the last read
   * (always, when `reconciling`), and applies what a lost message did not
   * bring. Reconciling after local mode or a wipe, the newer evidence wins:
   * a shared record that moved on since this replica last applied one (other
   * replicas decided while it was away) is applied; one that did not, or
   * none, is replaced by what this replica's breaker decided alone, unless
   * another replica got there first.
   */
  async resync(reconciling = false): Promise<void> {
    // Asked for during another resync, or after a failed one: the next run reconciles.
    this.#reconcilePending ||= reconciling;
    if (this.#resyncing || this.#membership.localMode || this.#followers.size === 0) return;
    this.#resyncing = true;
    const reconcile = this.#reconcilePending;
    this.#reconcilePending = false;
    let again = false;
    try {
      const version = await this.#store.version();
      if (version === this.#version && !reconcile) return;
      const records = await this.#store.breakers();
      const now = this.#membership.redisNow();
      if (now === undefined || this.#membership.localMode) {
        this.#reconcilePending ||= reconcile;
        return;
      }
      for (const [platform, follower] of this.#followers) {
        const json = records.get(platform);
        const record = json === undefined ? undefined : parseRecord(json);
        if (json !== undefined && record === undefined) this.#warnCorrupt(platform, json);
        if (reconcile) this.#reconcile(follower, record, now);
        else if (record !== undefined) follower.apply(record, now, this.self, true);
      }
      this.#version = version;
      again = this.#reconcilePending;
    } catch (error) {
      // Left for the periodic resync: retrying at once would hammer a Redis that fails.
      this.#reconcilePending ||= reconcile;
      this.#warn('resync', error);
    } finally {
      this.#resyncing = false;
    }
    if (again) await this.resync();
  }

  #reconcile(follower: Follower, shared: SharedRecord | undefined, now: number): void {
    const known = follower.record?.period;
    if (shared !== undefined && (known === undefined ? shared.period > 0 : shared.period > known)) {
      follower.apply(shared, now, this.self, true);
      return;
    }
    const mine = follower.localRecord(now);
    if (mine !== undefined) follower.send('adopt', undefined, mine);
    else if (shared !== undefined) follower.apply(shared, now, this.self, true);
    // Neither says anything: CLOSED here and no shared record, nothing to do.
  }

  /** Runs one breaker script for `follower` and applies its answer; see {@link Follower.send}. */
  call(follower: Follower, op: Op, leaseMs: number, adopt: string | undefined): void {
    if (this.#membership.localMode) return;
    const { breaker, platform } = follower;
    const args = [op, platform, this.self, String(follower.record?.period ?? 0), String(breaker.failMax), String(this.#minReplicas)];
    args.push(String(breaker.resetTimeoutMs), String(breaker.resetBackoffFactor), String(breaker.maxResetTimeoutMs), String(leaseMs));
    if (adopt !== undefined) args.push(adopt);
    this.#store.breaker(args).then(
      ({ now, record: json }) => {
        const transition = follower.answered(op);
        const record = parseRecord(json);
        if (record === undefined) this.#warnCorrupt(platform, json);
        else if (!this.#membership.localMode && this.#followers.get(platform) === follower) follower.apply(record, now, this.self, op === 'read' || op === 'adopt', transition);
      },
      (error: unknown) => {
        follower.answered(op);
        this.#warn(`breaker:${op}`, error, platform);
      },
    );
  }

  #warn(key: string, error: unknown, platform?: string): void {
    this.#limiter.take(key, (suppressed) =>
      this.#logger.warn(
        { redis: this.#store.where, error: shortMessage(error), suppressed, ...(platform === undefined ? {} : { platform: printable(platform) }) },
        'conductor-health cluster: a shared breaker step failed; the local breaker carries on',
      ),
    );
  }

  #warnCorrupt(where: string, value: string): void {
    this.#limiter.take('corrupt', (suppressed) =>
      this.#logger.warn({ where: printable(where).slice(0, 200), value: printable(value).slice(0, 200), suppressed }, 'conductor-health cluster: a value read from Redis does not parse; ignored'),
    );
  }
}
