/** What the liveness and readiness probes answer, each from the few facts it reads. */
import { describeValue } from '../common/validate.ts';
import type { Platform } from './platform-registry.ts';
import type { ProbeResult } from './report.ts';

/**
 * Is the monitor itself alive? Not when it is stopping (or stopped), nor
 * when a scheduling pass is overdue by more than `stallMs` while running.
 * Platforms never affect it: restarting the process fixes no platform.
 */
export function liveness(stopped: boolean, running: boolean, overdueMs: number, stallMs: number): ProbeResult {
  if (stopped) return { ok: false, reasons: ['stopping'] };
  if (running && overdueMs > stallMs) {
    return { ok: false, reasons: [`scheduler stalled: a scheduling pass is ${Math.round(overdueMs)} ms overdue (bound ${stallMs} ms)`] };
  }
  return { ok: true, reasons: [] };
}

/**
 * Should the conductor receive work? Only once started and while running,
 * and only while every critical platform's breaker is CLOSED. Without
 * critical platforms, platforms never affect readiness.
 */
export function readiness(stopped: boolean, running: boolean, platforms: Iterable<Platform>): ProbeResult {
  if (stopped) return { ok: false, reasons: ['stopping'] };
  if (!running) return { ok: false, reasons: ['not started'] };
  const reasons: string[] = [];
  for (const entry of platforms) {
    const state = entry.critical ? entry.breaker.getState().state : 'CLOSED';
    if (state !== 'CLOSED') reasons.push(`critical platform ${describeValue(entry.name)}: breaker is ${state}`);
  }
  return { ok: reasons.length === 0, reasons };
}
