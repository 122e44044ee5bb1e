// What is read back from Redis is checked before it is believed: a record or
// a last check that does not parse is no record (the caller logs and ignores it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRecord, toShared } from '../../src/cluster/record.ts';
import { parseLastCheck } from '../../src/cluster/shared-checks.ts';

const GOOD = { s: 'O', g: 4, f: 3, r: 'a,b', n: 1, o: 1_000, h: 31_000, t: '', l: 0, d: 30_000 };

describe('a shared breaker record', () => {
  it('parses a well-formed record, counting the replicas its failures came from', () => {
    assert.deepEqual(parseRecord(JSON.stringify(GOOD)), {
      state: 'OPEN', period: 4, failures: 3, replicas: 2, holder: '', openedAt: 1_000, halfOpenAt: 31_000, leaseEnd: 0, waitMs: 30_000,
    });
    assert.equal(parseRecord(JSON.stringify({ ...GOOD, s: 'C', r: '' }))?.replicas, 0);
  });

  it('refuses anything else, never throwing', () => {
    const bad: unknown[] = [
      'not json', '', 'null', '42', '"O"', '[]', '{}',
      JSON.stringify({ ...GOOD, s: 'X' }),
      JSON.stringify({ ...GOOD, s: 'toString' }),
      JSON.stringify({ ...GOOD, g: -1 }),
      JSON.stringify({ ...GOOD, f: '3' }),
      JSON.stringify({ ...GOOD, h: null }),
      JSON.stringify({ ...GOOD, t: 5 }),
      JSON.stringify({ ...GOOD, r: ['a'] }),
      '{"s":"O","g":1e999,"f":0,"r":"","n":0,"o":0,"h":0,"t":"","l":0,"d":0}',
      '{"__proto__":{"s":"O"},"g":1}',
    ];
    for (const json of bad) assert.equal(parseRecord(json as string), undefined, String(json));
  });

  it('turns Redis times into this process’s: the wait left is Redis’s, whatever the clocks say', () => {
    const shared = toShared(parseRecord(JSON.stringify(GOOD))!, 11_000, 'a', true, 60_000);
    assert.equal(shared.state, 'OPEN');
    assert.equal(shared.nextAttemptInMs, 20_000);
    assert.equal(shared.resetTimeoutMs, 30_000);
    const before = Date.now();
    assert.ok(Math.abs((shared.openedAt ?? 0) - (before - 10_000)) < 50);
    const half = toShared(parseRecord(JSON.stringify({ ...GOOD, s: 'H', t: 'a' }))!, 11_000, 'a', false, 60_000);
    assert.equal(half.trialHere, true);
    assert.equal(toShared(parseRecord(JSON.stringify({ ...GOOD, s: 'H', t: 'b' }))!, 11_000, 'a', false, 60_000).trialHere, false);
  });

  it('cuts a stored wait to the longest the options allow (a hand edit, a record from the year 2286)', () => {
    const far = toShared(parseRecord(JSON.stringify({ ...GOOD, h: 1e13, d: 1e13 }))!, 11_000, 'a', true, 500);
    assert.equal(far.resetTimeoutMs, 500);
    assert.equal(far.nextAttemptInMs, 1_000 + 500 - 11_000, 'due the longest wait after its opening: at once here');
  });
});

describe('a shared last check', () => {
  it('parses time|replica|status|interval', () => {
    assert.deepEqual(parseLastCheck('1700000000000|replica-1|failure|5000'), { redisAt: 1_700_000_000_000, by: 'replica-1', status: 'failure', intervalMs: 5_000 });
  });

  it('refuses a value that is not one', () => {
    for (const value of ['', 'x|a|success|5000', '1|a|fine|5000', '1||success|5000', '1|a|success|0', '1|a|success', '1|a|success|5000|extra', '-5|a|success|5000']) {
      assert.equal(parseLastCheck(value), undefined, value);
    }
  });
});
