import { createServer, type Server } from 'node:http';

/** The demo's loopback platforms, matching examples/demo.yaml. */
export interface DemoPlatforms {
  healthyUrl: string;
  flakyUrl: string;
  close(): Promise<void>;
}

/**
 * Starts the platforms `npm start` monitors: `healthy` always answers 200;
 * `flaky` answers 503 from 10 s to 25 s of every 45 s, long enough for its
 * breaker to open, fail one half-open trial and close on the next. The third
 * demo target, `down`, is a TCP port nobody listens on.
 */
export async function startDemoPlatforms(ports = { healthy: 18081, flaky: 18082 }): Promise<DemoPlatforms> {
  const started = Date.now();
  const healthy = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'));
  const flaky = createServer((_, res) => {
    const phase = ((Date.now() - started) / 1000) % 45;
    if (phase >= 10 && phase < 25) res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance\n');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  });
  await listen(healthy, ports.healthy);
  try {
    await listen(flaky, ports.flaky);
  } catch (error) {
    healthy.close();
    throw error;
  }
  return {
    healthyUrl: `http://127.0.0.1:${ports.healthy}/health`,
    flakyUrl: `http://127.0.0.1:${ports.flaky}/health`,
    close: async () => {
      for (const server of [healthy, flaky]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`cannot start a demo platform on 127.0.0.1:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`)),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
}
