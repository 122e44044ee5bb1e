import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { envBoolean, envHeaders, envNumber, envOneOf, envRatio, envText } from '../../src/common/env.ts';
import { isConductorHealthError } from '../../src/common/errors.ts';

describe('the environment reader', () => {
  it('reads decimal ratios from 0 to 1 and treats blank as unset', () => {
    assert.deepEqual(['0', '1', '0.01', '.5', '1.0', ' 0.25 '].map((v) => envRatio('R', { R: v })), [0, 1, 0.01, 0.5, 1, 0.25]);
    assert.equal(envRatio('R', { R: '  ' }), undefined);
    assert.equal(envRatio('R', {}), undefined);
    assert.throws(() => envRatio('R', { R: '1.5' }), { name: 'RangeError', code: 'EENVIRONMENT', message: 'conductor-health: environment variable R must be a ratio from 0 to 1 (such as 0.01), got "1.5"' });
  });

  it('reads plain decimals only, within the range', () => {
    assert.equal(envNumber('N', { min: 1 }, { N: ' 2500 ' }), 2500);
    for (const raw of ['0x10', '1e3', 'Infinity', '0']) {
      assert.throws(() => envNumber('N', { min: 1 }, { N: raw }), (error) => isConductorHealthError(error) && error.code === 'EENVIRONMENT' && error instanceof RangeError);
    }
  });

  it('matches enum values without regard to case, as the OpenTelemetry specification says, and answers the allowed spelling', () => {
    assert.equal(envOneOf('P', ['http/protobuf', 'grpc'] as const, { P: 'HTTP/PROTOBUF' }), 'http/protobuf');
    assert.equal(envOneOf('P', ['http/protobuf', 'grpc'] as const, { P: ' gRPC ' }), 'grpc');
    assert.throws(() => envOneOf('P', ['http/protobuf', 'grpc'] as const, { P: 'http' }), { message: 'conductor-health: environment variable P must be one of http/protobuf, grpc, got "http"' });
    assert.equal(envBoolean('B', { B: 'TRUE' }), true);
    assert.equal(envBoolean('B', { B: 'false' }), false);
    assert.equal(envBoolean('B', {}), undefined);
  });

  it('quotes at most 80 characters of a bad value', () => {
    assert.throws(() => envNumber('N', {}, { N: 'x'.repeat(10_000) }), (error: Error) => error.message.length < 200 && error.message.endsWith('…"'));
  });

  it('trims text and treats blank as unset', () => {
    assert.equal(envText('T', { T: '  host  ' }), 'host');
    assert.equal(envText('T', { T: '\t' }), undefined);
  });

  it('reads headers as percent-encoded key=value pairs, blank as unset', () => {
    assert.deepEqual(envHeaders('H', { H: ' a=1 ,, b%2Dc = x%2Cy ,d=,e=f=g;h ' }), { a: '1', 'b-c': 'x,y', d: '', e: 'f=g;h' });
    assert.equal(envHeaders('H', { H: ' ' }), undefined);
    assert.deepEqual(envHeaders('H', { H: 'a=1,a=2' }), { a: '2' }, 'a later key wins');
  });

  it('refuses a header with the problem the further rule finds, masking values', () => {
    const rule = (key: string) => (key === 'bad' ? 'the name "bad" is refused; rename it' : undefined);
    assert.deepEqual(envHeaders('H', { H: 'ok=1' }, rule), { ok: '1' });
    assert.throws(() => envHeaders('H', { H: 'ok=secret1,bad=secret2' }, rule), {
      code: 'EENVIRONMENT',
      message: 'conductor-health: environment variable H must be comma-separated key=value pairs, percent-encoded (such as "x-tenant=acme,authorization=Bearer%20abc"), got "ok=***,bad=***" (values masked): the name "bad" is refused; rename it',
    });
  });

  it('masks an entry with no "=" whole: it may be a bare token', () => {
    assert.throws(() => envHeaders('H', { H: 'a=1,Bearer secret' }), (error: Error) => error.message.includes('got "a=***,***"') && !error.message.includes('secret'));
  });
});
