import type { Meter } from '@opentelemetry/api';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../common/logger.ts';
import { METRIC_NAMES } from '../core/metrics.ts';

/** The attribute the OpenTelemetry SDK puts on the one series that collects what passed an instrument's cardinality limit. */
const OVERFLOW_ATTRIBUTE = 'otel.metric.overflow';

/**
 * Watches collections for series that went to `otel_metric_overflow`: the
 * first time an instrument overflows it is logged (once) and
 * `health_metric_overflow{metric}` reads 1 for it from then on (the SDK keeps
 * the overflow series until the process restarts).
 *
 * `limits` maps each instrument to its cardinality limit; only an instrument
 * with at least that many series can have overflowed, so a scrape without
 * overflow looks at no data point.
 */
export function watchOverflow(meter: Meter, limits: ReadonlyMap<string, number>, logger: Logger, option: string): (collected: ResourceMetrics) => void {
  const overflowed = new Set<string>();
  meter
    .createObservableGauge(METRIC_NAMES.overflow, {
      description: 'Per instrument of this package: 1 once its series passed the cardinality limit and new ones are being lost (raise maxPlatforms).',
    })
    .addCallback((result) => {
      for (const name of limits.keys()) result.observe(overflowed.has(name) ? 1 : 0, { metric: name });
    });
  return (collected) => {
    for (const scope of collected.scopeMetrics) {
      for (const metric of scope.metrics) {
        const name = metric.descriptor.name;
        const limit = limits.get(name);
        if (limit === undefined || overflowed.has(name) || metric.dataPoints.length < limit) continue;
        if (!metric.dataPoints.some((point) => point.attributes[OVERFLOW_ATTRIBUTE] === true)) continue;
        overflowed.add(name);
        logger.warn(
          { metric: name, limit },
          `conductor-health: ${name} has more series than its limit of ${limit}: further series go to otel_metric_overflow and are lost; raise ${option}`,
        );
      }
    }
  };
}
