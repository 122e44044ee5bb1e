/** What the resource monitor reads and reports. */
import type { ResourceName } from '../core/metrics.ts';

/** One sample: utilisation ratios in [0, 1]; a resource that could not be measured is absent. */
export type ResourceReadings = Partial<Record<ResourceName, number>>;
/** Produces readings; the default ({@link createSystemSampler}) reads the real host. */
export type ResourceSampler = () => ResourceReadings | Promise<ResourceReadings>;
/** Why degraded mode was entered: the resource furthest over its threshold, its reading and that threshold. */
export interface DegradedReason { resource: ResourceName; value: number; threshold: number }
/** Passed to {@link ResourceMonitor.onChange} listeners on every mode flip. */
export interface DegradedChange {
  degraded: boolean;
  /** Set on entry; `undefined` on exit. */
  reason: DegradedReason | undefined;
  /** The latest valid reading of every resource when the flip happened. */
  readings: ResourceReadings;
  /** `Date.now()` at the flip. */
  at: number;
}
