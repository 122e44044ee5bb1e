import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConductorHealthError, isConductorHealthError, OptionRangeError, OptionTypeError } from '../../src/common/errors.ts';
import { closestName, unknownOption } from '../../src/common/validate.ts';

describe('closestName', () => {
  it('finds the option a typo meant, and nothing when no option is close', () => {
    assert.equal(closestName('hots', ['host', 'port']), 'host');
    assert.equal(closestName('failmax', ['failMax', 'resetTimeoutMs']), 'failMax');
    assert.equal(closestName('nme', ['name', 'type', 'url']), 'name');
    assert.equal(closestName('timeout', ['timeoutMs', 'url']), 'timeoutMs');
    assert.equal(closestName('colour', ['host', 'port']), undefined);
    assert.equal(closestName('x'.repeat(10_000), ['host']), undefined);
  });

  it('words an unknown option with the closest known one, else the list', () => {
    assert.equal(unknownOption('tcpCheck', 'hots', ['host', 'port']).message, 'conductor-health: unknown tcpCheck option "hots"; did you mean "host"?');
    assert.equal(unknownOption('tcpCheck', 'colour', ['host', 'port']).message, 'conductor-health: unknown tcpCheck option "colour"; known: host, port');
    assert.equal(unknownOption('tcpCheck', 'hots', ['host']).code, 'EUNKNOWNOPTION');
  });
});

describe("the package's errors", () => {
  it('carry one marker and a code, whatever built-in they extend', () => {
    const errors = [new ConductorHealthError('ESTOPPED', 'x'), new OptionTypeError('EOPTIONTYPE', 'x'), new OptionRangeError('EOPTIONRANGE', 'x')];
    assert.deepEqual(errors.map(isConductorHealthError), [true, true, true]);
    assert.deepEqual(errors.map((e) => e.code), ['ESTOPPED', 'EOPTIONTYPE', 'EOPTIONRANGE']);
    assert.ok(errors[1] instanceof TypeError && errors[1].name === 'TypeError');
    assert.ok(errors[2] instanceof RangeError && errors[2].name === 'RangeError');
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    assert.deepEqual([new Error('x'), Object.assign(new Error('x'), { code: 'ESTOPPED' }), revoked.proxy, null, 'ESTOPPED'].map(isConductorHealthError), [false, false, false, false, false]);
  });
});
