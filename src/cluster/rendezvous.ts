/**
 * Which replica checks a platform: rendezvous (highest random weight)
 * hashing over the live members. Every replica computes the same answer from
 * the same member list, with no coordination; when a member joins or leaves,
 * only the platforms it gains or loses move. The runner-up is the backup that
 * checks a platform whose owner has fallen silent; with `minReplicas` above
 * 1, the first `minReplicas` confirm a failure the owner saw.
 */

/** FNV-1a over the string's UTF-16 units, then murmur3's finalizer: 32 well-mixed bits, the same in every process. */
function weight(member: string, platform: string): number {
  let h = 0x811c9dc5;
  const key = `${member}\n${platform}`;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The `k` members that rank highest for `platform`, best first: the owner,
 * then the backup, then the next. Each member at most once in `members`
 * (their order does not matter); ties, one in 2^32, go to the smaller id.
 */
export function top(platform: string, members: readonly string[], k: number): string[] {
  const best: Array<{ member: string; w: number }> = [];
  for (const member of members) {
    const w = weight(member, platform);
    let at = best.length;
    while (at > 0 && (best[at - 1]!.w < w || (best[at - 1]!.w === w && best[at - 1]!.member > member))) at -= 1;
    if (at >= k) continue;
    best.splice(at, 0, { member, w });
    if (best.length > k) best.pop();
  }
  return best.map((b) => b.member);
}
