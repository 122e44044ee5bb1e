import type { Server } from 'node:http';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { HostMetricsInstrumentation } from '@opentelemetry/instrumentation-host-metrics';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { envBoolean, envNumber, envRatio, envText } from '../common/env.ts';
import { ConductorHealthError } from '../common/errors.ts';
import { instanceId } from '../common/instance-id.ts';
import { withDeadline } from '../common/promise.ts';
import { checkString } from '../common/validate.ts';
import { fieldMeta, inner, parseOptions } from '../common/option-schema.ts';
import { TELEMETRY_OPTIONS, type TelemetryOptions } from './options.ts';
import { ExpositionSerializer } from './exposition/serializer.ts';
import { EXPOSITION_CONTENT_TYPE, scrapeSource } from './scrape.ts';
import { closeServer, listenBounded, type HttpServerBounds } from '../http/server.ts';
import type { RequestHandler } from '../http/request-handler.ts';
import { createLibraryLogger } from '../common/logger.ts';
import { DURATION_BUCKETS_SECONDS, METRIC_NAMES, SIZED_MAX_ERROR_TYPES, seriesPerPlatform } from '../core/metrics.ts';
import { createTraceExporter, otlpTraceSettings } from './otlp.ts';
import { watchOverflow } from './overflow.ts';
import { SUCCESS_SPAN_RATIO } from '../monitor/deferred-span.ts';
import { RandomIds } from '../common/random-ids.ts';
import { samplerFromEnv } from './sampling.ts';
import { PACKAGE_VERSION } from '../common/version.ts';

/** What `/metrics` serves: the Prometheus exposition text of the whole meter provider. */
export interface MetricsRegistry {
  /** The Content-Type to send with {@link MetricsRegistry.metrics}. */
  readonly contentType: string;
  /** Collects every instrument (host metrics included) and renders the exposition text. */
  metrics(): Promise<string>;
}


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
    throw new ConductorHealthError('ENOTELEMETRY', 'conductor-health: no metrics registry: call startTelemetry() first');
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
    throw new ConductorHealthError(
      'ETELEMETRYRUNNING',
      'conductor-health: startTelemetry() was already called and its telemetry is running; call its shutdown() first, or reuse it (getMetricsRegistry() returns its registry)',
    );
  }
  const resource = telemetryResource(opts.serviceName, opts.serviceVersion);

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

  const tracerProvider = await createTracerProvider(resource, opts);

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
    throw new ConductorHealthError(
      'ETELEMETRYRUNNING',
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
    exportingSpans: opts.otlp !== undefined,
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

/** Defaults, then the environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), then what the code passed: later merges win. */
function telemetryResource(serviceName: string | undefined, serviceVersion: string | undefined): Resource {
  return resourceFromAttributes({
    'service.name': 'conductor-health',
    'service.version': PACKAGE_VERSION,
    // The same id a cluster knows this replica by (common/instance-id.ts).
    'service.instance.id': instanceId(),
  })
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({
      ...(serviceName === undefined ? {} : { 'service.name': serviceName }),
      ...(serviceVersion === undefined ? {} : { 'service.version': serviceVersion }),
    }));
}

/** The tracer provider: OTLP export in batches, or none; it carries successSpanRatio for the monitors. */
async function createTracerProvider(resource: Resource, opts: ReturnType<typeof resolveOptions>): Promise<TracerProvider> {
  const { otlp, sampler } = opts;
  const spanProcessors: SpanProcessor[] = [];
  if (otlp) {
    const batch = new BatchSpanProcessor({
      exporter: await createTraceExporter(otlp, opts.logger),
      maxQueueSize: opts.maxQueueSize,
      maxExportBatchSize: Math.min(512, opts.maxQueueSize),
      exportTimeoutMillis: exportTimeout(opts.shutdownTimeoutMs),
    });
    spanProcessors.push(batch);
  }
  const provider: TracerProvider & { [SUCCESS_SPAN_RATIO]?: number } = new TracerProvider({ resource, spanProcessors, idGenerator: new RandomIds(), ...(sampler ? { sampler } : {}) });
  // The monitor applies the ratio when a check starts, so an unexported success never becomes a span.
  provider[SUCCESS_SPAN_RATIO] = opts.successSpanRatio;
  return provider;
}

function resolveOptions(options: TelemetryOptions | undefined) {
  const opts = parseOptions(TELEMETRY_OPTIONS, 'telemetry', options);
  // Code wins over the environment, which wins over the default (README: one rule for every setting).
  const envPort = opts.prometheusPort === undefined ? envNumber('OTEL_EXPORTER_PROMETHEUS_PORT', fieldMeta.get(inner(TELEMETRY_OPTIONS.shape.prometheusPort))?.range) : undefined;
  const portFrom: PortSource = opts.prometheusPort !== undefined ? 'option' : envPort !== undefined ? 'env' : 'default';
  // The OTLP and sampler settings are read (and refused) here, before anything starts.
  // The exporter retries until its own deadline with timers that hold the
  // process open, so its deadline must sit inside our shutdown bound.
  // OTEL_SDK_DISABLED=true asks for a no-op SDK, as the specification defines.
  const sdkDisabled = envBoolean('OTEL_SDK_DISABLED') ?? false;
  const otlp = sdkDisabled ? undefined : otlpTraceSettings({ endpoint: opts.otlpEndpoint, protocol: opts.otlpProtocol }, exportTimeout(opts.shutdownTimeoutMs));
  return {
    ...opts,
    otlp,
    sampler: samplerFromEnv(),
    prometheusHost: checkString('prometheusHost', opts.prometheusHost ?? envText('OTEL_EXPORTER_PROMETHEUS_HOST') ?? '127.0.0.1'),
    prometheusPort: opts.prometheusPort ?? envPort ?? 9464,
    portFrom,
    successSpanRatio: opts.successSpanRatio ?? envRatio('CONDUCTOR_HEALTH_SUCCESS_SPAN_RATIO') ?? 1,
    sdkDisabled,
    logger: opts.logger ?? createLibraryLogger(),
    hostMetrics: opts.hostMetrics === false ? [] : opts.hostMetrics,
    http: { maxConnections: opts.maxConnections, headersTimeoutMs: opts.headersTimeoutMs, keepAliveTimeoutMs: opts.keepAliveTimeoutMs, writeTimeoutMs: opts.writeTimeoutMs },
  };
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
      ? new ConductorHealthError('ELISTEN', `conductor-health: cannot serve /metrics on ${where}: the address is already in use; ${hint}`, { cause: error })
      : new ConductorHealthError('ELISTEN', `conductor-health: cannot serve /metrics on ${where}: ${message}; ${hint}`, { cause: error });
  }
}
