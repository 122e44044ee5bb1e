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
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanStatus,
  type TimeInput,
  type Tracer,
} from '@opentelemetry/api';
import type { RandomIds } from '../common/random-ids.ts';

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

/**
 * A value as a span attribute may hold (a string, number or boolean, or an
 * array of them, copied), read now; undefined for anything else, which the
 * SDK would drop too. Reading happens in the caller's stack, as it would on
 * an SDK span: a getter that throws is the caller's error, never the monitor's.
 */
function attributeValue(value: unknown): AttributeValue | undefined {
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return value as AttributeValue;
  if (!Array.isArray(value)) return undefined;
  const copy = Array.from(value as unknown[]);
  return copy.every((v) => v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v)) ? (copy as AttributeValue) : undefined;
}

/** Attributes read now into a plain object of valid values (see {@link attributeValue}). */
function copyAttributes(attributes: Attributes): Attributes {
  const copy: Attributes = {};
  for (const key of Object.keys(attributes)) {
    const value = attributeValue(attributes[key]);
    if (key !== '' && value !== undefined) copy[key] = value;
  }
  return copy;
}

/**
 * A time given to the span, read now: a Date copied, a finite number as is,
 * an [s, ns] pair of finite numbers copied; anything else is now (as an SDK
 * span takes it), never a NaN that would break the export of a whole batch.
 */
function copyTime(time: TimeInput): TimeInput {
  if (time instanceof Date) {
    const ms = time.getTime();
    if (Number.isFinite(ms)) return new Date(ms);
  } else if (typeof time === 'number') {
    if (Number.isFinite(time)) return time;
  } else if (Array.isArray(time) && time.length === 2) {
    const [s, ns] = [time[0], time[1]];
    if (Number.isFinite(s) && Number.isFinite(ns)) return [s, ns];
  }
  return performance.now();
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined);

/** Whether a trace id falls in a share `ratio` (0 to 1) of all: its last 32 bits below `ratio` × 2^32. */
export function inShare(traceId: string, ratio: number): boolean {
  return Number.parseInt(traceId.slice(-8), 16) < ratio * 2 ** 32;
}

/**
 * Whether a root check is in the exported share: `ratio` of them are,
 * decided on the last 32 bits of a fresh random trace id. Undefined when it
 * is; else the stand-in's trace and span ids.
 */
export function outsideShare(ids: RandomIds, ratio: number): { traceId: string; spanId: string } | undefined {
  const traceId = ids.generateTraceId();
  if (inShare(traceId, ratio)) return undefined;
  return { traceId, spanId: ids.generateSpanId() };
}

/** The stand-in span; see the module comment. */
export class DeferredSpan implements Span {
  readonly #tracer: Tracer;
  readonly #parent: Context;
  readonly #context: SpanContext;
  // performance.now() numbers: the SDK reads a number no later than now as
  // one, and anchors it to the wall clock when the real span is built, as it
  // does its own spans' times.
  readonly #startTime = performance.now();
  readonly #attributes: Attributes;
  #attributeCount: number;
  #recorded: Recorded[] | undefined;
  #status: SpanStatus | undefined;
  #ended = false;

  /**
   * @param tracer what builds the real span, if the check must be kept
   * @param ids the ids {@link outsideShare} gave, which the check propagates
   */
  constructor(tracer: Tracer, attributes: Attributes, parent: Context, ids: { traceId: string; spanId: string }) {
    this.#tracer = tracer;
    this.#attributes = copyAttributes(attributes);
    this.#attributeCount = Object.keys(this.#attributes).length;
    this.#parent = parent;
    this.#context = { traceId: ids.traceId, spanId: ids.spanId, traceFlags: TraceFlags.NONE };
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  setAttribute(key: string, value: AttributeValue): this {
    const valid = attributeValue(value);
    if (this.#ended || valid === undefined || typeof key !== 'string' || key === '') return this;
    const known = Object.hasOwn(this.#attributes, key);
    if (!known && this.#attributeCount >= MAX_ATTRIBUTES) return this;
    if (!known) this.#attributeCount += 1;
    this.#attributes[key] = valid;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    // Each value read once, here; setAttribute drops what is not valid.
    for (const key of Object.keys(attributes)) this.setAttribute(key, attributes[key]!);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.#ended) return this;
    const timeGiven = typeof attributesOrTime === 'number' || attributesOrTime instanceof Date || Array.isArray(attributesOrTime);
    const attributes = timeGiven || attributesOrTime == null ? undefined : copyAttributes(attributesOrTime as Attributes);
    const at = time ?? (timeGiven ? (attributesOrTime as TimeInput) : undefined);
    this.#record({ event: String(name), attributes, time: at === undefined ? performance.now() : copyTime(at) });
    return this;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    // An SDK span ignores what carries no type or message; so does this one, null included.
    if (this.#ended || exception == null) return;
    const copy: Exception =
      typeof exception === 'string'
        ? exception
        : ({ code: text(exception.code), name: text(exception.name), message: text(exception.message), stack: text(exception.stack) } as Exception);
    this.#record({ exception: copy, time: time === undefined ? performance.now() : copyTime(time) });
  }

  /** Keeps one more event, dropping the oldest past the bound (as the SDK does). */
  #record(item: Recorded): void {
    this.#recorded ??= [];
    if (this.#recorded.length >= MAX_EVENTS) this.#recorded.shift();
    this.#recorded.push(item);
  }

  // A check span has no links of its own; kept for the interface.
  addLink(_link: Link): this {
    return this;
  }

  addLinks(_links: Link[]): this {
    return this;
  }

  setStatus(status: SpanStatus): this {
    // As the SDK: UNSET changes nothing, and OK is final.
    const code = status?.code;
    if (this.#ended || code === undefined || code === SpanStatusCode.UNSET || this.#status?.code === SpanStatusCode.OK) return this;
    const message = status.message;
    this.#status = code === SpanStatusCode.ERROR && typeof message === 'string' ? { code, message } : { code };
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
    const end = endTime === undefined ? performance.now() : copyTime(endTime);
    const span = this.#tracer.startSpan('health_check', { kind: SpanKind.INTERNAL, attributes: this.#attributes, startTime: this.#startTime }, this.#parent);
    try {
      for (const item of this.#recorded ?? []) {
        if ('event' in item) span.addEvent(item.event, item.attributes, item.time);
        else span.recordException(item.exception, item.time);
      }
      if (this.#status) span.setStatus(this.#status);
    } finally {
      // Every value was checked when it was recorded; whatever happens, the span ends.
      span.end(end);
    }
  }
}
