/**
 * The options of `startTelemetry`, declared once: types, checks and
 * defaults come from here, and the config file's `telemetry` section picks
 * its fields from it. The variables that stand in for a missing value
 * (`OTEL_EXPORTER_PROMETHEUS_*`, `CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO`,
 * `OTEL_EXPORTER_OTLP_*`) are read, through common/env.ts, where they are
 * resolved (start-telemetry.ts, otlp.ts): strings, URLs and ratios whose
 * precedence the specification defines, not plain numbers.
 */
import * as z from 'zod';
import { MAX_TIMER_MS } from '../common/validate.ts';
import { DEFAULT_MAX_ERROR_TYPES } from '../core/metrics.ts';
import { HTTP_SERVER_DEFAULTS } from '../http/server.ts';
import type { Logger } from '../common/logger.ts';
import { OTLP_PROTOCOLS } from './otlp.ts';
import { boolean, fieldMeta, number, options, text, withMethods } from '../common/option-schema.ts';

/** The groups `@opentelemetry/instrumentation-host-metrics` knows. */
export const HOST_METRIC_GROUPS = ['system.cpu', 'system.memory', 'system.network', 'process.cpu', 'process.memory'] as const;
/** The groups `@opentelemetry/instrumentation-host-metrics` knows. */
export type HostMetricGroup = (typeof HOST_METRIC_GROUPS)[number];

function oneOf<T extends readonly [string, ...string[]]>(values: T) {
  const expected = `one of ${values.join(', ')}`;
  return z.enum(values, { error: () => expected }).register(fieldMeta, { expected });
}

const HOST_METRICS_EXPECTED = `false or a list of ${HOST_METRIC_GROUPS.join(', ')}`;
/** A connection bound of the HTTP server, as `HTTP_SERVER_DEFAULTS` sets it. */
const serverBound = (key: keyof typeof HTTP_SERVER_DEFAULTS) => number({ min: 1, max: MAX_TIMER_MS, integer: true }).default(HTTP_SERVER_DEFAULTS[key]);

/** Options of `startTelemetry`. Every one is optional. */
export const TELEMETRY_OPTIONS = options({
  /** `service.name`; default `OTEL_SERVICE_NAME`, else `conductor-health`. */
  serviceName: text().optional(),
  /** `service.version`; default this package's version. */
  serviceVersion: text().optional(),
  /** Address of `/metrics`; default `OTEL_EXPORTER_PROMETHEUS_HOST`, else `127.0.0.1`. */
  prometheusHost: text().optional(),
  /** Port of `/metrics` (0 picks a free one); default `OTEL_EXPORTER_PROMETHEUS_PORT`, else 9464. */
  prometheusPort: number({ min: 0, max: 65_535, integer: true }).optional(),
  /** Serve `/metrics` over HTTP (default true); false when the app mounts `getMetricsRegistry()` itself. */
  startServer: boolean().default(true),
  /** OTLP base URL (`/v1/traces` is appended over HTTP); default the `OTEL_EXPORTER_OTLP_*` variables; none means no span export. */
  otlpEndpoint: text().optional(),
  /** OTLP transport; default `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`. */
  otlpProtocol: oneOf(OTLP_PROTOCOLS).optional(),
  /**
   * Share (0 to 1) of successful checks whose span is exported; failed, timed-out and rejected
   * checks and breaker transitions always are. Noted on the tracer provider for every monitor,
   * which decides when a check starts. Default `CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO`, else 1.
   */
  successSpanRatio: number({ min: 0, max: 1 }).optional(),
  /** Platforms to size the metric cardinality limits for (default 10,000); a full turnover of them between two scrapes never overflows. */
  maxPlatforms: number({ min: 1, integer: true }).default(10_000),
  /** Distinct `error_type` values per platform the limits are sized for, and the instruments' default (default 10). */
  maxErrorTypes: number({ min: 0, integer: true }).default(DEFAULT_MAX_ERROR_TYPES),
  /** Where a metric overflow or an unreachable collector is reported; default warnings as JSON lines on stderr. */
  logger: withMethods<Logger>(['debug', 'info', 'warn', 'error']).optional(),
  /** Largest number of spans waiting for export; past it new spans are dropped (default 2,048). */
  maxQueueSize: number({ min: 1, integer: true }).default(2_048),
  // setTimeout turns longer delays into 1 ms: the bound would end shutdown at once.
  /** Upper bound of `shutdown()`, including the last span export (default 5,000 ms). */
  shutdownTimeoutMs: number({ min: 1, max: MAX_TIMER_MS }).default(5_000),
  /** Host metrics groups to collect; default CPU, memory and process (network spawns a shell per scrape). */
  hostMetrics: z
    .custom<false | HostMetricGroup[]>((v) => v === false || (Array.isArray(v) && v.every((g) => (HOST_METRIC_GROUPS as readonly unknown[]).includes(g))), {
      error: () => HOST_METRICS_EXPECTED,
    })
    .register(fieldMeta, { expected: HOST_METRICS_EXPECTED })
    .default((): HostMetricGroup[] => ['system.cpu', 'system.memory', 'process.cpu', 'process.memory']),
  /** Connections the HTTP server serves at once; more are closed as they arrive (default 32). */
  maxConnections: serverBound('maxConnections'),
  /** Time a connection has to send its request; an idle new connection is dropped then (default 5,000 ms). */
  headersTimeoutMs: serverBound('headersTimeoutMs'),
  /** Time an idle keep-alive connection is kept (default 5,000 ms). */
  keepAliveTimeoutMs: serverBound('keepAliveTimeoutMs'),
  /** Time an ended response has to reach the client before its socket is destroyed (default 10,000 ms). */
  writeTimeoutMs: serverBound('writeTimeoutMs'),
});

/** Options of `startTelemetry`. Every one is optional. */
export type TelemetryOptions = z.input<typeof TELEMETRY_OPTIONS>;
