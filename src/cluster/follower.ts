/**
 * One platform's breaker as this replica follows the shared one: it reports
 * what can change the shared state (see {@link BreakerCoordinator}) and
 * applies the shared records it is given, newest first by the version every
 * write in Redis increments. The platform's owner claims the one half-open
 * trial when the shared wait is over; the replicas ranked below it step in,
 * each a little later, when the owner does not (it does not have the
 * platform, or it is gone).
 */
import type { PlatformCircuitBreaker } from '../breaker/circuit-breaker.ts';
import type { BreakerCoordinator } from '../breaker/coordinator.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';
import { halfOpenDue, longestWaitMs, toShared, type SharedRecord } from './record.ts';

/** The ops of the breaker script (scripts.ts). */
export type Op = 'fail' | 'ok' | 'claim' | 'release' | 'trial_ok' | 'trial_fail' | 'force_open' | 'reset' | 'read' | 'adopt' | 'restore';

/** The ops that report a transition this replica's breaker made. */
export const TRANSITIONS: ReadonlySet<Op> = new Set(['trial_ok', 'trial_fail', 'force_open', 'reset']);

/** How much later than the owner each lower-ranked replica steps in for a due trial or an ended lease nobody settled. */
export const STEP_IN_MS = 1_000;

/** What a follower needs of the breakers it is one of. */
export interface FollowerHost {
  readonly self: string;
  /** This replica's rank for `platform` (0: its owner). */
  place(platform: string): number;
  /** Runs `op` in Redis for `follower` and applies the answer. */
  call(follower: Follower, op: Op, leaseMs: number, adopt?: { period: number; record: string }): Promise<void>;
}

export class Follower implements BreakerCoordinator {
  readonly platform: string;
  readonly breaker: PlatformCircuitBreaker;
  /** The lease the owner claims a due trial for: long enough for its next scheduled check to carry the trial. */
  readonly claimLeaseMs: number;
  /** The shared record last applied; undefined before the first (and after Redis lost its data). */
  record: SharedRecord | undefined;
  /** The version {@link record} was at (-1 for none): an older one is never applied over it. */
  version = -1;
  /** `performance.now()` when {@link record} was applied. */
  appliedAt = 0;
  /** The breaker decided alone since it last followed the shared state (local mode; a transition that did not reach Redis). */
  alone = false;
  /** Redis lost its data since the breaker last followed it: what the breaker holds is to be written back. */
  wiped = false;
  /**
   * While a transition this breaker made here (a trial's end, forceOpen,
   * reset) is on its way to Redis, the period it ended: a message or a
   * resync of that period or older, sent before the transition, would
   * undo it here. The script's answer clears it.
   */
  #endedPeriod: number | undefined;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #host: FollowerHost;

  constructor(platform: string, breaker: PlatformCircuitBreaker, claimLeaseMs: number, host: FollowerHost) {
    this.platform = platform;
    this.breaker = breaker;
    this.claimLeaseMs = claimLeaseMs;
    this.#host = host;
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
  send(op: Op, leaseMs = this.breaker.halfOpenTimeoutMs): void {
    void this.#host.call(this, op, leaseMs);
  }

  /** The script answered (or failed) `op`; true when it is a transition sent by {@link trialEnded} or {@link forced}. */
  answered(op: Op): boolean {
    if (!TRANSITIONS.has(op)) return false;
    this.#inFlight = Math.max(0, this.#inFlight - 1); // never below 0: an answer may come after forget()
    if (this.#inFlight === 0) this.#endedPeriod = undefined;
    return true;
  }

  /**
   * Applies `record`, at `version` (Redis time `redisNow`), unless an older
   * version than the one applied (a resync, which reads the whole state at
   * once, is `force`d), or it predates a transition made here that Redis
   * has not answered yet; the `transition`'s own answer is the shared
   * verdict on it.
   */
  apply(record: SharedRecord, version: number, redisNow: number, remote: boolean, options: { transition?: boolean; force?: boolean } = {}): void {
    if (!options.force && version < this.version) return;
    if (!options.transition && this.#endedPeriod !== undefined && record.period <= this.#endedPeriod) return;
    this.record = record;
    this.version = version;
    this.appliedAt = performance.now();
    this.alone = this.wiped = false;
    this.breaker.applyShared(toShared(record, redisNow, this.#host.self, remote, this.#longestWaitMs()));
    this.plan(redisNow);
  }

  /**
   * Claims the trial when the shared wait is over (or when nobody holds a
   * due trial), and looks at a held trial when its lease ends, which the
   * script then counts as failed if it was not settled: the owner at once,
   * each replica ranked below it {@link STEP_IN_MS} later than the one above.
   */
  plan(redisNow: number | undefined): void {
    this.stop();
    const record = this.record;
    if (record === undefined || redisNow === undefined || record.state === 'CLOSED') return;
    const place = this.#host.place(this.platform);
    // This replica's own trial too: the check meant to carry it may never come.
    const held = record.state === 'HALF_OPEN' && record.holder !== '';
    const dueAt = record.state === 'OPEN' ? halfOpenDue(record, this.#longestWaitMs()) : held ? record.leaseEnd : redisNow;
    const op: Op = held ? 'read' : 'claim';
    // A little past the due time: a claim a hair early is refused and planned again, which costs a round trip.
    const delay = Math.max(0, dueAt - redisNow) + (place === 0 ? 5 : place * STEP_IN_MS);
    this.#timer = setTimeout(() => this.send(op, op === 'claim' ? this.claimLeaseMs : undefined), Math.min(delay, MAX_TIMER_MS));
    this.#timer.unref();
  }

  /**
   * The record that says what this breaker decided alone (local mode, or
   * before Redis lost its data), in Redis time. A HALF_OPEN breaker says
   * OPEN and due: the owner claims the cluster's one trial.
   */
  localRecord(redisNow: number): { state: 'C' | 'O'; failures: number; json: string } {
    const { state, failureCount, openedAt, nextAttemptAt } = this.breaker.getState();
    const wallNow = Date.now();
    const waitMs = this.record?.waitMs || this.breaker.resetTimeoutMs;
    const opened = openedAt === undefined ? redisNow : redisNow - Math.max(0, wallNow - openedAt);
    const due = state === 'OPEN' && nextAttemptAt !== undefined ? redisNow + Math.max(0, nextAttemptAt - wallNow) : redisNow;
    const s = state === 'CLOSED' ? 'C' : 'O';
    const json = JSON.stringify({ s, g: 0, f: failureCount, r: '', n: state === 'CLOSED' ? 0 : 1, o: opened, h: due, t: '', l: 0, d: waitMs });
    return { state: s, failures: failureCount, json };
  }

  /**
   * This replica may hold the trial: the record says so, or the trial is due
   * and a claim sent from here may not have been answered yet. (The script
   * releases only a trial this replica holds.)
   */
  mayHoldTrial(redisNow: number): boolean {
    const record = this.record;
    if (record?.state === 'HALF_OPEN') return record.holder === this.#host.self || record.holder === '';
    return record?.state === 'OPEN' && redisNow >= halfOpenDue(record, this.#longestWaitMs());
  }

  /** Redis lost its data: nothing applied before counts, and what the breaker holds is to be written back. */
  forget(): void {
    this.record = undefined;
    this.version = -1;
    this.wiped = true;
    this.alone = false;
    this.#inFlight = 0;
    this.#endedPeriod = undefined;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The longest wait the breaker's options allow: a stored wait beyond it is cut to it. */
  #longestWaitMs(): number {
    return longestWaitMs(this.breaker.resetTimeoutMs, this.breaker.resetBackoffFactor, this.breaker.maxResetTimeoutMs);
  }

  #ended(): void {
    this.#inFlight += 1;
    this.#endedPeriod = this.record?.period ?? 0;
  }
}
