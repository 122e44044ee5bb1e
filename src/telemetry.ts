import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { HostMetricsInstrumentation } from '@opentelemetry/instrumentation-host-metrics';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { DEFAULT_MAX_ERROR_TYPES, MAX_TIMER_MS, checkKnownKeys, checkMethods, envNumber, checkNumber, checkOptionsObject, checkString, describeValue } from './config.ts';
import { ExpositionSerializer } from './exposition.ts';
import { EXPOSITION_CONTENT_TYPE, scrapeSource } from './scrape.ts';
import { HTTP_SERVER_BOUND_KEYS, HTTP_SERVER_DEFAULTS, closeServer, listenBounded, type HttpServerBounds } from './http-server.ts';
import type { RequestHandler } from './health-endpoint.ts';
import { createLibraryLogger, type Logger } from './logger.ts';
import { DURATION_BUCKETS_SECONDS, METRIC_NAMES, SIZED_MAX_ERROR_TYPES, seriesPerPlatform } from './metrics.ts';
import { OTLP_PROTOCOLS, createTraceExporter, otlpTraceSettings, type OtlpProtocol } from './otlp.ts';
import { watchOverflow } from './overflow.ts';
import { SuccessSpanFilter, ratioFromEnv, samplerFromEnv } from './sampling.ts';
import { PACKAGE_VERSION } from './version.ts';

/** What `/metrics` serves: the Prometheus exposition text of the whole meter provider. */
export interface MetricsRegistry {
  /** The Content-Type to send with {@link MetricsRegistry.metrics}. */
  readonly contentType: string;
  /** Collects every instrument (host metrics included) and renders the exposition text. */
  metrics(): Promise<string>;
}

/** Options of {@link startTelemetry}. Every one is optional. */
export interface TelemetryOptions {
  /** `service.name`; default `OTEL_SERVICE_NAME`, else `conductor-health`. */
  serviceName?: string;
  /** `service.version`; default this package's version. */
  serviceVersion?: string;
  /** Address of `/metrics`; default `OTEL_EXPORTER_PROMETHEUS_HOST`, else `127.0.0.1`. */
  prometheusHost?: string;
  /** Port of `/metrics` (0 picks a free one); default `OTEL_EXPORTER_PROMETHEUS_PORT`, else 9464. */
  prometheusPort?: number;
  /** Serve `/metrics` over HTTP (default true); false when the app mounts {@link getMetricsRegistry} itself. */
  startServer?: boolean;
  /** OTLP base URL (`/v1/traces` is appended over HTTP); default the `OTEL_EXPORTER_OTLP_*` variables; none means no span export. */
  otlpEndpoint?: string;
  /** OTLP transport; default `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`. */
  otlpProtocol?: OtlpProtocol;
  /**
   * Share (0 to 1) of successful checks whose span is exported; failed, timed-out and rejected
   * checks and breaker transitions always are. Default `CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO`, else 1.
   */
  successSpanRatio?: number;
  /** Platforms to size the metric cardinality limits for (default 10,000); a full turnover of them between two scrapes never overflows. */
  maxPlatforms?: number;
  /** Distinct `error_type` values per platform the limits are sized for, and the instruments' default (default 10). */
  maxErrorTypes?: number;
  /** Where a metric overflow or an unreachable collector is reported; default warnings as JSON lines on stderr. */
  logger?: Logger;
  /** Largest number of spans waiting for export; past it new spans are dropped (default 2,048). */
  maxQueueSize?: number;
  /** Upper bound of `shutdown()`, including the last span export (default 5,000 ms). */
  shutdownTimeoutMs?: number;
  /** Host metrics groups to collect; default CPU, memory and process (network spawns a shell per scrape). */
  hostMetrics?: false | HostMetricGroup[];
  /** Connections the HTTP server serves at once; more are closed as they arrive (default 32). */
  maxConnections?: number;
  /** Time a connection has to send its request; an idle new connection is dropped then (default 5,000 ms). */
  headersTimeoutMs?: number;
  /** Time an idle keep-alive connection is kept (default 5,000 ms). */
  keepAliveTimeoutMs?: number;
  /** Time an ended response has to reach the client before its socket is destroyed (default 10,000 ms). */
  writeTimeoutMs?: number;
}

/** The groups `@opentelemetry/instrumentation-host-metrics` knows. */
export type HostMetricGroup = 'system.cpu' | 'system.memory' | 'system.network' | 'process.cpu' | 'process.memory';
const HOST_METRIC_GROUPS: readonly HostMetricGroup[] = ['system.cpu', 'system.memory', 'system.network', 'process.cpu', 'process.memory'];
const DEFAULT_HOST_METRIC_GROUPS: HostMetricGroup[] = ['system.cpu', 'system.memory', 'process.cpu', 'process.memory'];

const OPTION_KEYS = [
  'serviceName', 'serviceVersion', 'prometheusHost', 'prometheusPort', 'startServer', 'otlpEndpoint', 'otlpProtocol',
  'successSpanRatio', 'maxPlatforms', 'maxErrorTypes', 'maxQueueSize', 'shutdownTimeoutMs', 'hostMetrics', 'logger', ...HTTP_SERVER_BOUND_KEYS,
];

/** What {@link startTelemetry} returns. */
export interface Telemetry {
  /** The exposition text source, also returned by {@link getMetricsRegistry}. */
  readonly registry: MetricsRegistry;
  /** `http://host:port/metrics` when the server runs, else undefined. */
  readonly metricsUrl: string | undefined;
  /** The resource every span and metric carries. */
  readonly resource: Resource;
  /** True when spans are exported over OTLP. */
  readonly exportingSpans: boolean;
  /** Serves `handler` at `path` beside `/metrics` (the command mounts `/healthz` and `/readyz` this way). */
  route(path: string, handler: RequestHandler): void;
  /** Flushes spans (bounded), closes the HTTP server and unregisters the globals it set. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * The registry behind the globally registered meter provider. Kept on the
 * provider itself so the only global state is the one the OpenTelemetry API holds.
 */
const REGISTRY = Symbol('conductor-health.registry');
type ProviderWithRegistry = MeterProvider & { [REGISTRY]?: MetricsRegistry; [SIZED_MAX_ERROR_TYPES]?: number };

/**
 * Returns the exposition-text registry of the telemetry that
 * {@link startTelemetry} registered, for serving `/metrics` from the
 * conductor's own HTTP server (as prom-client users call `register.metrics()`).
 */
export function getMetricsRegistry(): MetricsRegistry {
  const registry = (metrics.getMeterProvider() as ProviderWithRegistry)[REGISTRY];
  if (registry === undefined) {
    throw new Error('conductor-health: no metrics registry: call startTelemetry() first');
  }
  return registry;
}

/**
 * Builds the OpenTelemetry SDK in one place — meter provider with the
 * Prometheus exporter, tracer provider with OTLP export, host metrics — and
 * registers it globally. Library modules never build SDK objects; an app that
 * already configured OpenTelemetry skips this and passes its own meter/tracer.
 */
export async function startTelemetry(options?: TelemetryOptions): Promise<Telemetry> {
  const opts = resolveOptions(options);
  if ((metrics.getMeterProvider() as ProviderWithRegistry)[REGISTRY] !== undefined) {
    // The OpenTelemetry API keeps the first global it is given: a second SDK would
    // silently record nowhere, and its shutdown() would unregister the first.
    throw new Error(
      'conductor-health: startTelemetry() was already called and its telemetry is running; call its shutdown() first, or reuse it (getMetricsRegistry() returns its registry)',
    );
  }
  const { otlp, sampler } = opts;
  // Later merges win: defaults, then the environment (OTEL_SERVICE_NAME,
  // OTEL_RESOURCE_ATTRIBUTES), then what the code passed.
  const resource = resourceFromAttributes({
    'service.name': 'conductor-health',
    'service.version': PACKAGE_VERSION,
    'service.instance.id': randomUUID(),
  })
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({
      ...(opts.serviceName === undefined ? {} : { 'service.name': opts.serviceName }),
      ...(opts.serviceVersion === undefined ? {} : { 'service.version': opts.serviceVersion }),
    }));

  // The exporter's own server cannot pick a free port or name the variable in its
  // error, so it only collects; the package serves `/metrics` itself.
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  // Same bytes as the stock PrometheusSerializer, but series text is kept between
  // scrapes: ~20× faster at 10,000 platforms (bench/scrape.ts).
  const serializer = new ExpositionSerializer();
  const scrapes = scrapeSource(async () => {
    const { resourceMetrics } = await exporter.collect();
    checkOverflow(resourceMetrics);
    return serializer.serialize(resourceMetrics);
  });
  const registry: MetricsRegistry = { contentType: EXPOSITION_CONTENT_TYPE, metrics: () => scrapes.text() };
  const limits = cardinalityLimits(opts.maxPlatforms, opts.maxErrorTypes);
  const meterProvider: ProviderWithRegistry = new MeterProvider({
    resource,
    readers: [exporter],
    views: metricViews(limits),
  });
  meterProvider[REGISTRY] = registry;
  meterProvider[SIZED_MAX_ERROR_TYPES] = opts.maxErrorTypes;
  const checkOverflow = watchOverflow(meterProvider.getMeter('conductor-health/telemetry'), limits, opts.logger, `maxPlatforms (${opts.maxPlatforms})`);

  let server: Server | undefined;
  let metricsUrl: string | undefined;
  const routes: Routes = new Map([['/metrics', scrapes.handle]]);
  if (opts.startServer) {
    try {
      server = await listen(routes, opts.prometheusHost, opts.prometheusPort, opts.http, opts.portFrom);
    } catch (error) {
      await meterProvider.shutdown();
      throw error;
    }
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : opts.prometheusPort;
    metricsUrl = `http://${opts.prometheusHost.includes(':') ? `[${opts.prometheusHost}]` : opts.prometheusHost}:${port}/metrics`;
  }

  const spanProcessors: SpanProcessor[] = [];
  if (otlp) {
    const batch = new BatchSpanProcessor({
      exporter: await createTraceExporter(otlp, opts.logger),
      maxQueueSize: opts.maxQueueSize,
      maxExportBatchSize: Math.min(512, opts.maxQueueSize),
      exportTimeoutMillis: exportTimeout(opts.shutdownTimeoutMs),
    });
    spanProcessors.push(opts.successSpanRatio < 1 ? new SuccessSpanFilter(batch, opts.successSpanRatio) : batch);
  }
  const tracerProvider = new TracerProvider({ resource, spanProcessors, ...(sampler ? { sampler } : {}) });

  const contextManager = new AsyncLocalStorageContextManager().enable();
  const globals: Record<string, readonly [registered: boolean, unregister: () => void]> = {
    'context manager': [context.setGlobalContextManager(contextManager), () => context.disable()],
    propagator: [propagation.setGlobalPropagator(new W3CTraceContextPropagator()), () => propagation.disable()],
    // OTEL_SDK_DISABLED: the API stays a no-op for both signals; /healthz and /readyz still answer.
    ...(opts.sdkDisabled
      ? {}
      : {
          'tracer provider': [trace.setGlobalTracerProvider(tracerProvider), () => trace.disable()],
          'meter provider': [metrics.setGlobalMeterProvider(meterProvider), () => metrics.disable()],
        }),
  };
  const taken = Object.entries(globals).filter(([, [registered]]) => !registered);
  if (taken.length > 0) {
    // Another OpenTelemetry SDK got there first: ours would record nowhere.
    for (const [, [registered, unregister]] of Object.entries(globals)) if (registered) unregister();
    contextManager.disable();
    await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown(), server ? closeServer(server) : undefined]);
    throw new Error(
      `conductor-health: another OpenTelemetry ${taken.map(([name]) => name).join(', ')} is already registered; skip startTelemetry() and pass meter and tracer to the monitor instead`,
    );
  }

  let hostMetrics: HostMetricsInstrumentation | undefined;
  if (opts.hostMetrics.length > 0 && !opts.sdkDisabled) {
    hostMetrics = new HostMetricsInstrumentation({ enabled: false, metricGroups: opts.hostMetrics });
    hostMetrics.setMeterProvider(meterProvider);
    hostMetrics.enable();
  }

  let stopping: Promise<void> | undefined;
  return {
    registry,
    metricsUrl,
    resource,
    exportingSpans: otlp !== undefined,
    route(path, handler) {
      routes.set(path, handler);
    },
    shutdown() {
      stopping ??= (async () => {
        hostMetrics?.disable();
        // Unregister first so nothing new is recorded into providers that are closing.
        for (const [, unregister] of Object.values(globals)) unregister();
        const closing = Promise.allSettled([
          tracerProvider.shutdown(),
          meterProvider.shutdown(),
          server ? closeServer(server) : Promise.resolve(),
        ]);
        await withDeadline(closing, opts.shutdownTimeoutMs);
      })();
      return stopping;
    },
  };
}

function resolveOptions(options: TelemetryOptions | undefined) {
  const opts = checkOptionsObject('telemetry', options);
  checkKnownKeys('telemetry', opts, OPTION_KEYS);
  const env = process.env;
  const PORT = { min: 0, max: 65535, integer: true };
  // Code wins over the environment, which wins over the default (README: one rule for every setting).
  const envPort = opts.prometheusPort === undefined ? envNumber('OTEL_EXPORTER_PROMETHEUS_PORT', PORT) : undefined;
  const portFrom: PortSource = opts.prometheusPort !== undefined ? 'option' : envPort !== undefined ? 'env' : 'default';
  const prometheusPort = portFrom === 'option' ? checkNumber('prometheusPort', opts.prometheusPort, PORT) : (envPort ?? 9464);
  const hostMetrics = opts.hostMetrics === undefined ? DEFAULT_HOST_METRIC_GROUPS : opts.hostMetrics;
  if (hostMetrics !== false && (!Array.isArray(hostMetrics) || hostMetrics.some((g) => !HOST_METRIC_GROUPS.includes(g)))) {
    throw new TypeError(
      `conductor-health: option "hostMetrics" must be false or a list of ${HOST_METRIC_GROUPS.join(', ')}, got ${describeValue(hostMetrics)}`,
    );
  }
  if (opts.startServer !== undefined && typeof opts.startServer !== 'boolean') {
    throw new TypeError(`conductor-health: option "startServer" must be a boolean, got ${describeValue(opts.startServer)}`);
  }
  // The OTLP and sampler settings are read (and refused) here, before anything starts.
  // The exporter retries until its own deadline with timers that hold the
  // process open, so its deadline must sit inside our shutdown bound.
  const sdkDisabled = isSdkDisabled(env);
  // setTimeout turns longer delays into 1 ms: the bound would end shutdown at once.
  const shutdownTimeoutMs = checkNumber('shutdownTimeoutMs', opts.shutdownTimeoutMs ?? 5_000, { min: 1, max: MAX_TIMER_MS });
  const otlpEndpoint = opts.otlpEndpoint === undefined ? undefined : checkString('otlpEndpoint', opts.otlpEndpoint);
  const otlpProtocol = opts.otlpProtocol === undefined ? undefined : checkProtocol(opts.otlpProtocol);
  const otlp = sdkDisabled ? undefined : otlpTraceSettings({ endpoint: otlpEndpoint, protocol: otlpProtocol }, exportTimeout(shutdownTimeoutMs));
  return {
    otlp,
    sampler: samplerFromEnv(env),
    serviceName: opts.serviceName === undefined ? undefined : checkString('serviceName', opts.serviceName),
    serviceVersion: opts.serviceVersion === undefined ? undefined : checkString('serviceVersion', opts.serviceVersion),
    prometheusHost: checkString('prometheusHost', opts.prometheusHost ?? (env.OTEL_EXPORTER_PROMETHEUS_HOST || '127.0.0.1')),
    prometheusPort,
    portFrom,
    startServer: opts.startServer !== false,
    successSpanRatio:
      opts.successSpanRatio === undefined
        ? (ratioFromEnv('CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO') ?? 1)
        : checkNumber('successSpanRatio', opts.successSpanRatio, { min: 0, max: 1 }),
    sdkDisabled,
    maxPlatforms: checkNumber('maxPlatforms', opts.maxPlatforms ?? 10_000, { min: 1, integer: true }),
    maxErrorTypes: checkNumber('maxErrorTypes', opts.maxErrorTypes ?? DEFAULT_MAX_ERROR_TYPES, { min: 0, integer: true }),
    logger: logger(opts.logger),
    maxQueueSize: checkNumber('maxQueueSize', opts.maxQueueSize ?? 2_048, { min: 1, integer: true }),
    shutdownTimeoutMs,
    hostMetrics: hostMetrics === false ? [] : hostMetrics,
    http: httpBounds(opts),
  };
}

function logger(value: unknown): Logger {
  checkMethods('logger', value, ['debug', 'info', 'warn', 'error']);
  return (value as Logger | undefined) ?? createLibraryLogger();
}

function httpBounds(opts: Record<string, unknown>): HttpServerBounds {
  const bound = (key: keyof HttpServerBounds, min: number) =>
    checkNumber(key, opts[key] ?? HTTP_SERVER_DEFAULTS[key], { min, max: MAX_TIMER_MS, integer: true });
  return {
    maxConnections: bound('maxConnections', 1),
    headersTimeoutMs: bound('headersTimeoutMs', 1),
    keepAliveTimeoutMs: bound('keepAliveTimeoutMs', 1),
    writeTimeoutMs: bound('writeTimeoutMs', 1),
  };
}

function checkProtocol(value: unknown): OtlpProtocol {
  if ((OTLP_PROTOCOLS as readonly unknown[]).includes(value)) return value as OtlpProtocol;
  throw new RangeError(`conductor-health: option "otlpProtocol" must be one of ${OTLP_PROTOCOLS.join(', ')}, got ${describeValue(value)}`);
}

/** `OTEL_SDK_DISABLED=true` (any case) asks for a no-op SDK, as the specification defines. */
function isSdkDisabled(env: NodeJS.ProcessEnv): boolean {
  const value = env.OTEL_SDK_DISABLED?.trim().toLowerCase();
  if (!value || value === 'false') return false;
  if (value === 'true') return true;
  throw new RangeError(`conductor-health: environment variable OTEL_SDK_DISABLED must be true or false, got ${describeValue(env.OTEL_SDK_DISABLED)}`);
}

/**
 * Cardinality limit of each instrument: twice what `maxPlatforms` platforms
 * write, because the SDK counts every series written between two collections
 * — platforms that left (their breaker state set to 0) and those that replaced
 * them — so a full turnover between two scrapes never spills into
 * `otel_metric_overflow`. (The SDK's default is 2,000 per instrument.)
 */
function cardinalityLimits(maxPlatforms: number, maxErrorTypes: number): Map<string, number> {
  return new Map(Object.entries(seriesPerPlatform(maxErrorTypes)).map(([name, perPlatform]) => [name, 2 * maxPlatforms * perPlatform + 1]));
}

/** The limits as views, and seconds buckets for the histogram. */
function metricViews(limits: ReadonlyMap<string, number>): ViewOptions[] {
  return [...limits].map(([name, limit]) => ({
    instrumentName: name,
    aggregationCardinalityLimit: limit,
    ...(name === METRIC_NAMES.duration
      ? { aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [...DURATION_BUCKETS_SECONDS] } } }
      : {}),
  }));
}

function exportTimeout(shutdownTimeoutMs: number): number {
  return Math.max(1, Math.floor(shutdownTimeoutMs * 0.8));
}

type Routes = Map<string, RequestHandler>;

/** Where the port came from, so the error of a taken port names what to change. */
type PortSource = 'option' | 'env' | 'default';

const PORT_HINT: Record<PortSource, string> = {
  option: 'change the prometheusPort option (telemetry.prometheusPort in a config file; it wins over OTEL_EXPORTER_PROMETHEUS_PORT) to a free port, or 0 for any',
  env: 'set OTEL_EXPORTER_PROMETHEUS_PORT to a free port, or 0 for any',
  default: 'set OTEL_EXPORTER_PROMETHEUS_PORT (or the prometheusPort option) to a free port, or 0 for any',
};

async function listen(routes: Routes, host: string, port: number, bounds: HttpServerBounds, portFrom: PortSource): Promise<Server> {
  const handler: RequestHandler = (request, response) => {
    const route = routes.get((request.url ?? '/').split('?', 1)[0]!);
    if (route) route(request, response);
    else response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try ${[...routes.keys()].join(', ')}\n`);
  };
  try {
    return await listenBounded(handler, host, port, bounds);
  } catch (error) {
    const where = `${host}:${port}`;
    const hint = PORT_HINT[portFrom];
    const { code, message } = error as NodeJS.ErrnoException;
    throw code === 'EADDRINUSE'
      ? new Error(`conductor-health: cannot serve /metrics on ${where}: the address is already in use; ${hint}`, { cause: error })
      : new Error(`conductor-health: cannot serve /metrics on ${where}: ${message}; ${hint}`, { cause: error });
  }
}

function withDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    work.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
