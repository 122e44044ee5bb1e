/**
 * What a breaker adds to traces: a transition, a refused call and a stale
 * outcome become events on the active span (the check or call that caused
 * them). A transition with no span around it gets a short span of its own.
 */
import { trace, TraceFlags, type Attributes, type SpanContext, type Tracer } from '@opentelemetry/api';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../common/version.ts';
import type { BreakerState } from '../core/breaker-state.ts';
import type { Verdict } from '../core/outcome.ts';
import type { BreakerStateChange } from './state.ts';

/**
 * `circuit_breaker.state_change` on the active span, else on a short
 * `circuit_breaker.transition` span. That one is a root, linked to
 * `cause` (the span that opened the breaker) when given: a timer (the reset
 * timer, a trial's lease) keeps the context it was created in, and when that
 * was a check's unsampled stand-in, a child of it would never be exported.
 */
export function addTransitionEvent(tracer: Tracer | undefined, change: BreakerStateChange, cause: SpanContext | undefined): void {
  const attributes: Attributes = {
    'circuit_breaker.platform': change.platform,
    'circuit_breaker.from': change.from,
    'circuit_breaker.to': change.to,
    'circuit_breaker.consecutive_failures': change.failureCount,
  };
  if (change.resetTimeoutMs !== undefined) attributes['circuit_breaker.reset_timeout_ms'] = change.resetTimeoutMs;
  // A transition decided by another replica is applied here: its event says so.
  const event = change.remote ? 'circuit_breaker.remote_state_change' : 'circuit_breaker.state_change';
  const active = trace.getActiveSpan();
  if (active?.isRecording()) {
    active.addEvent(event, attributes);
    return;
  }
  const span = (tracer ?? trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION)).startSpan('circuit_breaker.transition', {
    root: true,
    attributes: { 'circuit_breaker.platform': change.platform },
    ...(cause === undefined ? {} : { links: [{ context: cause }] }),
  });
  span.addEvent(event, attributes);
  span.end();
}

/** The context of the active span if it is sampled (exported): a link to anything else would lead nowhere. */
export function sampledSpanContext(): SpanContext | undefined {
  const context = trace.getActiveSpan()?.spanContext();
  return context !== undefined && (context.traceFlags & TraceFlags.SAMPLED) !== 0 ? context : undefined;
}

/** `circuit_breaker.stale_outcome`: a call's outcome arrived after the period that allowed it ended. */
export function addStaleEvent(platform: string, permitState: BreakerState, verdict: Verdict, state: BreakerState): void {
  const active = trace.getActiveSpan();
  if (active?.isRecording()) {
    active.addEvent('circuit_breaker.stale_outcome', {
      'circuit_breaker.platform': platform,
      'circuit_breaker.outcome': verdict,
      'circuit_breaker.permit_state': permitState,
      'circuit_breaker.state': state,
    });
  }
}

/** `circuit_breaker.rejected`: the breaker refused a call. */
export function addRejectedEvent(platform: string, state: BreakerState): void {
  const active = trace.getActiveSpan();
  if (active?.isRecording()) active.addEvent('circuit_breaker.rejected', { 'circuit_breaker.platform': platform, 'circuit_breaker.state': state });
}
