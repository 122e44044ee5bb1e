import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Tracer } from '@opentelemetry/api';
import { getMetricsRegistry, startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { parseExposition, type Exposition } from './exposition.ts';

/** Telemetry for a test: real metrics registry and context manager, spans kept in memory. */
export interface TestOtel {
  tracer: Tracer;
  spans(): ReadableSpan[];
  scrape(): Promise<Exposition>;
  shutdown(): Promise<void>;
}

/**
 * Starts telemetry without an HTTP server or host metrics. Call it before
 * enabling fake timers: the SDK's collection uses real timers.
 */
export async function setupOtel(): Promise<TestOtel> {
  const telemetry: Telemetry = await startTelemetry({ startServer: false, hostMetrics: false });
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  let stopping: Promise<void> | undefined;
  return {
    tracer: provider.getTracer('test'),
    spans: () => exporter.getFinishedSpans(),
    scrape: async () => parseExposition(await getMetricsRegistry().metrics()),
    // Idempotent, like telemetry.shutdown(): a test may end it early.
    shutdown: async () => {
      stopping ??= Promise.all([provider.shutdown(), telemetry.shutdown()]).then(() => undefined);
      await stopping;
    },
  };
}
