/**
 * A breaker's state machine: CLOSED counts consecutive failures, OPEN waits
 * out its reset timeout, HALF_OPEN lets one leased trial through. It keeps
 * the periods that make a stale outcome change nothing, and announces every
 * transition (gauge, span event, listeners). The `PlatformCircuitBreaker`
 * around it validates, runs calls and hands it their outcomes.
 */
import type { SpanContext, Tracer } from '@opentelemetry/api';
import type { EventEmitter } from 'node:events';
import type { Emitter } from '../common/emitter.ts';
import type { Logger } from '../common/logger.ts';
import { printable } from '../common/text.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';
import type { BreakerState } from '../core/breaker-state.ts';
import { errorTypeOf } from '../core/failure.ts';
import type { HealthMetrics } from '../core/metrics.ts';
import type { Verdict } from '../core/outcome.ts';
import { OpossumGate } from './opossum-gate.ts';
import { Permit } from './permit.ts';
import { resetDelay } from './reset-delay.ts';
import { addStaleEvent, addTransitionEvent, sampledSpanContext } from './span-events.ts';
import type { BreakerEvents, BreakerStateChange } from './state.ts';
import type { BreakerCoordinator, SharedBreakerState } from './coordinator.ts';
import { Trial } from './trial.ts';
import { TrialLease } from './trial-lease.ts';

/** The settings and collaborators a state machine runs with. */
export interface MachineSettings {
  readonly platform: string;
  readonly failMax: number;
  readonly resetTimeoutMs: number;
  readonly resetBackoffFactor: number;
  readonly maxResetTimeoutMs: number;
  readonly halfOpenTimeoutMs: number;
  /** The breaker's default call timeout: a CLOSED breaker without one takes the fast path. */
  readonly timeoutMs: number;
  readonly metrics: HealthMetrics;
  readonly tracer: Tracer | undefined;
  readonly logger: Logger;
  readonly events: Emitter<BreakerEvents>;
  /** The breaker's tick of the shared rotation, for opossum. */
  readonly rotation: EventEmitter;
}

export class BreakerStateMachine {
  /** The state as last announced; {@link current} catches up with the clock first. */
  state: BreakerState = 'CLOSED';
  /** Consecutive failures since the last success (a failed half-open trial adds one). */
  failureCount = 0;
  /** Wall time of the last opening, for reports. */
  openedAt: number | undefined;
  /** The current period: every transition and every `reset()` starts a new one. */
  generation = 0;
  /** CLOSED, not shut down and no default timeout: a call may run directly, with {@link onClosedSuccess} / {@link onClosedFailure}. */
  fastPath: boolean;
  /** Shut down: frozen for good. */
  shut = false;
  // The fast path's permit: one pair of handlers per CLOSED period, not a permit and two closures per call.
  onClosedSuccess!: (value: unknown) => unknown;
  onClosedFailure!: (error: unknown) => never;

  readonly #s: MachineSettings;
  readonly #gate: OpossumGate;
  readonly #lease = new TrialLease(() => {
    // The timer enforces the lease; the clock check in current() catches a timer a busy loop has not run yet.
    if (this.#lease.trial !== undefined) this.#expireTrial();
  });
  /** `performance.now()` at which OPEN turns HALF_OPEN: the reset runs on the monotonic clock, so a wall-clock step moves it not. */
  #halfOpenAt: number | undefined;
  /** Openings in a row since the last close: the backoff's exponent. */
  #openings = 0;
  /** The wait of the current opening, in ms. */
  #resetDelayMs: number;
  /** The sampled span that opened the breaker, for the link of a transition a timer fires later. */
  #openedBy: SpanContext | undefined;
  /** Set while the breaker follows a shared state (see coordinator.ts): it then neither opens nor half-opens by itself. */
  #coordinator: BreakerCoordinator | undefined;

  /** What every permit calls to settle; bound once and handed to each. */
  readonly settlePermit = (permit: Permit, verdict: Verdict, error: unknown): boolean => {
    if (permit.trial === undefined) return this.settleClosed(permit.generation, verdict, error);
    if (this.shut) return false;
    if (verdict === 'failure') this.#s.metrics.recordPluginFailure(this.#s.platform, errorTypeOf(error));
    // A lease or a reset time that has passed ends the period before this outcome is looked at.
    this.current();
    if (permit.generation !== this.generation || permit.trial !== this.#lease.trial) {
      if (verdict !== 'release') addStaleEvent(this.#s.platform, permit.state, verdict, this.state);
      return false;
    }
    // The permit holds the current trial, so the breaker is HALF_OPEN and not shut down.
    if (verdict === 'release') this.releaseTrial();
    else this.#settleTrial(permit.trial, verdict === 'success');
    return true;
  };

  constructor(settings: MachineSettings) {
    this.#s = settings;
    this.fastPath = settings.timeoutMs === 0;
    this.#resetDelayMs = settings.resetTimeoutMs;
    this.#armClosedPeriod();
    this.#gate = new OpossumGate(settings.platform, settings.resetTimeoutMs, settings.rotation, {
      onOpen: () => {
        this.#openings += 1;
        this.openedAt = Date.now();
        this.#halfOpenAt = performance.now() + this.#resetDelayMs;
        this.#openedBy = sampledSpanContext();
        this.#transition('OPEN');
      },
      onHalfOpen: () => this.#transition('HALF_OPEN'),
      onClose: () => {
        this.failureCount = 0;
        this.#openings = 0;
        this.openedAt = this.#halfOpenAt = this.#openedBy = undefined;
        this.#transition('CLOSED');
      },
    });
    settings.metrics.setBreakerState(settings.platform, 'CLOSED');
  }

  /** The state now, after catching up with a trial lease or a reset timer that should have fired already. */
  current(): BreakerState {
    if (this.shut) return this.state;
    if (this.#lease.expired()) this.#expireTrial();
    if (this.state === 'OPEN' && this.#coordinator === undefined && performance.now() >= (this.#halfOpenAt as number)) {
      this.releaseTrial();
      // The restored opossum starts half-open without an event, so announce the transition here.
      this.#transition('HALF_OPEN');
    }
    return this.state;
  }

  /** A permit for a call now, or undefined when the breaker refuses it (OPEN, the trial taken, shut down); a trial's lease is at least `leaseMs`. */
  acquire(leaseMs?: number): Permit | undefined {
    if (this.shut) return undefined;
    const state = this.current();
    if (state === 'CLOSED') return new Permit(this.settlePermit, this.generation, undefined);
    const trial = state === 'HALF_OPEN' ? this.claimTrial(leaseMs) : undefined;
    return trial === undefined ? undefined : new Permit(this.settlePermit, this.generation, trial);
  }

  /** Claims the half-open trial under its lease (`halfOpenTimeoutMs`, or the longer `leaseMs`); undefined when it is taken (or the breaker is not HALF_OPEN). */
  claimTrial(leaseMs = 0): Trial | undefined {
    if (this.#lease.trial !== undefined || !this.#gate.trialFree) return undefined;
    const trial = new Trial();
    this.#gate.claim(trial);
    const lease = Math.max(this.#s.halfOpenTimeoutMs, leaseMs);
    this.#lease.claim(trial, lease);
    this.#coordinator?.trialClaimed(lease);
    return trial;
  }

  /** Hands the trial back (a fresh half-open gate, no trial claimed); a no-op unless one is claimed in HALF_OPEN. */
  releaseTrial(): void {
    this.#gate.rearmHalfOpen();
    this.#lease.drop();
  }

  /** True while a half-open trial is claimed. */
  get trialClaimed(): boolean {
    return this.#lease.trial !== undefined;
  }

  /** An outcome with no call identity: it applies to the current period (CLOSED counts, HALF_OPEN settles the trial, OPEN ignores it). */
  record(ok: boolean): void {
    if (this.shut) return;
    const state = this.current();
    if (state === 'CLOSED') this.#count(ok);
    else if (state === 'HALF_OPEN') {
      const trial = this.#lease.trial ?? this.claimTrial();
      if (trial !== undefined) this.#settleTrial(trial, ok);
    }
    // OPEN: the breaker allowed no call, so there is no result to count.
  }

  /** Settles a CLOSED permit of period `generation` (the fast path's, or a permit's). */
  settleClosed(generation: number, verdict: Verdict, error: unknown): boolean {
    if (this.shut) return false;
    if (verdict === 'failure') this.#s.metrics.recordPluginFailure(this.#s.platform, errorTypeOf(error));
    if (generation !== this.generation) {
      if (verdict !== 'release') addStaleEvent(this.#s.platform, 'CLOSED', verdict, this.state);
      return false;
    }
    if (verdict !== 'release') this.#count(verdict === 'success');
    return true;
  }

  /** Opens now (from CLOSED or HALF_OPEN, dropping a claimed trial) for a full reset timeout; no-op when OPEN. */
  forceOpen(): void {
    if (this.shut || this.current() === 'OPEN') return;
    const trial = this.#lease.trial;
    this.#prepareOpening();
    this.#gate.open();
    // Settle the dropped trial after the transition: opossum, no longer half-open, only books it.
    trial?.fail();
    this.#coordinator?.forced('OPEN');
  }

  /** Closes with the count at 0, dropping a claimed trial; a new period even when CLOSED. */
  reset(): void {
    if (this.shut) return;
    const state = this.current();
    const trial = this.#lease.trial;
    this.failureCount = 0;
    if (state !== 'CLOSED') this.#gate.close();
    else this.#startPeriod();
    trial?.fail();
    this.#coordinator?.forced('CLOSED');
  }

  /**
   * Follows `coordinator`'s shared state from now on, or decides alone again
   * when undefined (a cluster's replica that lost its shared store): an OPEN
   * breaker then half-opens by itself when its last known wait is over.
   */
  coordinate(coordinator: BreakerCoordinator | undefined): void {
    if (this.shut || coordinator === this.#coordinator) return;
    this.#coordinator = coordinator;
    if (this.state === 'OPEN') this.#restoreOpen();
    else if (this.state === 'HALF_OPEN' && coordinator === undefined && !this.#gate.trialFree && this.#lease.trial === undefined) this.#gate.rearmHalfOpen();
  }

  /**
   * Applies the shared state; no report goes back to the coordinator. A
   * transition is `remote` (its span event says so) unless `shared.remote`
   * is false: an outcome reported from here tipped it.
   */
  applyShared(shared: SharedBreakerState): void {
    if (this.shut) return;
    this.current();
    this.failureCount = shared.failureCount;
    if (shared.state === 'OPEN') {
      this.openedAt = shared.openedAt ?? this.openedAt ?? Date.now();
      this.#resetDelayMs = shared.resetTimeoutMs ?? this.#resetDelayMs;
      this.#halfOpenAt = performance.now() + (shared.nextAttemptInMs ?? this.#resetDelayMs);
    }
    if (shared.state === this.state && (shared.state !== 'HALF_OPEN' || shared.trialHere === (this.#gate.trialFree || this.#lease.trial !== undefined))) return;
    // A trial claimed here ends with its period: its permit is stale once the lease is dropped.
    this.#lease.drop();
    // Another process's trial: a gate that lets nobody through, and whose own timer never half-opens it.
    if (shared.state === 'OPEN' || (shared.state === 'HALF_OPEN' && !shared.trialHere)) this.#restoreOpen();
    else this.#gate.restore(shared.state);
    if (shared.state === 'CLOSED') {
      this.#openings = 0;
      this.openedAt = this.#halfOpenAt = this.#openedBy = undefined;
    }
    if (shared.state === this.state) this.#startPeriod();
    else this.#transition(shared.state, shared.remote !== false);
  }

  /** Wall time of the next trial (see `BreakerSnapshot.nextAttemptAt`); call after {@link current}. */
  nextAttemptAt(): number | undefined {
    if (this.state === 'CLOSED' || this.#halfOpenAt === undefined || this.openedAt === undefined) return undefined;
    // Shut down, the breaker is frozen: so is the time its reset was planned for.
    if (this.shut && this.state === 'OPEN') return this.openedAt + this.#resetDelayMs;
    const now = Date.now();
    return this.state === 'OPEN' ? now + Math.max(0, Math.round(this.#halfOpenAt - performance.now())) : now;
  }

  /** Freezes for good: every permit still out is stale, and no timer is left. */
  shutdown(): void {
    this.shut = true;
    this.generation++;
    this.fastPath = false;
    this.#lease.drop();
    this.#gate.shutdown();
  }

  /** An OPEN gate whose own timer half-opens it when this breaker decides alone, and never when it follows a shared state. */
  #restoreOpen(): void {
    const remaining = Math.max(0, Math.round((this.#halfOpenAt ?? performance.now()) - performance.now()));
    this.#gate.nextResetTimeoutMs = this.#coordinator === undefined ? remaining : MAX_TIMER_MS;
    this.#gate.restore('OPEN');
  }

  /** The trial's lease ran out: it counts as a failed trial. No call is known to have failed, so no failure is counted. */
  #expireTrial(): void {
    const trial = this.#lease.trial as Trial;
    this.#s.logger.warn({ platform: printable(this.#s.platform), halfOpenTimeoutMs: this.#s.halfOpenTimeoutMs }, 'circuit breaker half-open trial not settled in time; re-opening');
    this.#settleTrial(trial, false);
  }

  #settleTrial(trial: Trial, ok: boolean): void {
    this.#lease.drop();
    // opossum closes (or opens) inside these calls; the model test checks the state after every step.
    if (ok) {
      this.failureCount = 0;
      trial.succeed();
    } else {
      this.failureCount++;
      this.#prepareOpening();
      trial.fail();
    }
    this.#coordinator?.trialEnded(ok);
  }

  /** A CLOSED-period verdict: a success sets the count to 0, a failure adds one and opens at failMax (a coordinated breaker reports instead). */
  #count(ok: boolean): void {
    if (ok) {
      if (this.failureCount === 0) return;
      this.failureCount = 0;
      this.#coordinator?.recovered();
    } else if (this.#coordinator !== undefined) {
      this.failureCount++;
      this.#coordinator.failed();
    } else if (++this.failureCount >= this.#s.failMax) {
      this.#prepareOpening();
      this.#gate.open();
    }
  }

  /** Gives the opening an action may cause its wait (see reset-delay.ts), before opossum opens and starts its timer (never, when a shared state decides). */
  #prepareOpening(): void {
    this.#resetDelayMs = resetDelay(this.#openings + 1, this.#s);
    this.#gate.nextResetTimeoutMs = this.#coordinator === undefined ? this.#resetDelayMs : MAX_TIMER_MS;
  }

  /** Starts a new period; a CLOSED one gets its own fast-path handlers, which remember it. */
  #startPeriod(): void {
    this.generation++;
    if (this.state === 'CLOSED') this.#armClosedPeriod();
  }

  #armClosedPeriod(): void {
    const generation = this.generation;
    this.onClosedSuccess = (value: unknown): unknown => {
      // The hot path, two comparisons: shutdown() ends the period too, and a count of 0 has nothing to reset.
      if (generation !== this.generation) this.settleClosed(generation, 'success', undefined);
      else if (this.failureCount !== 0) this.#count(true);
      return value;
    };
    this.onClosedFailure = (error: unknown): never => {
      this.settleClosed(generation, 'failure', error);
      throw error;
    };
  }

  #transition(to: BreakerState, remote = false): void {
    const from = this.state;
    if (from === to) return;
    const { platform, metrics, tracer, logger, events } = this.#s;
    this.state = to;
    this.#lease.drop();
    this.#startPeriod();
    this.fastPath = to === 'CLOSED' && this.#s.timeoutMs === 0 && !this.shut;
    const change: BreakerStateChange = { platform, from, to, failureCount: this.failureCount, at: Date.now() };
    if (to === 'OPEN') change.resetTimeoutMs = this.#resetDelayMs;
    if (remote) change.remote = true;
    // Telemetry and listeners run inside opossum's emit(): nothing thrown here may escape into it.
    try {
      metrics.setBreakerState(platform, to);
      addTransitionEvent(tracer, change, to === 'OPEN' ? undefined : this.#openedBy);
    } catch (error) {
      logger.warn({ err: error, platform: printable(platform) }, 'circuit breaker telemetry failed');
    }
    events.emit('transition', change);
  }
}
