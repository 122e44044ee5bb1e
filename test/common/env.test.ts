import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { envBoolean, envNumber, envOneOf, envRatio, envText } from '../../src/common/env.ts';
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
});
