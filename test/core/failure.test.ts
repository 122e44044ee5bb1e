import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { captureFailure, errorTypeOf } from '../../src/core/failure.ts';
import { TimeoutError } from '../../src/core/timeout-error.ts';

/** Errors whose every property read can throw. */
function hostileErrors(): unknown[] {
  const throwing = (key: string) => {
    const e = new Error('x');
    Object.defineProperty(e, key, { get: () => { throw new Error(`${key} getter`); } });
    return e;
  };
  const revoked = Proxy.revocable(new Error('x'), {});
  revoked.revoke();
  const trap = new Proxy(new Error('x'), { get: () => { throw new Error('any read'); }, getPrototypeOf: () => { throw new Error('prototype'); } });
  return [throwing('code'), throwing('name'), throwing('constructor'), revoked.proxy, trap];
}

describe('reading a failure', () => {
  it('never throws, whatever the thrown value does on a read: the error type is then "other"', () => {
    for (const error of hostileErrors()) {
      assert.equal(typeof errorTypeOf(error), 'string');
      const failure = captureFailure(error);
      assert.equal(typeof failure.message, 'string');
      assert.ok(failure.error instanceof Error);
    }
    assert.deepEqual(hostileErrors().slice(3).map(errorTypeOf), ['other', 'other']);
  });

  it('names a timeout "timeout", whichever kind of timeout it is', () => {
    assert.equal(errorTypeOf(new TimeoutError('p', 10, 'check')), 'timeout');
    assert.equal(errorTypeOf(new DOMException('slow', 'TimeoutError')), 'timeout');
    assert.equal(new TimeoutError('p', 10).code, 'ETIMEDOUT');
  });
});
