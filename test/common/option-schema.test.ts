import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as z from 'zod';
import { findProblem, number, options, parseOptions, text } from '../../src/common/option-schema.ts';

describe('option schemas', () => {
  const schema = options({ host: text(), port: number({ min: 1, max: 65_535, integer: true }) });

  it('names an unknown key and the known key it most likely meant', () => {
    assert.throws(() => parseOptions(schema, 'tcpCheck', { hots: 'a', port: 1 }), {
      name: 'TypeError',
      code: 'EUNKNOWNOPTION',
      message: 'conductor-health: unknown tcpCheck option "hots"; did you mean "host"?',
    });
  });

  it('reports the unknown key before the field it left missing', () => {
    const found = findProblem(schema, { hots: 'a', port: 1 });
    assert.ok('problem' in found && found.problem.kind === 'unknown' && found.problem.key === 'hots' && found.problem.closest === 'host');
  });

  it("words every problem in the package's own words, also for a zod type built without them", () => {
    const bare = options({ range: z.string().regex(/^\d{3}-\d{3}$/).optional(), count: z.number().min(2).optional(), list: z.array(z.string()).optional() });
    const messages = [{ range: '200-2999' }, { count: 1 }, { count: 'x' }, { list: 5 }].map((given) => {
      try {
        parseOptions(bare, 'bare', given);
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    });
    assert.deepEqual(messages, [
      'conductor-health: option "range" must be a value of the documented form, got "200-2999"',
      'conductor-health: option "count" must be a finite number >= 2, got 1',
      'conductor-health: option "count" must be a finite number, got "x"',
      'conductor-health: option "list" must be a list, got 5',
    ]);
    for (const message of messages) assert.doesNotMatch(message, /Invalid|pattern|expected/);
  });

  it('tells a value of the wrong kind (TypeError) from one out of range (RangeError)', () => {
    assert.throws(() => parseOptions(schema, 'tcpCheck', { host: 5, port: 1 }), { name: 'TypeError', code: 'EOPTIONTYPE', message: 'conductor-health: option "host" must be a non-empty string, got 5' });
    assert.throws(() => parseOptions(schema, 'tcpCheck', { host: 'a', port: 0 }), { name: 'RangeError', code: 'EOPTIONRANGE', message: 'conductor-health: option "port" must be an integer >= 1 <= 65535, got 0' });
  });
});

describe('options objects from a hostile caller', () => {
  const schema = options({ host: text().optional() });
  it('words a getter that throws, or a revoked Proxy, as its own error', () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const throwing = Object.defineProperty({}, 'host', { enumerable: true, get: () => { throw new Error('getter bug'); } });
    for (const given of [revoked.proxy, throwing]) {
      assert.throws(() => parseOptions(schema, 'tcpCheck', given), { name: 'TypeError', code: 'EOPTIONTYPE', message: /^conductor-health: tcpCheck options could not be read: / });
    }
  });
});
