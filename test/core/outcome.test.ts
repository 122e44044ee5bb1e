import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { captureFailure, errorTypeOf } from '../../src/core/failure.ts';
import { classifyOutcome, type Outcome } from '../../src/core/outcome.ts';
import { TimeoutError } from '../../src/core/timeout-error.ts';

const value = (v: unknown): Outcome => ({ kind: 'value', value: v });
const threw = (e: unknown): Outcome => ({ kind: 'threw', failure: captureFailure(e) });

describe('the outcome classifier', () => {
  const table: Array<[string, Outcome, string, string | undefined, string | undefined]> = [
    // name, outcome, status, errorType, verdict
    ['true', value(true), 'success', undefined, 'success'],
    ['nothing', value(undefined), 'success', undefined, 'success'],
    ['a healthy plugin', value({ status: 'healthy' }), 'success', undefined, 'success'],
    ['a degraded plugin', value({ status: 'degraded' }), 'success', undefined, 'success'],
    ['an unknown plugin status', value({ status: 'unknown' }), 'success', undefined, 'release'],
    ['an unhealthy plugin', value({ status: 'unhealthy', message: 'token revoked' }), 'failure', 'unhealthy', 'failure'],
    ['false', value(false), 'failure', 'check_failed', 'failure'],
    ['a number', value(42), 'failure', 'invalid_result', 'failure'],
    ['null', value(null), 'failure', 'invalid_result', 'failure'],
    ['a thrown error with a code', threw(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), 'failure', 'ECONNREFUSED', 'failure'],
    ['a thrown TypeError', threw(new TypeError('bad')), 'failure', 'TypeError', 'failure'],
    ['the process out of file descriptors', threw(Object.assign(new Error('too many'), { code: 'EMFILE' })), 'failure', 'EMFILE', 'release'],
    ['a timeout', { kind: 'timeout', error: new TimeoutError('db', 50, 'check') }, 'timeout', 'timeout', 'failure'],
    ['a rejection by the breaker', { kind: 'rejected' }, 'rejected', undefined, undefined],
  ];
  for (const [name, outcome, status, errorType, verdict] of table) {
    it(`${name}: ${status}${errorType ? ` (${errorType})` : ''}, verdict ${verdict ?? 'none'}`, () => {
      const c = classifyOutcome(outcome);
      assert.equal(c.status, status);
      assert.equal(c.errorType, errorType);
      assert.equal(c.verdict, verdict);
    });
  }

  it('hands the breaker a cause whose error type is the one it reported', () => {
    for (const [, outcome] of table) {
      const c = classifyOutcome(outcome);
      if (c.verdict === 'failure') assert.equal(errorTypeOf(c.cause), c.errorType);
    }
  });

  it('gives every failure a short single-line message', () => {
    assert.equal(classifyOutcome(value({ status: 'unhealthy', message: 'line one\nline two' })).message, 'line one');
    assert.equal(classifyOutcome(value({ status: 'unhealthy' })).message, 'plugin reported unhealthy');
    assert.equal(classifyOutcome(value(false)).message, 'check returned false');
    assert.match(classifyOutcome(value('yes')).message!, /^check returned "yes"; expected a boolean/);
    assert.equal(classifyOutcome({ kind: 'timeout', error: new TimeoutError('db', 50, 'check') }).message, 'health check of platform "db" timed out after 50 ms');
  });
});
