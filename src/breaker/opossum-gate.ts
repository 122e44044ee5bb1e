/**
 * opossum 10 as the breaker uses it: its state machine's transitions, its
 * reset timer and its half-open gate, which lets exactly one trial through.
 * Its percentage rule never fires (the breaker counts failures itself), and
 * it is tuned to cost nothing per call: no snapshots, no latency sorting,
 * one shared rotation tick.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { ROTATE_EVERY_MS } from './rotation.ts';
import type { Trial } from './trial.ts';

/** The subset of opossum 10 used here (it ships no types; `@types/opossum` describes v8). */
interface Opossum {
  readonly pendingClose: boolean;
  /** Read by opossum each time it opens, for its reset timer. */
  readonly options: { resetTimeout: number };
  fire(task: () => unknown): Promise<unknown>;
  open(): void;
  close(): void;
  shutdown(): void;
  on(event: 'open' | 'halfOpen' | 'close', listener: () => void): unknown;
}
type OpossumConstructor = new (action: (task: () => unknown) => unknown, options: Record<string, unknown>) => Opossum;
const Opossum = createRequire(import.meta.url)('opossum') as OpossumConstructor;

const runTask = (task: () => unknown): unknown => task();
const ignore = (): void => {};

/** What the gate tells its breaker: each of opossum's transitions, as it happens. */
export interface GateTransitions {
  onOpen(): void;
  onHalfOpen(): void;
  onClose(): void;
}

/** One breaker's opossum. */
export class OpossumGate {
  #opossum: Opossum;
  readonly #options: Record<string, unknown>;
  readonly #transitions: GateTransitions;

  /** @param rotation this breaker's tick of the shared rotation (see rotation.ts) */
  constructor(platform: string, resetTimeoutMs: number, rotation: EventEmitter, transitions: GateTransitions) {
    this.#transitions = transitions;
    this.#options = {
      name: platform,
      timeout: false,
      resetTimeout: resetTimeoutMs,
      // Its percentage rule must never fire: the breaker counts failures. In half-open its fail() opens regardless.
      volumeThreshold: Number.MAX_SAFE_INTEGER,
      rollingCountTimeout: ROTATE_EVERY_MS,
      rollingCountBuckets: 1,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: rotation,
    };
    this.#opossum = this.#create(undefined);
  }

  /**
   * The wait of the next opening, in ms: opossum reads its `resetTimeout`
   * option each time it opens, so setting it before an action that may open
   * (a failure at the threshold, a failed trial, `forceOpen()`) gives that
   * opening its own wait (the backoff).
   */
  set nextResetTimeoutMs(ms: number) {
    this.#options.resetTimeout = ms;
    this.#opossum.options.resetTimeout = ms;
  }

  /** True while HALF_OPEN with the trial not yet claimed. */
  get trialFree(): boolean {
    return this.#opossum.pendingClose;
  }

  /** Opens (from CLOSED or HALF_OPEN) and starts the reset timer; `onOpen` is called before this returns. */
  open(): void {
    this.#opossum.open();
  }

  /** Closes; `onClose` is called before this returns. */
  close(): void {
    this.#opossum.close();
  }

  /**
   * Claims the half-open trial: opossum rejects every later caller until
   * the trial settles, and closes or re-opens inside its settlement.
   */
  claim(trial: Trial): void {
    // fire() turns pendingClose off.
    this.#opossum.fire(() => trial).then(undefined, ignore);
  }

  /**
   * Replaces opossum with one restored (its documented `state` option) as
   * half-open with the gate armed, without an event. Used when its reset
   * timer is late, and to hand back a trial that ended without a verdict:
   * opossum itself can neither move to half-open early nor re-arm its gate.
   */
  rearmHalfOpen(): void {
    this.restore('HALF_OPEN');
  }

  /**
   * Replaces opossum with one restored, without an event, as CLOSED, OPEN
   * (its reset timer started afresh, with {@link nextResetTimeoutMs}) or
   * HALF_OPEN with the gate armed. A breaker that follows a shared state
   * moves this way; an OPEN gate also stands for a HALF_OPEN whose trial is
   * another process's (the gate then lets nobody through).
   */
  restore(state: 'CLOSED' | 'OPEN' | 'HALF_OPEN'): void {
    this.#opossum.shutdown();
    this.#opossum = this.#create({ closed: state === 'CLOSED', halfOpen: state === 'HALF_OPEN' });
  }

  /** Stops opossum and its timers for good. */
  shutdown(): void {
    this.#opossum.shutdown();
  }

  #create(state: Record<string, unknown> | undefined): Opossum {
    const opossum = new Opossum(runTask, state ? { ...this.#options, state } : this.#options);
    opossum.on('open', this.#transitions.onOpen);
    opossum.on('halfOpen', this.#transitions.onHalfOpen);
    opossum.on('close', this.#transitions.onClose);
    return opossum;
  }
}
