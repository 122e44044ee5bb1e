import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { shortMessage } from '../core/failure.ts';
import { envHeaders, envNumber, envOneOf, envRaw, envText, type Environment, type HeaderRule } from '../common/env.ts';
import { OptionRangeError } from '../common/errors.ts';
import { describeValue, isHttpUrl } from '../common/validate.ts';
import { LogLimiter } from '../common/log-limiter.ts';
import type { Logger } from '../common/logger.ts';
import { maskSecrets } from '../common/text.ts';

/** The OTLP transports of the specification (`OTEL_EXPORTER_OTLP_PROTOCOL`). */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const satisfies readonly OtlpProtocol[];

/** Where and how spans leave the process, resolved from options and `OTEL_EXPORTER_OTLP_*`. */
export interface OtlpTraceSettings {
  protocol: OtlpProtocol;
  /** The full URL: `…/v1/traces` over HTTP, the bare `scheme://host:port` over gRPC. */
  url: string;
  compression: 'gzip' | 'none';
  /** Bound on one export, retries included. */
  timeoutMillis: number;
  /**
   * Sent with every export (gRPC metadata over gRPC): `OTEL_EXPORTER_OTLP_HEADERS`
   * with `OTEL_EXPORTER_OTLP_TRACES_HEADERS` over it, key by key; empty when neither is set.
   */
  headers: Record<string, string>;
}

/** The specification's default bound on one export (`OTEL_EXPORTER_OTLP_TIMEOUT`). */
const DEFAULT_TIMEOUT_MS = 10_000;
/** After the first failure is logged, further ones are summed up at most this often. */
export const EXPORT_FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * Resolves the trace exporter's settings the way the OTLP exporter
 * specification defines them: a traces-specific variable wins over the general
 * one, `OTEL_EXPORTER_OTLP_ENDPOINT` gets `/v1/traces` appended over HTTP and
 * is used as-is over gRPC, a traces-specific endpoint is always used as-is.
 * Values passed in code win over the environment. Returns undefined when no
 * endpoint is set anywhere: then spans are not exported.
 *
 * `maxTimeoutMs` caps the export timeout so that shutdown stays bounded.
 * Headers are read and checked here, and a header no request could carry is
 * refused like any bad variable (see `envHeaders`); certificates are read by
 * the exporter itself.
 */
export function otlpTraceSettings(
  options: { endpoint?: string | undefined; protocol?: OtlpProtocol | undefined },
  maxTimeoutMs: number,
  env: Environment = process.env,
): OtlpTraceSettings | undefined {
  const protocol = options.protocol ?? envOneOf(tracesOrGeneral('PROTOCOL', env), OTLP_PROTOCOLS, env) ?? 'http/protobuf';

  let url: string;
  const specific = envText('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', env);
  const general = envText('OTEL_EXPORTER_OTLP_ENDPOINT', env);
  if (options.endpoint !== undefined) {
    url = signalUrl(checkEndpoint('option "otlpEndpoint"', options.endpoint), protocol);
  } else if (specific !== undefined) {
    url = checkEndpoint('environment variable OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific);
  } else if (general !== undefined) {
    url = signalUrl(checkEndpoint('environment variable OTEL_EXPORTER_OTLP_ENDPOINT', general), protocol);
  } else {
    return undefined;
  }

  const compression = envOneOf(tracesOrGeneral('COMPRESSION', env), ['gzip', 'none'] as const, env) ?? 'none';
  const timeout = envNumber(tracesOrGeneral('TIMEOUT', env), { min: 1, integer: true }, env) ?? DEFAULT_TIMEOUT_MS;
  // The exporter would merge the two the same way, but drop what it cannot parse without a word.
  const rule = protocol === 'grpc' ? grpcMetadataRule : undefined;
  const headers = { ...envHeaders('OTEL_EXPORTER_OTLP_HEADERS', env, rule), ...envHeaders('OTEL_EXPORTER_OTLP_TRACES_HEADERS', env, rule) };
  return { protocol, url, compression, timeoutMillis: Math.min(timeout, maxTimeoutMs), headers };
}

/**
 * What gRPC metadata adds to an HTTP header: grpc-js lower-cases the key and
 * throws, quoting the value, for a key outside [0-9a-z_.-], a `-bin` key
 * given text, or a value outside printable ASCII.
 */
const grpcMetadataRule: HeaderRule = (key, value) => {
  const shown = JSON.stringify(key);
  if (!/^[0-9a-z_.-]+$/.test(key.toLowerCase())) return `the name ${shown} is not a gRPC metadata key (letters, digits, "_", "." and "-" only); rename it`;
  if (key.toLowerCase().endsWith('-bin')) return `the name ${shown} ends in -bin, which gRPC keeps for binary values; rename it`;
  if (!/^[ -~]*$/.test(value)) return `the value of ${shown} holds a character gRPC metadata cannot carry (printable ASCII only); remove it`;
  return undefined;
};

/**
 * The exporter for `settings`, wrapped so that a collector that cannot be
 * reached is not silent: the first failed export is logged at once with the
 * endpoint (password masked), later ones at most once a minute as a count,
 * and the first success after failures says so.
 */
export async function createTraceExporter(settings: OtlpTraceSettings, logger: Logger): Promise<SpanExporter> {
  // The exporters type compression as an enum of these same two strings.
  const config = { url: settings.url, compression: settings.compression as never, timeoutMillis: settings.timeoutMillis };
  // Headers are given explicitly: what the exporter would read from the environment
  // itself comes second, key by key, and holds nothing these do not.
  let exporter: SpanExporter;
  if (settings.protocol === 'grpc') {
    // gRPC pulls in @grpc/grpc-js: load it only when asked for.
    const [{ OTLPTraceExporter }, { createEmptyMetadata }] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-grpc'),
      import('@opentelemetry/otlp-grpc-exporter-base'),
    ]);
    const metadata = createEmptyMetadata();
    for (const [key, value] of Object.entries(settings.headers)) metadata.set(key, value);
    exporter = new OTLPTraceExporter({ ...config, metadata });
  } else if (settings.protocol === 'http/json') {
    exporter = new JsonTraceExporter({ ...config, headers: settings.headers });
  } else {
    exporter = new ProtobufTraceExporter({ ...config, headers: settings.headers });
  }
  return new ReportingExporter(exporter, `${settings.protocol} ${maskSecrets(settings.url)}`, logger);
}

/** A span exporter that reports its failures: once at first, then at most once per interval. */
export class ReportingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #target: string;
  readonly #logger: Logger;
  readonly #limiter: LogLimiter;
  /** True from a failed export to the next successful one. */
  #failing = false;
  /** Spans dropped since the last line about them. */
  #droppedSpans = 0;

  /**
   * @param target what to name in messages: protocol and endpoint, password masked
   * @param now a monotonic clock in ms (tests pass a fake one)
   */
  constructor(inner: SpanExporter, target: string, logger: Logger, now?: () => number) {
    this.#inner = inner;
    this.#target = target;
    this.#logger = logger;
    this.#limiter = new LogLimiter(EXPORT_FAILURE_LOG_INTERVAL_MS, now);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.#succeeded();
      else this.#failed(result.error, spans.length);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }

  #failed(error: unknown, spans: number): void {
    const first = !this.#failing;
    this.#failing = true;
    this.#droppedSpans += spans;
    this.#limiter.take('export', (suppressed) => {
      this.#logger.warn(
        { endpoint: this.#target, error: shortMessage(error ?? 'unknown error'), failedExports: suppressed + 1, droppedSpans: this.#droppedSpans },
        first
          ? `cannot export spans to ${this.#target}; spans are dropped until it answers (next report in at most a minute)`
          : `span export to ${this.#target} still failing`,
      );
      this.#droppedSpans = 0;
    });
  }

  #succeeded(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#droppedSpans = 0;
    this.#limiter.reset('export');
    this.#logger.info({ endpoint: this.#target }, `span export to ${this.#target} works again`);
  }
}

/** The name of the traces-specific variable if it is set, else the general one's (blank counts as unset). */
function tracesOrGeneral(suffix: string, env: Environment): string {
  const specific = `OTEL_EXPORTER_OTLP_TRACES_${suffix}`;
  return envRaw(specific, env) === undefined ? `OTEL_EXPORTER_OTLP_${suffix}` : specific;
}

/** An http: or https: URL; the exporter would otherwise fail later and deep inside. */
function checkEndpoint(what: string, value: string): string {
  if (!isHttpUrl(value)) {
    throw new OptionRangeError(what.startsWith('option') ? 'EOPTIONRANGE' : 'EENVIRONMENT', `conductor-health: ${what} must be an http: or https: URL, got ${describeValue(maskSecrets(value))}`);
  }
  return value;
}

/** A base endpoint made the traces URL: `/v1/traces` over HTTP; gRPC takes the base. */
function signalUrl(base: string, protocol: OtlpProtocol): string {
  return protocol === 'grpc' ? base : `${base.replace(/\/+$/, '')}/v1/traces`;
}
