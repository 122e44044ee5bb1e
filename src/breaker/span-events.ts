/**
 * What a breaker adds to traces: a transition, a refused call and a stale
 * outcome become events on the active span (the check or call that caused
 * them). A transition with no span around it gets a short span of its own.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../common/version.ts';
import type { BreakerState } from '../core/breaker-state.ts';
import type { Verdict } from '../core/outcome.ts';
import type { BreakerStateChange } from './state.ts';

/** `circuit_breaker.state_change` on the active span, else on a short `circuit_breaker.transition` span. */
export function addTransitionEvent(tracer: Tracer | undefined, change: BreakerStateChange): void {
  const attributes = {
    'circuit_breaker.platform': change.platform,
    'circuit_breaker.from': change.from,
    'circuit_breaker.to': change.to,
    'circuit_breaker.consecutive_failures': change.failureCount,
  };
  const active = trace.getActiveSpan();
  if (active?.isRecording()) {
    active.addEvent('circuit_breaker.state_change', attributes);
    return;
  }
  // Transitions driven by a timer have no span around them; a short one of their own still reaches Jaeger.
  const span = (tracer ?? trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION)).startSpan('circuit_breaker.transition', {
    attributes: { 'circuit_breaker.platform': change.platform },
  });
  span.addEvent('circuit_breaker.state_change', attributes);
  span.end();
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
