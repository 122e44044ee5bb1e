// Ownership by rendezvous hashing: an even spread, the least movement when
// the members change, and the same answer in every process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { top } from '../../src/cluster/rendezvous.ts';

const PLATFORMS = Array.from({ length: 10_000 }, (_, i) => `platform-${i}`);

function owners(members: string[]): Map<string, string> {
  return new Map(PLATFORMS.map((p) => [p, top(p, members, 1)[0]!]));
}

describe('rendezvous ranking', () => {
  it('spreads 10,000 platforms over three replicas within 3 % of a third each', () => {
    const counts = new Map<string, number>();
    for (const owner of owners(['replica-0', 'replica-1', 'replica-2']).values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    assert.equal(counts.size, 3);
    for (const [member, n] of counts) assert.ok(Math.abs(n - 10_000 / 3) < 300, `${member} owns ${n}`);
  });

  it('moves only the platforms a joining replica takes, about a quarter, and none between the others', () => {
    const before = owners(['a', 'b', 'c']);
    const after = owners(['a', 'b', 'c', 'd']);
    let moved = 0;
    for (const [platform, owner] of after) {
      if (owner === before.get(platform)) continue;
      moved += 1;
      assert.equal(owner, 'd', `${platform} moved from ${before.get(platform)} to ${owner}`);
    }
    assert.ok(Math.abs(moved - 2_500) < 250, `${moved} moved`);
  });

  it('gives a leaving replica’s platforms to their runner-up, and moves nothing else', () => {
    const members = ['a', 'b', 'c'];
    const ranked = new Map(PLATFORMS.map((p) => [p, top(p, members, 2)]));
    const after = owners(['a', 'c']);
    for (const [platform, [owner, backup]] of ranked) assert.equal(after.get(platform), owner === 'b' ? backup : owner, platform);
  });

  it('answers the same whatever the order of the members, best first, each once, at most k', () => {
    assert.deepEqual(top('p', ['c', 'a', 'b'], 3), top('p', ['b', 'c', 'a'], 3));
    assert.deepEqual(top('p', ['a', 'b', 'c'], 2), top('p', ['a', 'b', 'c'], 3).slice(0, 2));
    assert.equal(new Set(top('p', ['a', 'b', 'c', 'd'], 4)).size, 4);
    assert.deepEqual(top('p', [], 2), []);
    assert.deepEqual(top('p', ['solo'], 2), ['solo']);
    // A fixed answer: a change of the hash would re-shuffle every cluster during a rolling upgrade.
    assert.deepEqual(top('platform-0', ['replica-0', 'replica-1', 'replica-2'], 3), ['replica-2', 'replica-0', 'replica-1']);
    assert.deepEqual(top('x', ['a', 'b'], 2), ['b', 'a']);
  });
});
