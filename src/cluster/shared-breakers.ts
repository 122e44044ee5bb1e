/**
 * One breaker per platform for the whole cluster. Each replica's breaker
 * answers its callers at once; what can change the shared state (a failure,
 * a success after failures, a trial's end, forceOpen/reset) goes to Redis as
 * one script call, and the answer, like every change another replica causes
 * (pub/sub, and a resync for messages lost on the way), is applied to the
 * local breaker (follower.ts). In local mode the breakers decide alone; back
 * in the cluster, the newer evidence wins (see {@link SharedBreakers.resync}).
 */
import type { PlatformCircuitBreaker } from '../breaker/circuit-breaker.ts';
import { LogLimiter } from '../common/log-limiter.ts';
import type { Logger } from '../common/logger.ts';
import { printable } from '../common/text.ts';
import { shortMessage } from '../core/failure.ts';
import { Follower, type FollowerHost, type Op } from './follower.ts';
import type { Membership } from './membership.ts';
import { parseRecord, type SharedRecord } from './record.ts';
import type { SharedStore } from './store.ts';

/** Followers handled between two turns of the event loop (an OPEN one costs a new gate, ~0.2 ms): 10,000 platforms must not block it in one piece. */
const SLICE = 100;

/** The record of a platform Redis has none of: CLOSED, nothing counted. */
const NONE: SharedRecord = { state: 'CLOSED', period: 0, failures: 0, replicas: 0, holder: '', openedAt: 0, halfOpenAt: 0, leaseEnd: 0, waitMs: 0 };

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Every platform's follower, and what they share: the store, the membership, the resync. */
export class SharedBreakers implements FollowerHost {
  readonly self: string;
  readonly #store: SharedStore;
  readonly #membership: Membership;
  readonly #place: (platform: string) => number;
  readonly #logger: Logger;
  readonly #limiter = new LogLimiter();
  readonly #minReplicas: number;
  readonly #followers = new Map<string, Follower>();
  /** The shared version last read in a resync: unchanged, nothing to read again. */
  #version = -1;
  /** The highest version applied from a message or an answer: above the stored one, it was bogus (or Redis lost its data). */
  #maxApplied = -1;
  #resyncTimer: NodeJS.Timeout | undefined;
  #resyncing = false;
  /** A reconciliation (see {@link resync}) is owed. */
  #reconcilePending = false;
  /** A step failed: the next resync reads the whole state whatever its version. */
  #dirty = false;

  constructor(store: SharedStore, membership: Membership, self: string, minReplicas: number, place: (platform: string) => number, logger: Logger) {
    this.#store = store;
    this.#membership = membership;
    this.self = self;
    this.#minReplicas = minReplicas;
    this.#place = place;
    this.#logger = logger;
  }

  /** `platform`'s shared breaker is CLOSED with failures counted from fewer than `minReplicas` replicas: they want confirming. */
  unconfirmed(platform: string): boolean {
    const record = this.#followers.get(platform)?.record;
    return record !== undefined && record.state === 'CLOSED' && record.failures > 0 && record.replicas < this.#minReplicas;
  }

  /** This replica's rank for `platform` (0: its owner, which claims the trial first). */
  place(platform: string): number {
    return this.#place(platform);
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

  /**
   * Hands on the trials this replica holds (a replica that stops would
   * otherwise hold them until their lease ends: an interval or more), then
   * stops following; within the command timeout, never rejects.
   */
  async stop(): Promise<void> {
    clearInterval(this.#resyncTimer);
    const now = this.#membership.redisNow();
    const held = now === undefined ? [] : [...this.#followers.values()].filter((f) => f.mayHoldTrial(now));
    for (const follower of this.#followers.values()) {
      follower.stop();
      follower.breaker.coordinate(undefined);
    }
    if (this.#membership.localMode) return;
    const args = (f: Follower) => this.#args(f, 'release', 0);
    await Promise.all(held.map((f) => this.#store.breaker(args(f)).catch(() => {})));
  }

  /**
   * The mode changed. Local: every breaker decides alone, from the state it
   * has. Joined: each follows the shared state again, reconciled. In slices:
   * an OPEN breaker's gate is rebuilt, which 10,000 of would block the event
   * loop; a mode that flipped again meanwhile is the newer call's to finish.
   */
  modeChanged(): void {
    // Owed at once: a resync or a message before the switch is done must not make a breaker follow what it decided alone.
    if (!this.#membership.localMode) this.#reconcilePending = true;
    void this.#switchMode(this.#membership.localMode);
  }

  async #switchMode(local: boolean): Promise<void> {
    let n = 0;
    for (const follower of [...this.#followers.values()]) {
      if (++n % SLICE === 0) {
        await turn();
        if (this.#membership.localMode !== local) return;
      }
      follower.stop();
      follower.breaker.coordinate(local ? undefined : follower);
      if (local) follower.alone = true;
    }
    if (!local) await this.resync(true);
  }

  /** Ownership moved: the new owners plan the trials. */
  ownershipChanged(): void {
    const now = this.#membership.redisNow();
    for (const follower of this.#followers.values()) follower.plan(now);
  }

  /** Redis lost its data (restarted empty, flushed): every replica writes back what its breakers hold, first writer wins, so an open breaker stays open. */
  rebuild(): void {
    // Versions start again from 0: what was applied before says nothing now.
    for (const follower of this.#followers.values()) follower.forget();
    this.#version = this.#maxApplied = -1;
    if (!this.#membership.localMode) void this.resync(true);
  }

  /** A change published on the channel (by any replica, this one included), parsed. */
  onMessage(message: { p?: unknown; v?: unknown; by?: unknown; st?: unknown }, raw: string): void {
    const follower = typeof message.p === 'string' ? this.#followers.get(message.p) : undefined;
    // A breaker that decided alone waits for its reconciliation: a message is no verdict on it.
    if (follower === undefined || this.#membership.localMode || follower.alone || follower.wiped) return;
    const record = parseRecord(JSON.stringify(message.st ?? null));
    const now = this.#membership.redisNow();
    if (record === undefined || now === undefined || typeof message.v !== 'number' || !Number.isSafeInteger(message.v)) {
      this.#warnCorrupt('message', raw);
      return;
    }
    this.#applied(message.v);
    follower.apply(record, message.v, now, message.by !== this.self);
  }

  /** A message on the channel that does not parse. */
  corruptMessage(raw: string): void {
    this.#warnCorrupt('message', raw);
  }

  /**
   * Reads the whole shared state, in one step, when its version moved since
   * the last read, a step failed, or a message claimed a version Redis does
   * not have (always, when `reconciling`), and makes each breaker follow it:
   * the stored record is the truth, unless a message applied since the read
   * was sent is newer. Reconciling after local mode, the newer evidence wins:
   * a shared record that moved on since this replica last applied one (other
   * replicas decided while it was away) is applied; one that did not, or
   * none, is replaced by what this replica's breaker decided alone, unless
   * another replica wrote first. After Redis lost its data, a breaker that is
   * not CLOSED is written back over a CLOSED or missing record.
   */
  async resync(reconciling = false): Promise<void> {
    // Asked for during another resync, or after a failed one: the next run reconciles.
    this.#reconcilePending ||= reconciling;
    if (this.#resyncing || this.#membership.localMode || this.#followers.size === 0) return;
    this.#resyncing = true;
    const reconcile = this.#reconcilePending;
    const dirty = this.#dirty;
    this.#reconcilePending = this.#dirty = false;
    let again = false;
    try {
      if (!reconcile && !dirty) {
        const version = await this.#store.version();
        if (version === this.#version && this.#maxApplied <= version) return;
      }
      const sentAt = performance.now();
      const snapshot = await this.#store.readBreakers();
      const now = this.#membership.redisNow();
      // Another epoch: Redis lost its data, and the membership is about to say so (a rebuild follows).
      if (now === undefined || this.#membership.localMode || snapshot.epoch !== this.#membership.epoch) {
        this.#reconcilePending ||= reconcile;
        return;
      }
      let n = 0;
      // Writes back wait slice by slice: 10,000 at once would outrun the command timeout.
      let writes: Promise<void>[] = [];
      for (const [platform, follower] of [...this.#followers]) {
        if (++n % SLICE === 0) {
          await Promise.all(writes);
          writes = [];
          await turn();
        }
        if (this.#followers.get(platform) !== follower || this.#membership.localMode) continue;
        const write = this.#follow(follower, snapshot.records.get(platform), snapshot.version, { now, sentAt, reconcile });
        if (write !== undefined) writes.push(write);
      }
      await Promise.all(writes);
      this.#version = snapshot.version;
      this.#maxApplied = Math.min(this.#maxApplied, snapshot.version);
      again = this.#reconcilePending;
    } catch (error) {
      // Left for the periodic resync: retrying at once would hammer a Redis that fails.
      this.#reconcilePending ||= reconcile;
      this.#dirty ||= dirty;
      this.#warn('resync', error);
    } finally {
      this.#resyncing = false;
    }
    if (again) await this.resync();
  }

  /** One follower's part of a resync: `json` is its stored record (none: undefined) at `version`; answers a write back's promise. */
  #follow(follower: Follower, json: string | undefined, version: number, read: { now: number; sentAt: number; reconcile: boolean }): Promise<void> | undefined {
    const record = json === undefined ? undefined : parseRecord(json);
    if (json !== undefined && record === undefined) this.#warnCorrupt(follower.platform, json);
    if (read.reconcile && (follower.alone || follower.wiped || follower.record === undefined)) return this.#reconcile(follower, record, version, read.now);
    // Its reconciliation is pending: the stored record is no verdict on what it decided alone.
    if (follower.alone || follower.wiped) return undefined;
    // What the read saw is at least as new as what was applied, or what was applied claimed a version Redis never reached.
    const newer = follower.version <= version || follower.appliedAt < read.sentAt;
    if (newer && (record !== undefined || follower.version > version)) follower.apply(record ?? NONE, version, read.now, true, { force: true });
    return undefined;
  }

  /** Makes `follower` follow `shared`, or writes back what its breaker decided (the promise of that write). */
  #reconcile(follower: Follower, shared: SharedRecord | undefined, version: number, now: number): Promise<void> | undefined {
    const mine = follower.localRecord(now);
    // Written if the stored record is still the one read (its period; a missing one: this replica's period).
    const adopt = (op: 'adopt' | 'restore' = 'adopt') => this.call(follower, op, follower.breaker.halfOpenTimeoutMs, { period: shared?.period ?? follower.record?.period ?? 0, record: mine.json });
    if (follower.wiped) {
      if (mine.state !== 'C' && (shared === undefined || shared.state === 'CLOSED')) return adopt('restore');
    } else {
      const known = follower.record?.period;
      const moved = shared !== undefined && (!follower.alone || (known === undefined ? shared.period > 0 : shared.period > known));
      const differs = shared === undefined ? mine.state !== 'C' || mine.failures > 0 : mine.state !== (shared.state === 'CLOSED' ? 'C' : 'O') || mine.failures !== shared.failures;
      if (!moved && differs) return adopt();
    }
    if (shared !== undefined) follower.apply(shared, version, now, true, { force: true });
    return undefined;
  }

  /** Runs one breaker script for `follower` and applies its answer; see {@link Follower.send}. */
  call(follower: Follower, op: Op, leaseMs: number, adopt?: { period: number; record: string }): Promise<void> {
    if (this.#membership.localMode) {
      // Not sent: a transition's wait for its answer ends here (the reconciliation on the rejoin decides).
      follower.answered(op);
      return Promise.resolve();
    }
    const { platform } = follower;
    const args = this.#args(follower, op, leaseMs);
    if (adopt !== undefined) {
      args[3] = String(adopt.period);
      args.push(adopt.record);
    }
    return this.#store.breaker(args).then(
      ({ now, record: json, version }) => {
        const transition = follower.answered(op);
        const record = parseRecord(json);
        this.#applied(version);
        if (record === undefined) this.#warnCorrupt(platform, json);
        else if (!this.#membership.localMode && this.#followers.get(platform) === follower) follower.apply(record, version, now, op === 'read' || op === 'adopt' || op === 'restore', { transition });
      },
      (error: unknown) => {
        // A transition decided here that Redis did not take is newer evidence: the next resync reconciles it. Any other step: it reads again.
        if (follower.answered(op) || op === 'adopt' || op === 'restore') {
          follower.alone = true;
          this.#reconcilePending = true;
        } else this.#dirty = true;
        this.#warn(`breaker:${op}`, error, platform);
      },
    );
  }

  #args(follower: Follower, op: Op, leaseMs: number): string[] {
    const { breaker, platform } = follower;
    return [
      op, platform, this.self, String(follower.record?.period ?? 0), String(breaker.failMax), String(this.#minReplicas),
      String(breaker.resetTimeoutMs), String(breaker.resetBackoffFactor), String(breaker.maxResetTimeoutMs), String(leaseMs),
    ];
  }

  #applied(version: number): void {
    if (version > this.#maxApplied) this.#maxApplied = version;
  }

  #warn(key: string, error: unknown, platform?: string): void {
    this.#limiter.take(key, (suppressed) =>
      this.#logger.warn(
        { redis: this.#store.where, error: shortMessage(error), suppressed, ...(platform === undefined ? {} : { platform: printable(platform).slice(0, 200) }) },
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
