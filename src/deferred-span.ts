/**
 * A check span whose existence is decided when the check ends. With a
 * `successSpanRatio` below 1, a check outside the share runs under this
 * stand-in instead of an SDK span: it keeps what the check's span would get
 * (attributes, events, status, the exception) in plain fields, and only if the
 * check ends as anything but a plain success (a failure, timeout, rejection,
 * a breaker transition or any other event) does it become a real span,
 * started and ended at the recorded times. The successes it drops never cost
 * a span's ids, attribute checks or processor calls.
 *
 * Its context is marked not sampled, so a platform that continues the trace
 * records nothing for it either; a span built at the end starts a trace of its
 * own (the SDK picks its ids).
 */
import {
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  type TimeInput,
  type Tracer,
} from '@opentelemetry/api';
import type { RandomIds } from './random-ids.ts';

/**
 * Where `startTelemetry()` notes its `successSpanRatio` on the tracer provider
 * it registers, for the monitors on the global tracer to apply when a check
 * starts (kept on the provider so no module holds global state).
 */
export const SUCCESS_SPAN_RATIO = Symbol('conductor-health.successSpanRatio');

/** The ratio noted on the globally registered tracer provider, if any. */
export function notedSuccessSpanRatio(): number | undefined {
  const proxy = trace.getTracerProvider() as { getDelegate?: () => object };
  return (proxy.getDelegate?.() as { [SUCCESS_SPAN_RATIO]?: number } | undefined)?.[SUCCESS_SPAN_RATIO];
}

type Recorded = { event: string; attributes: Attributes | undefined; time: TimeInput } | { exception: Exception; time: TimeInput };

/** What a stand-in holds at most, as the SDK's default span limits: a check that floods its span cannot grow it past these. */
const MAX_EVENTS = 128;
const MAX_ATTRIBUTES = 128;

/** Now as milliseconds since the epoch, from the monotonic clock (as the SDK times its spans). */
const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * Whether a root check is in the exported share: `ratio` of them are,
 * decided on the last 32 bits of the trace id as the specification's ratio
 * sampler does. Undefined when it is; else the stand-in's trace and span ids.
 */
export function outsideShare(ids: RandomIds, ratio: number): { traceId: string; spanId: string } | undefined {
  const traceId = ids.generateTraceId();
  if (Number.parseInt(traceId.slice(24), 16) < ratio * 2 ** 32) return undefined;
  return { traceId, spanId: ids.generateSpanId() };
}

/** The stand-in span; see the module comment. */
export class DeferredSpan implements Span {
  readonly #tracer: Tracer;
  readonly #name: string;
  readonly #kind: SpanKind;
  readonly #parent: Context;
  readonly #context: SpanContext;
  readonly #startTime = epochMs();
  readonly #attributes: Attributes;
  #attributeCount: number;
  #recorded: Recorded[] | undefined;
  #status: SpanStatus | undefined;
  #ended = false;

  /**
   * @param tracer what builds the real span, if the check must be kept
   * @param ids the ids {@link outsideShare} gave, which the check propagates
   */
  constructor(tracer: Tracer, name: string, kind: SpanKind, attributes: Attributes, parent: Context, ids: { traceId: string; spanId: string }) {
    this.#tracer = tracer;
    this.#name = name;
    this.#kind = kind;
    this.#attributes = { ...attributes };
    this.#attributeCount = Object.keys(this.#attributes).length;
    this.#parent = parent;
    this.#context = { traceId: ids.traceId, spanId: ids.spanId, traceFlags: TraceFlags.NONE };
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.#ended && (this.#attributeCount < MAX_ATTRIBUTES || Object.hasOwn(this.#attributes, key))) {
      if (!Object.hasOwn(this.#attributes, key)) this.#attributeCount += 1;
      // Copied now, as the SDK would: whatever the caller does to it later cannot reach the span.
      this.#attributes[key] = Array.isArray(value) ? [...value] : value;
    }
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key of Object.keys(attributes)) {
      const value = attributes[key];
      if (value !== undefined) this.setAttribute(key, value);
    }
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.#ended) return this;
    this.#record();
    const timeGiven = typeof attributesOrTime === 'number' || attributesOrTime instanceof Date || Array.isArray(attributesOrTime);
    this.#recorded!.push({
      event: name,
      attributes: timeGiven || attributesOrTime === undefined ? undefined : { ...(attributesOrTime as Attributes) },
      time: time ?? (timeGiven ? (attributesOrTime as TimeInput) : epochMs()),
    });
    return this;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    if (this.#ended) return;
    this.#record();
    // Read now, in the caller's stack, as the SDK would: a getter that throws is the caller's error, not the monitor's.
    const copy = typeof exception === 'string' ? exception : ({ code: exception.code, name: exception.name, message: exception.message, stack: exception.stack } as Exception);
    this.#recorded!.push({ exception: copy, time: time ?? epochMs() });
  }

  /** Makes room for one more event, dropping the oldest past the bound (as the SDK does). */
  #record(): void {
    this.#recorded ??= [];
    if (this.#recorded.length >= MAX_EVENTS) this.#recorded.shift();
  }

  // A check span has no links of its own; kept for the interface.
  addLink(_link: Link): this {
    return this;
  }

  addLinks(_links: Link[]): this {
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (!this.#ended) this.#status = status;
    return this;
  }

  updateName(_name: string): this {
    return this;
  }

  isRecording(): boolean {
    return !this.#ended;
  }

  /** Builds and ends the real span if the check must be kept; a plain success leaves nothing behind. */
  end(endTime?: TimeInput): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#attributes['health_check.status'] === 'success' && this.#recorded === undefined) return;
    const span = this.#tracer.startSpan(this.#name, { kind: this.#kind, attributes: this.#attributes, startTime: this.#startTime }, this.#parent);
    for (const item of this.#recorded ?? []) {
      if ('event' in item) span.addEvent(item.event, item.attributes, item.time);
      else span.recordException(item.exception, item.time);
    }
    if (this.#status) span.setStatus(this.#status);
    span.end(endTime ?? epochMs());
  }
}
