import type { Context } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { envOneOf, envRatio, type Environment } from '../common/env.ts';
import { inShare } from '../monitor/deferred-span.ts';

/**
 * Which spans leave the process: the specification's `OTEL_TRACES_SAMPLER`,
 * decided when a span starts, and {@link SuccessSpanFilter}, decided when a
 * check's span ends and its outcome is known.
 */

const SAMPLERS = [
  'always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio',
] as const;

/**
 * The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name, or
 * undefined when unset (the SDK's default, `parentbased_always_on`). A value
 * this package does not know (or the remote samplers it does not ship) is an
 * error naming the variable, not a silent fallback.
 */
export function samplerFromEnv(env: Environment = process.env): Sampler | undefined {
  const name = envOneOf('OTEL_TRACES_SAMPLER', SAMPLERS, env);
  if (name === undefined) return undefined;
  const root = name.endsWith('always_on') ? new AlwaysOnSampler() : name.endsWith('always_off') ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(envRatio('OTEL_TRACES_SAMPLER_ARG', env) ?? 1);
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

/**
 * True when a finished span must be exported whatever the share: anything
 * but a successful `health_check` root span, or a successful one that carries
 * a breaker transition (a half-open trial that closed the breaker).
 */
export function mustExport(span: ReadableSpan): boolean {
  if (span.name !== 'health_check' || span.attributes['health_check.status'] !== 'success') return true;
  // A check the caller ran inside its own trace belongs to that trace.
  if (span.parentSpanContext !== undefined) return true;
  return span.events.some((event) => event.name === 'circuit_breaker.state_change');
}

/**
 * A span processor in front of the exporting one: it passes on every failed,
 * timed-out and rejected check, every transition and every other span, and
 * only `ratio` of the successful checks. The choice follows the trace id (as
 * the ratio sampler does), so it is deterministic and needs no random source.
 * Metrics are recorded apart from spans and stay exact.
 */
export class SuccessSpanFilter implements SpanProcessor {
  readonly #next: SpanProcessor;
  readonly #ratio: number;

  /** @param ratio share of successful checks exported, 0 to 1 */
  constructor(next: SpanProcessor, ratio: number) {
    this.#next = next;
    this.#ratio = ratio;
  }

  onStart(span: Span, parentContext: Context): void {
    this.#next.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (mustExport(span) || inShare(span.spanContext().traceId, this.#ratio)) this.#next.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.#next.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#next.shutdown();
  }
}
