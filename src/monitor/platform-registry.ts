/**
 * The platforms a monitor knows: each with its check, its breaker, its last
 * result and its recent history. The dispatcher finds the platforms it
 * schedules here; a platform checked only ad hoc (`checkPlatformHealth()`)
 * is known but not scheduled.
 */
import type { Tracer } from '@opentelemetry/api';
import { PlatformCircuitBreaker } from '../breaker/circuit-breaker.ts';
import type { BreakerSettings } from '../breaker/options.ts';
import type { BreakerStateChange } from '../breaker/state.ts';
import type { Logger } from '../common/logger.ts';
import { RingBuffer } from '../common/ring-buffer.ts';
import type { HealthMetrics } from '../core/metrics.ts';
import type { PluginManager } from '../core/plugin-health.ts';
import type { CheckRun, HealthCheck, RunTarget } from './check-run.ts';
import type { Dispatchable, DispatchTargets } from './dispatcher.ts';
import type { CheckSample, HealthCheckResult } from './report.ts';

/** One platform the monitor knows. */
export interface Platform extends Dispatchable, RunTarget {
  readonly name: string;
  /** Its registered check; undefined for a platform only checked ad hoc. */
  check: HealthCheck | undefined;
  timeoutMs: number;
  /** On the schedule (registered), not only checked ad hoc. */
  scheduled: boolean;
  critical: boolean;
  /** The plugin manager that registered it, if one did. */
  manager: PluginManager | undefined;
  readonly breaker: PlatformCircuitBreaker;
  /** Stops hearing its breaker's transitions. */
  readonly unsubscribe: () => void;
  /** The scheduled check running now; ad hoc checkPlatformHealth() runs are not tracked here. */
  inFlight: CheckRun<Platform, HealthCheckResult> | undefined;
  /** Waiting in the dispatcher's queue for the concurrency cap (the dispatcher keeps it). */
  queued: boolean;
  last: HealthCheckResult | undefined;
  lastError: string | undefined;
  readonly history: RingBuffer<CheckSample>;
}

/** What every platform's breaker and history are made with. */
export interface RegistrySettings {
  /** The monitor's breaker settings, under a platform's own. */
  readonly breaker: BreakerSettings;
  /** The monitor's check timeout, until `register()` gives a platform its own. */
  readonly timeoutMs: number;
  readonly historySize: number;
  readonly metrics: HealthMetrics;
  readonly tracer: Tracer;
  readonly logger: Logger;
  /** Hears every transition of every platform's breaker. */
  readonly onTransition: (change: BreakerStateChange) => void;
}

export class PlatformRegistry implements DispatchTargets<Platform> {
  readonly #platforms = new Map<string, Platform>();
  readonly #settings: RegistrySettings;

  constructor(settings: RegistrySettings) {
    this.#settings = settings;
  }

  /** The platform called `name`, scheduled or not. */
  get(name: string): Platform | undefined {
    return this.#platforms.get(name);
  }

  /** Every platform, in the order they became known. */
  values(): IterableIterator<Platform> {
    return this.#platforms.values();
  }

  /** The scheduled platforms, in the order they became known. */
  *scheduled(): Generator<Platform> {
    for (const entry of this.#platforms.values()) if (entry.scheduled) yield entry;
  }

  /** Adds a platform with a fresh breaker (the monitor's settings, then `overrides`); not yet scheduled. */
  create(name: string, overrides: BreakerSettings = {}): Platform {
    const { breaker: defaults, metrics, tracer, logger, onTransition, timeoutMs, historySize } = this.#settings;
    const breaker = new PlatformCircuitBreaker(name, { ...defaults, ...overrides, metrics, tracer, logger });
    const entry: Platform = {
      name,
      check: undefined,
      timeoutMs,
      scheduled: false,
      critical: false,
      manager: undefined,
      breaker,
      unsubscribe: breaker.on('transition', onTransition),
      inFlight: undefined,
      queued: false,
      last: undefined,
      lastError: undefined,
      history: new RingBuffer(historySize),
    };
    this.#platforms.set(name, entry);
    return entry;
  }

  /** Puts `entry` on the schedule with its check, timeout and criticality. */
  schedule(entry: Platform, check: HealthCheck, timeoutMs: number, critical: boolean): void {
    entry.check = check;
    entry.timeoutMs = timeoutMs;
    entry.critical = critical;
    entry.scheduled = true;
  }

  /** Forgets a platform: its breaker is shut down and its series read 0. Returns it, if it was known. */
  delete(name: string): Platform | undefined {
    const entry = this.#platforms.get(name);
    if (entry === undefined) return undefined;
    this.#platforms.delete(name);
    entry.unsubscribe();
    entry.breaker.shutdown();
    this.#settings.metrics.forgetPlatform(name);
    return entry;
  }

  /** Shuts every breaker down (the monitor stopped); the platforms stay known for the last report. */
  shutdownAll(): void {
    for (const entry of this.#platforms.values()) {
      entry.unsubscribe();
      entry.breaker.shutdown();
    }
  }

  lookup(key: string): Platform | undefined {
    const entry = this.#platforms.get(key);
    return entry?.check ? entry : undefined;
  }

  isCurrent(entry: Platform): boolean {
    return entry.check !== undefined && this.#platforms.get(entry.name) === entry;
  }
}
