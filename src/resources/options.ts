/**
 * The options of `ResourceMonitor` and `createSystemSampler`, declared once:
 * types, checks and defaults come from here, and the config file's
 * `resources` section picks its fields from them.
 */
import * as z from 'zod';
import { fieldMeta, logger, meter, number, options, text, withMethods } from '../common/option-schema.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';
import { RESOURCES, type HealthMetrics, type ResourceName } from '../core/metrics.ts';
import type { ResourceSampler } from './readings.ts';

/** Options of `createSystemSampler`; every one is optional. */
export const SAMPLER_OPTIONS = options({
  /** A path on the filesystem whose usage is the `disk` reading; default `process.cwd()`. */
  path: text().optional(),
  /** Root of the /proc and /sys trees the sampler reads; default `/`, for tests. */
  cgroupRoot: text().default('/'),
  /** Where a resource that cannot be read is logged (at debug level); default silent. */
  logger: logger().optional(),
});

/** Options of `createSystemSampler`. */
export type SystemSamplerOptions = z.input<typeof SAMPLER_OPTIONS>;

/** A value for each of cpu, memory, disk; any may be left out. */
function perResource<T extends z.ZodType>(field: T) {
  return options(Object.fromEntries(RESOURCES.map((r) => [r, field.optional()])) as Record<ResourceName, z.ZodOptional<T>>);
}

const THRESHOLD = number({ above: 0, max: 1 });
/** A level every resource must be below to recover. */
export const RECOVER_BELOW = number({ min: 0, max: 1 });

/** Options of `ResourceMonitor`; every one is optional. */
export const RESOURCE_OPTIONS = options({
  /** Where readings come from; default `createSystemSampler` over `path` and `cgroupRoot`. */
  sampler: z
    .custom<ResourceSampler>((value) => typeof value === 'function', { error: () => 'a function' })
    .register(fieldMeta, { expected: 'a function' })
    .optional(),
  // setInterval turns longer delays into 1 ms (with a TimeoutOverflowWarning).
  /** Milliseconds between samples after `start()`; default 5000. */
  intervalMs: number({ min: 1, max: MAX_TIMER_MS, integer: true }).default(5_000),
  /** Ratio at or above which a resource degrades the monitor, in (0, 1]; default 0.8. */
  threshold: THRESHOLD.default(0.8),
  /** Per-resource overrides of `threshold`. */
  thresholds: perResource(THRESHOLD).default({}),
  /** Every resource must be below this, in [0, threshold), to recover; a number or per resource. Default 0.75 (or threshold − 0.05 when that is lower). */
  recoverBelow: z.union([RECOVER_BELOW, perResource(RECOVER_BELOW)], { error: () => 'a number or a per-resource object' }).optional(),
  /**
   * Consecutive samples all below `recoverBelow` needed to leave degraded mode; default 2.
   * As many consecutive samples cut off by `sampleTimeoutMs` leave it too: readings from a
   * sampler that hangs are stale, and must not keep the monitor slowed down for ever.
   */
  recoverSamples: number({ min: 1, integer: true }).default(2),
  /** Bound on one sample, in ms (default 5,000); until a sampler call that ran past it settles, the sampler is not called again. */
  sampleTimeoutMs: number({ min: 1, max: MAX_TIMER_MS }).default(5_000),
  path: SAMPLER_OPTIONS.shape.path,
  cgroupRoot: SAMPLER_OPTIONS.shape.cgroupRoot,
  /** Meter for the instruments when `metrics` is not given. */
  meter: meter().optional(),
  /** Instruments to write to; default `initMetrics({ meter })`. */
  metrics: withMethods<HealthMetrics>(['setSystemResource', 'setDegraded']).optional(),
  /** Default: warnings and errors only, as JSON on stderr. */
  logger: logger().optional(),
});

/** Options of `ResourceMonitor`. */
export type ResourceMonitorOptions = z.input<typeof RESOURCE_OPTIONS>;
