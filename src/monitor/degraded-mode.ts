/**
 * The monitor's side of degraded mode: it follows a resource monitor (its
 * own, or one the caller shares), and on every flip stretches the schedule,
 * records a `health_monitor.mode_change` span and tells the monitor's
 * listeners.
 */
import type { Tracer } from '@opentelemetry/api';
import type { Emitter } from '../common/emitter.ts';
import type { Logger } from '../common/logger.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';
import type { HealthMetrics } from '../core/metrics.ts';
import type { DegradedChange, DegradedReason } from '../resources/readings.ts';
import { ResourceMonitor } from '../resources/resource-monitor.ts';
import type { Dispatchable, Dispatcher } from './dispatcher.ts';
import type { HealthMonitorEvents } from './report.ts';

/** What degraded mode acts on. */
export interface DegradedModeSettings {
  /** The `resources` option: a resource monitor to follow, false for none, undefined for one of the monitor's own. */
  readonly resources: ResourceMonitor | false | undefined;
  /** The monitor's interval: its own resource monitor samples this often. */
  readonly intervalMs: number;
  readonly tracer: Tracer;
  readonly metrics: HealthMetrics;
  readonly logger: Logger;
  readonly events: Emitter<HealthMonitorEvents>;
  /** Stretches the schedule (the monitor's dispatcher). */
  readonly dispatcher: Pick<Dispatcher<Dispatchable>, 'setDegraded'>;
}

export class DegradedMode {
  /** Why the monitor is in degraded mode now; undefined when it is not. */
  reason: DegradedReason | undefined;
  readonly #resources: ResourceMonitor | undefined;
  /** The monitor made the resource monitor itself, so stop() stops it; one passed in is the caller's (and may be shared). */
  readonly #owned: boolean;
  readonly #settings: DegradedModeSettings;
  #unsubscribe: (() => void) | undefined;

  constructor(settings: DegradedModeSettings) {
    this.#settings = settings;
    const { resources, intervalMs, metrics, logger } = settings;
    this.#owned = resources === undefined;
    this.#resources =
      resources === false ? undefined : (resources ?? new ResourceMonitor({ intervalMs: Math.min(MAX_TIMER_MS, Math.max(1, Math.round(intervalMs))), metrics, logger }));
  }

  /** Follows the resource monitor and starts it (a no-op if it runs). */
  start(): void {
    const resources = this.#resources;
    if (resources === undefined) return;
    this.#unsubscribe = resources.on('change', (change) => this.#apply(change));
    // A shared resource monitor may be degraded already: no change will come to say so.
    const reason = resources.reason();
    if (reason) this.#apply({ degraded: true, reason, readings: resources.lastReadings(), at: Date.now() });
    resources.start();
  }

  /** Stops following; stops the resource monitor only if it is the monitor's own, resolving once its last sample is done. */
  stop(): Promise<void> | undefined {
    this.#unsubscribe?.();
    return this.#owned ? this.#resources?.stop() : undefined;
  }

  #apply(change: DegradedChange): void {
    this.reason = change.degraded ? change.reason : undefined;
    // A root: the sampler's timer may carry the context of whatever span was active at start().
    const span = this.#settings.tracer.startSpan('health_monitor.mode_change', { root: true });
    const { reason } = change;
    // The resource monitor logs the flip itself (one warning in, one info out).
    if (change.degraded) {
      span.addEvent('health_monitor.degraded', reason ? { 'health_monitor.resource': reason.resource, 'health_monitor.reading': reason.value, 'health_monitor.threshold': reason.threshold } : {});
    } else {
      span.addEvent('health_monitor.recovered', Object.fromEntries(Object.entries(change.readings).map(([k, v]) => [`health_monitor.reading.${k}`, v])));
    }
    span.end();
    this.#settings.dispatcher.setDegraded(change.degraded);
    this.#settings.events.emit('degraded', change);
  }
}
