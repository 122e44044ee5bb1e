/**
 * A shared breaker's record as Redis keeps it (scripts.ts), read back. A
 * record that does not parse, or lacks a field, is no record: the caller logs
 * it and goes on with what it had.
 */
import type { SharedBreakerState } from '../breaker/coordinator.ts';
import type { BreakerState } from '../core/breaker-state.ts';

/** A shared breaker, times in Redis's milliseconds. */
export interface SharedRecord {
  readonly state: BreakerState;
  /** The period: every transition starts a new one. */
  readonly period: number;
  readonly failures: number;
  /** The distinct replicas those failures came from. */
  readonly replicas: number;
  /** The trial's holder ('' for none). */
  readonly holder: string;
  readonly openedAt: number;
  readonly halfOpenAt: number;
  /** When the holder's lease of the trial runs out. */
  readonly leaseEnd: number;
  readonly waitMs: number;
}

const STATES: Record<string, BreakerState> = { C: 'CLOSED', O: 'OPEN', H: 'HALF_OPEN' };

/** The record in `json`, or undefined when it is not one. */
export function parseRecord(json: string): SharedRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== 'object') return undefined;
  const { s, g, f, r, n, t, o, h, l, d } = raw as Record<string, unknown>;
  // What the breaker script takes for a record (scripts.ts, valid()): finite, non-negative, below 1e300.
  const numbers = [g, f, n, o, h, l, d];
  if (typeof s !== 'string' || !Object.hasOwn(STATES, s) || typeof t !== 'string' || typeof r !== 'string') return undefined;
  if (!numbers.every((x) => typeof x === 'number' && x >= 0 && x < 1e300)) return undefined;
  const replicas = r === '' ? 0 : r.split(',').length;
  return { state: STATES[s]!, period: g as number, failures: f as number, replicas, holder: t, openedAt: o as number, halfOpenAt: h as number, leaseEnd: l as number, waitMs: d as number };
}

/** The longest wait breaker options allow: `maxResetTimeoutMs` when the wait grows, else `resetTimeoutMs`. */
export function longestWaitMs(resetTimeoutMs: number, resetBackoffFactor: number, maxResetTimeoutMs: number): number {
  return resetBackoffFactor > 1 ? maxResetTimeoutMs : resetTimeoutMs;
}

/**
 * When an OPEN record's trial is due, Redis time: its stored time, but never
 * later than the longest wait after its opening (a hand edit, or options
 * changed since). The breaker script decides the same (scripts.ts, `claim`).
 */
export function halfOpenDue(record: SharedRecord, longestMs: number): number {
  return Math.min(record.halfOpenAt, record.openedAt + longestMs);
}

/** The record as a breaker applies it: times turned from Redis's clock into this process's, `self` deciding whose trial it is. */
export function toShared(record: SharedRecord, redisNow: number, self: string, remote: boolean, longestMs: number): SharedBreakerState {
  const base = { state: record.state, failureCount: record.failures, remote };
  if (record.state === 'CLOSED') return base;
  const openedAt = Date.now() - (redisNow - record.openedAt);
  if (record.state === 'HALF_OPEN') return { ...base, openedAt, trialHere: record.holder === self };
  return { ...base, openedAt, resetTimeoutMs: Math.min(record.waitMs, longestMs), nextAttemptInMs: halfOpenDue(record, longestMs) - redisNow };
}
