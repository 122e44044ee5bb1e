/**
 * Degraded mode's state machine over host readings: it samples the host on
 * a timer, records `system_resources`, and tells its listeners when the
 * host passes a threshold and when it has recovered.
 */
import { Emitter, type Subscribable } from '../common/emitter.ts';
import { ConductorHealthError, OptionRangeError, OptionTypeError } from '../common/errors.ts';
import { createLibraryLogger, type Logger } from '../common/logger.ts';
import { parseOptions } from '../common/option-schema.ts';
import { isThenable } from '../common/promise.ts';
import { describeValue } from '../common/validate.ts';
import { initMetrics, RESOURCES, type HealthMetrics, type ResourceName } from '../core/metrics.ts';
import { RESOURCE_OPTIONS, type ResourceMonitorOptions } from './options.ts';
import type { DegradedChange, DegradedReason, ResourceReadings, ResourceSampler } from './readings.ts';
import { createSystemSampler } from './system-sampler.ts';

/** Events a {@link ResourceMonitor} emits. */
export interface ResourceMonitorEvents {
  [event: string]: unknown[];
  /** Every entry to and exit from degraded mode. */
  change: [DegradedChange];
}

/**
 * Samples host resources and runs the degraded-mode state machine: degraded as soon as any
 * resource reaches its threshold, healthy again only after `recoverSamples` consecutive samples
 * with every resource below `recoverBelow`. The gap between the two levels is what keeps a
 * reading hovering around the threshold from flapping the mode.
 */
export class ResourceMonitor implements Subscribable<ResourceMonitorEvents> {
  readonly #sampler: ResourceSampler;
  readonly #intervalMs: number;
  readonly #thresholds = {} as Record<ResourceName, number>;
  readonly #recoverBelow = {} as Record<ResourceName, number>;
  readonly #recoverSamples: number;
  readonly #sampleTimeoutMs: number;
  readonly #metrics: HealthMetrics;
  readonly #logger: Logger;
  readonly #events: Emitter<ResourceMonitorEvents>;
  #readings: ResourceReadings = {};
  #degraded = false;
  #reason: DegradedReason | undefined;
  #belowCount = 0;
  /** Consecutive samples cut off by the bound (or skipped behind a call that was). */
  #hungCount = 0;
  /** A sampler call that outlived its bound and has still not settled. */
  #hung: Promise<unknown> | undefined;
  #inflight: Promise<ResourceReadings> | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** Validates `options` (throwing a TypeError/RangeError that names the option and value); starts nothing. */
  constructor(options?: ResourceMonitorOptions) {
    const opts = parseOptions(RESOURCE_OPTIONS, 'resource monitor', options);
    this.#intervalMs = opts.intervalMs;
    this.#recoverSamples = opts.recoverSamples;
    this.#sampleTimeoutMs = opts.sampleTimeoutMs;
    const { recoverBelow } = opts;
    const recover = typeof recoverBelow === 'object' ? recoverBelow : undefined;
    for (const r of RESOURCES) {
      const t = opts.thresholds[r] ?? opts.threshold;
      this.#thresholds[r] = t;
      const name = recover ? `recoverBelow.${r}` : 'recoverBelow';
      const rb = (typeof recoverBelow === 'number' ? recoverBelow : recover?.[r]) ?? Math.max(0, Math.min(0.75, t - 0.05));
      if (rb >= t) throw new OptionRangeError('EOPTIONRANGE', `conductor-health: option "${name}" must be below the ${r} threshold ${t}, got ${describeValue(rb)}`);
      this.#recoverBelow[r] = rb;
    }
    if (opts.metrics !== undefined && opts.meter !== undefined) throw new OptionTypeError('EOPTIONTYPE', 'conductor-health: pass either "metrics" or "meter", not both');
    this.#metrics = opts.metrics ?? initMetrics({ meter: opts.meter });
    this.#logger = opts.logger ?? createLibraryLogger();
    this.#events = new Emitter((err) => this.#logger.error({ err }, 'conductor-health: degraded-mode listener threw'));
    this.#sampler = opts.sampler ?? createSystemSampler({ path: opts.path, cgroupRoot: opts.cgroupRoot, logger: this.#logger });
  }

  /** Whether the monitor is in degraded mode. */
  isDegraded(): boolean { return this.#degraded; }

  /** The latest valid reading of each resource (a copy); a resource never read validly is absent. */
  lastReadings(): ResourceReadings { return { ...this.#readings }; }

  /** What caused the current degraded mode, or undefined while healthy. */
  reason(): DegradedReason | undefined { return this.#reason && { ...this.#reason }; }

  /** Subscribes to `change`: every entry to and exit from degraded mode. Returns the function that unsubscribes. */
  on<K extends keyof ResourceMonitorEvents>(event: K, listener: (...args: ResourceMonitorEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Unsubscribes `listener`. */
  off<K extends keyof ResourceMonitorEvents>(event: K, listener: (...args: ResourceMonitorEvents[K]) => void): void {
    this.#events.off(event, listener);
  }

  /** Listeners of `event` now. */
  listenerCount(event: keyof ResourceMonitorEvents): number {
    return this.#events.listenerCount(event);
  }

  /** Samples every `intervalMs`, the first time at once, on an unref'ed timer; a second call does nothing. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#metrics.setDegraded(this.#degraded);
    this.#timer = setInterval(() => void this.sample(), this.#intervalMs);
    this.#timer.unref();
    void this.sample();
  }

  /**
   * Stops the timer; a sample already running finishes but no further one starts.
   * Resolves once that sample has finished (and logged what it had to), at once when none runs.
   */
  stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#inflight === undefined ? Promise.resolve() : this.#inflight.then(() => {});
  }

  /**
   * Takes one sample, records it and updates the mode; resolves to the valid readings of this
   * sample. Never rejects: a failing sampler or invalid value is logged and ignored. A call while
   * a sample is running joins it, so samples never overlap.
   */
  sample(): Promise<ResourceReadings> {
    this.#inflight ??= this.#run()
      .catch((err: unknown) => {
        // Only a broken metrics object or logger gets here; the sampler's own errors are handled in #run.
        try { this.#logger.error({ err }, 'conductor-health: resource sample failed'); } catch { /* nowhere left to report it */ }
        return {};
      })
      .finally(() => { this.#inflight = undefined; });
    return this.#inflight;
  }

  async #run(): Promise<ResourceReadings> {
    if (this.#hung !== undefined) {
      this.#logger.warn({ sampleTimeoutMs: this.#sampleTimeoutMs }, 'conductor-health: the previous resource sample has still not settled; sample skipped');
      return this.#hungSample();
    }
    let raw: unknown;
    try {
      raw = await this.#bounded(this.#sampler());
    } catch (err) {
      this.#logger.warn({ err }, 'conductor-health: resource sampler failed; sample ignored');
      return this.#hung === undefined ? {} : this.#hungSample();
    }
    this.#hungCount = 0;
    const fresh = this.#validate(raw);
    if (Object.keys(fresh).length === 0) return fresh;
    Object.assign(this.#readings, fresh);
    for (const [resource, value] of Object.entries(fresh) as [ResourceName, number][]) this.#metrics.setSystemResource(resource, value);
    this.#evaluate();
    return fresh;
  }

  /** The sampler's answer, or a rejection once it takes longer than sampleTimeoutMs (the call is then remembered as hung). */
  #bounded(answer: ResourceReadings | Promise<ResourceReadings>): Promise<ResourceReadings> {
    if (!isThenable(answer)) return Promise.resolve(answer);
    const call = Promise.resolve(answer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#hung = call;
        const settled = () => {
          if (this.#hung === call) this.#hung = undefined;
        };
        call.then(settled, settled);
        reject(new ConductorHealthError('ESAMPLERTIMEOUT', `resource sampler did not settle within ${this.#sampleTimeoutMs} ms`));
      }, this.#sampleTimeoutMs);
      timer.unref();
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  /** A sample the bound cut off; enough of them in a row end degraded mode (the readings behind it are stale). */
  #hungSample(): ResourceReadings {
    this.#hungCount += 1;
    if (this.#degraded && this.#hungCount >= this.#recoverSamples) {
      this.#logger.warn({ samples: this.#hungCount }, 'conductor-health: the resource sampler does not answer; leaving degraded mode');
      this.#readings = {};
      this.#flip(false, undefined);
    }
    return {};
  }

  #validate(raw: unknown): ResourceReadings {
    const valid: ResourceReadings = {};
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      this.#logger.warn({ readings: describeValue(raw) }, 'conductor-health: resource sampler returned a non-object; sample ignored');
      return valid;
    }
    for (const [key, value] of Object.entries(raw)) {
      if (value === undefined) continue;
      if ((RESOURCES as readonly string[]).includes(key) && typeof value === 'number' && value >= 0 && value <= 1) {
        valid[key as ResourceName] = value;
      } else {
        this.#logger.warn({ resource: key, value: describeValue(value) }, 'conductor-health: invalid resource reading ignored (expected a ratio in [0, 1])');
      }
    }
    return valid;
  }

  #evaluate(): void {
    // Judged on the latest valid value of every resource, so a resource whose reading failed this time still holds recovery back.
    const entries = Object.entries(this.#readings) as [ResourceName, number][];
    if (!this.#degraded) {
      let worst: DegradedReason | undefined;
      for (const [resource, value] of entries) {
        const threshold = this.#thresholds[resource];
        if (value >= threshold && (!worst || value - threshold > worst.value - worst.threshold)) worst = { resource, value, threshold };
      }
      if (worst) this.#flip(true, worst);
      return;
    }
    if (!entries.every(([resource, value]) => value < this.#recoverBelow[resource])) this.#belowCount = 0;
    else if (++this.#belowCount >= this.#recoverSamples) this.#flip(false, undefined);
  }

  #flip(degraded: boolean, reason: DegradedReason | undefined): void {
    this.#degraded = degraded;
    this.#reason = reason;
    this.#belowCount = 0;
    this.#metrics.setDegraded(degraded);
    const change: DegradedChange = { degraded, reason: reason && { ...reason }, readings: this.lastReadings(), at: Date.now() };
    this.#logger[degraded ? 'warn' : 'info']({ reason, readings: change.readings }, degraded ? 'conductor-health: entering degraded mode' : 'conductor-health: leaving degraded mode');
    this.#events.emit('change', change);
  }
}
