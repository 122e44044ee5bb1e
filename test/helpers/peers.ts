import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { spawnServer, type ServerProcess } from './server-process.ts';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The Collector configuration the package ships; the tests load exactly this file. */
export const COLLECTOR_CONFIG = `${ROOT}otel-collector.yaml`;
const JAEGER_CONFIG = `${ROOT}test/peers/jaeger/config.yaml`;

let binaries: Promise<{ otelcol: string; jaeger: string }> | undefined;

/**
 * Paths of the Collector and Jaeger that `.ci/peers.sh` built (`.ci/run` builds
 * them before the tests); rejects with what to run when they are not built.
 */
export function peerBinaries(): Promise<{ otelcol: string; jaeger: string }> {
  binaries ??= execFileAsync('bash', [`${ROOT}.ci/peers.sh`, '--no-build']).then(({ stdout }) => {
    const paths = Object.fromEntries(stdout.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
    if (!paths.OTELCOL || !paths.JAEGER) throw new Error(`.ci/peers.sh printed no binaries: ${stdout}`);
    return { otelcol: paths.OTELCOL, jaeger: paths.JAEGER };
  });
  return binaries;
}

/** A span as Jaeger's query API (`/api/traces`) returns it, flattened for assertions. */
export interface JaegerSpan {
  traceId: string;
  spanId: string;
  /** The CHILD_OF reference's span id; undefined for a root. */
  parentSpanId: string | undefined;
  name: string;
  service: string;
  tags: Record<string, string | number | boolean>;
  /** Span events ("logs" in Jaeger's model): the `event` field is the name. */
  events: { name: string; fields: Record<string, string | number | boolean> }[];
}

/** A Jaeger v2 all-in-one with memory storage on free loopback ports. */
export interface Jaeger {
  /** `127.0.0.1:port` of its OTLP/gRPC receiver (what the Collector exports to). */
  readonly otlpGrpcEndpoint: string;
  /** Base URL of the query API and UI. */
  readonly queryUrl: string;
  readonly process: ServerProcess;
  /** Every span of every trace Jaeger holds for `service` (`/api/traces?service=…`). */
  spans(service: string): Promise<JaegerSpan[]>;
  /** Polls {@link Jaeger.spans} until `predicate` holds (bounded) and resolves with them. */
  waitForSpans(service: string, what: string, predicate: (spans: JaegerSpan[]) => boolean, timeoutMs?: number): Promise<JaegerSpan[]>;
  stop(): Promise<void>;
}

interface RawTrace {
  traceID: string;
  spans: {
    traceID: string;
    spanID: string;
    operationName: string;
    processID: string;
    references?: { refType: string; spanID: string }[];
    tags?: { key: string; value: string | number | boolean }[];
    logs?: { fields: { key: string; value: string | number | boolean }[] }[];
  }[];
  processes: Record<string, { serviceName: string }>;
}

/** Starts Jaeger (test/peers/jaeger/config.yaml) and resolves once its query API answers. */
export async function startJaeger(): Promise<Jaeger> {
  const { jaeger } = await peerBinaries();
  const [otlp, http, grpc] = [await freePort(), await freePort(), await freePort()];
  const process = await spawnServer('jaeger', jaeger, ['--config', JAEGER_CONFIG], {
    JAEGER_OTLP_GRPC_ENDPOINT: `127.0.0.1:${otlp}`,
    JAEGER_QUERY_HTTP_ENDPOINT: `127.0.0.1:${http}`,
    JAEGER_QUERY_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
  });
  const queryUrl = `http://127.0.0.1:${http}`;
  const spans = async (service: string): Promise<JaegerSpan[]> => {
    const response = await fetch(`${queryUrl}/api/traces?service=${encodeURIComponent(service)}&limit=1000&lookback=1h`, { signal: AbortSignal.timeout(5_000) });
    if (response.status === 404 || response.status === 400) return []; // service not seen yet
    if (!response.ok) throw new Error(`jaeger /api/traces: HTTP ${response.status}: ${await response.text()}`);
    const { data } = (await response.json()) as { data: RawTrace[] | null };
    return (data ?? []).flatMap((trace) =>
      trace.spans.map((span) => ({
        traceId: span.traceID,
        spanId: span.spanID,
        parentSpanId: span.references?.find((r) => r.refType === 'CHILD_OF')?.spanID,
        name: span.operationName,
        service: trace.processes[span.processID]?.serviceName ?? '',
        tags: Object.fromEntries((span.tags ?? []).map((t) => [t.key, t.value])),
        events: (span.logs ?? []).map((log) => {
          const fields = Object.fromEntries(log.fields.map((f) => [f.key, f.value]));
          return { name: String(fields.event ?? ''), fields };
        }),
      })),
    );
  };
  const handle: Jaeger = {
    otlpGrpcEndpoint: `127.0.0.1:${otlp}`,
    queryUrl,
    process,
    spans,
    waitForSpans: (service, what, predicate, timeoutMs = 60_000) =>
      process.waitFor(what, async () => {
        const found = await spans(service);
        return predicate(found) ? found : undefined;
      }, timeoutMs),
    stop: () => process.stop(),
  };
  try {
    await process.waitFor('query API', async () => ((await fetch(`${queryUrl}/api/services`)).ok ? true : undefined));
  } catch (error) {
    await process.stop();
    throw error;
  }
  return handle;
}

/** The Collector built from test/peers/collector/manifest.yaml, running the shipped otel-collector.yaml. */
export interface Collector {
  /** `http://127.0.0.1:port`: OTLP/HTTP, what `OTEL_EXPORTER_OTLP_ENDPOINT` names. */
  readonly otlpHttpUrl: string;
  /** `http://127.0.0.1:port`: OTLP/gRPC. */
  readonly otlpGrpcUrl: string;
  readonly process: ServerProcess;
  stop(): Promise<void>;
}

/** The variables otel-collector.yaml reads its addresses from, all on free loopback ports. */
export async function collectorEnv(jaegerOtlpEndpoint: string): Promise<Record<string, string>> {
  return {
    COLLECTOR_OTLP_GRPC_ENDPOINT: `127.0.0.1:${await freePort()}`,
    COLLECTOR_OTLP_HTTP_ENDPOINT: `127.0.0.1:${await freePort()}`,
    COLLECTOR_PROMETHEUS_ENDPOINT: `127.0.0.1:${await freePort()}`,
    COLLECTOR_HEALTH_ENDPOINT: `127.0.0.1:${await freePort()}`,
    JAEGER_OTLP_ENDPOINT: jaegerOtlpEndpoint,
  };
}

/**
 * The Collector's own telemetry would take the fixed port 8888 (and clash with
 * other tests); it is the one setting the tests change, with `--set`.
 */
export const COLLECTOR_TEST_FLAGS = ['--set=service::telemetry::metrics::level=none'];

/** Starts the Collector on `otel-collector.yaml` exporting to `jaegerOtlpEndpoint`, once its health check answers. */
export async function startCollector(jaegerOtlpEndpoint: string): Promise<Collector> {
  const { otelcol } = await peerBinaries();
  const env = await collectorEnv(jaegerOtlpEndpoint);
  const process = await spawnServer('otelcol', otelcol, [`--config=${COLLECTOR_CONFIG}`, ...COLLECTOR_TEST_FLAGS], env);
  try {
    await process.waitFor('health check', async () => ((await fetch(`http://${env.COLLECTOR_HEALTH_ENDPOINT}/`)).ok ? true : undefined));
  } catch (error) {
    await process.stop();
    throw error;
  }
  return {
    otlpHttpUrl: `http://${env.COLLECTOR_OTLP_HTTP_ENDPOINT}`,
    otlpGrpcUrl: `http://${env.COLLECTOR_OTLP_GRPC_ENDPOINT}`,
    process,
    stop: () => process.stop(),
  };
}
