import { createServer } from 'node:net';

// Below Linux's ephemeral range (32768–60999): a port the kernel hands out for
// an outgoing connection (a peer dialling its own gRPC endpoint, a scrape)
// never lands here, so a port found free stays free unless another test takes it.
const LOW = 10_000;
const HIGH = 32_767;

function tryBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago, picked at random
 * below the ephemeral range. There is still a window in which another test may
 * take it before the caller binds it; callers that spawn external servers (see
 * `startPrometheus`) retry on "address already in use".
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (await tryBind(port)) return port;
  }
  throw new Error(`freePort: no free port found in ${LOW}–${HIGH} after 100 tries`);
}
