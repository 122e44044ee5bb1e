import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BreakerState } from '../../src/core/breaker-state.ts';
import type { HealthCheckStatus } from '../../src/core/metrics.ts';
import { overallStatus, percent, type OverallStatus } from '../../src/monitor/status-rule.ts';

/** `name:STATE:last` with a trailing `!` for critical, e.g. `db:OPEN:rejected!`. */
function platform(spec: string) {
  const critical = spec.endsWith('!');
  const [name, state, last] = spec.replace(/!$/, '').split(':') as [string, BreakerState, HealthCheckStatus | ''];
  return { platform: name, breakerState: state, critical, ...(last ? { lastResult: last } : {}) };
}

const MEMORY = { resource: 'memory' as const, value: 0.86, threshold: 0.8 };

describe('the status rule', () => {
  const table: Array<[string, string[], boolean, OverallStatus]> = [
    ['no platforms', [], false, 'healthy'],
    ['one platform never checked yet', ['a:CLOSED:'], false, 'healthy'],
    ['every breaker closed and passing', ['a:CLOSED:success', 'b:CLOSED:success'], false, 'healthy'],
    ['a passing critical platform', ['a:CLOSED:success!'], false, 'healthy'],
    ['a platform failed its last check', ['a:CLOSED:success', 'b:CLOSED:failure'], false, 'degraded'],
    ['a platform timed out', ['a:CLOSED:timeout'], false, 'degraded'],
    ['a critical platform failed once (breaker still closed)', ['a:CLOSED:failure!'], false, 'degraded'],
    ['one of two breakers open', ['a:CLOSED:success', 'b:OPEN:rejected'], false, 'degraded'],
    ['every breaker open, none critical', ['a:OPEN:rejected', 'b:OPEN:failure'], false, 'degraded'],
    ['the only platform half-open, not critical', ['a:HALF_OPEN:failure'], false, 'degraded'],
    ['resource pressure alone', ['a:CLOSED:success'], true, 'degraded'],
    ['resource pressure with no platforms', [], true, 'degraded'],
    ['a critical breaker open', ['a:CLOSED:success', 'b:OPEN:rejected!'], false, 'unhealthy'],
    ['a critical breaker half-open', ['a:HALF_OPEN:failure!'], false, 'unhealthy'],
    ['a critical breaker open among 99 healthy platforms', [...Array.from({ length: 99 }, (_, i) => `p${i}:CLOSED:success`), 'db:OPEN:rejected!'], false, 'unhealthy'],
    ['a critical breaker open and resource pressure', ['db:OPEN:rejected!'], true, 'unhealthy'],
  ];
  for (const [situation, specs, degraded, expected] of table) {
    it(`is ${expected} with ${situation}`, () => {
      const { status, reasons } = overallStatus(specs.map(platform), degraded ? MEMORY : undefined);
      assert.equal(status, expected);
      assert.equal(reasons.length === 0, expected === 'healthy', `reasons are given exactly when not healthy: ${JSON.stringify(reasons)}`);
    });
  }

  it('names the critical platforms (quoted, at most five) and counts the rest', () => {
    const specs = ['a\nb:OPEN:rejected!', ...Array.from({ length: 6 }, (_, i) => `c${i}:OPEN:rejected!`), 'x:CLOSED:failure'];
    const { reasons } = overallStatus(specs.map(platform), MEMORY);
    assert.deepEqual(reasons, [
      'critical platform breaker not closed: "a\\nb" (OPEN), "c0" (OPEN), "c1" (OPEN), "c2" (OPEN), "c3" (OPEN) and 2 more',
      '7 of 8 platforms have an open or half-open breaker',
      '1 of 8 platforms failed their last check',
      'degraded mode: memory at 86 % (threshold 80 %)',
    ]);
  });
});

describe('percent', () => {
  const table: Array<[number, string]> = [[1, '100 %'], [0.8, '80 %'], [0.856, '86 %'], [0.1, '10 %'], [0.0999, '10 %'], [0.05, '5 %'], [0.001, '0.1 %'], [0, '0 %']];
  for (const [ratio, text] of table) it(`words ${ratio} as ${text}`, () => assert.equal(percent(ratio), text));

  it('words the degraded-mode reason in percent, as the status page banner does', () => {
    const { reasons } = overallStatus([], { resource: 'cpu', value: 1, threshold: 0.8 });
    assert.deepEqual(reasons, ['degraded mode: cpu at 100 % (threshold 80 %)']);
  });
});
