// Loaded with `node --import <this file>` and SICK_NETWORK=1 (sickNetworkEnv()
// sets both): the process's fetch() rejects as it does when the network is
// down ("fetch failed", cause ECONNREFUSED), so every http check that one
// process runs fails while the platforms are fine for the others: the "sick
// replica" of the minReplicas tests. Other sockets (Redis, the process's own
// /metrics server) are untouched. Imported without SICK_NETWORK=1 (a test
// importing sickNetworkEnv), it changes nothing.
export {};

if (process.env.SICK_NETWORK === '1') {
  globalThis.fetch = (async () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED (sick-network preload)'), { code: 'ECONNREFUSED' });
    throw new TypeError('fetch failed', { cause });
  }) as typeof fetch;
}

/**
 * Environment that starts a replica with a sick network, through NODE_OPTIONS
 * (whatever NODE_OPTIONS the test process has is kept). For `perReplicaEnv`,
 * e.g. `[sickNetworkEnv(), undefined, undefined]`.
 */
export function sickNetworkEnv(): Record<string, string> {
  const inherited = process.env.NODE_OPTIONS ?? '';
  // A file URL: percent-encoded, so NODE_OPTIONS's word splitting cannot cut it.
  return { NODE_OPTIONS: `${inherited} --import=${import.meta.url}`.trim(), SICK_NETWORK: '1' };
}
