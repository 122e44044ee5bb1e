import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RingBuffer } from '../../src/common/ring-buffer.ts';

describe('RingBuffer', () => {
  it('keeps items oldest first until it is full', () => {
    const ring = new RingBuffer<number>(3);
    assert.deepEqual(ring.toArray(), []);
    assert.equal(ring.last(), undefined);
    ring.push(1);
    ring.push(2);
    assert.deepEqual(ring.toArray(), [1, 2]);
    assert.equal(ring.last(), 2);
    assert.equal(ring.length, 2);
  });

  it('drops the oldest item once full, however many are pushed', () => {
    const ring = new RingBuffer<number>(3);
    for (let i = 1; i <= 1_000; i += 1) {
      ring.push(i);
      assert.deepEqual(ring.toArray(), [i - 2, i - 1, i].filter((n) => n >= 1));
      assert.equal(ring.last(), i);
    }
    assert.equal(ring.length, 3);
  });

  it('hands out copies: changing one does not change the ring', () => {
    const ring = new RingBuffer<number>(2);
    ring.push(1);
    ring.toArray().push(99);
    assert.deepEqual(ring.toArray(), [1]);
  });

  it('refuses a capacity below 1 or not whole, quoting it', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new RingBuffer(bad), new RegExp(`capacity of at least 1, got ${bad}`));
  });
});
