import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../common/version.ts';

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
 *
 * Each platform is traced the way a real one would be: it continues the trace
 * of the `traceparent` a check sends and records its own server span, so the
 * check and the platform's answer show as one trace in Jaeger. Port 0 picks a
 * free port.
 */
export async function startDemoPlatforms(ports = { healthy: 18081, flaky: 18082 }): Promise<DemoPlatforms> {
  const started = Date.now();
  const healthy = createServer(traced('healthy', (_, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')));
  const flaky = createServer(traced('flaky', (_, res) => {
    const phase = ((Date.now() - started) / 1000) % 45;
    if (phase >= 10 && phase < 25) res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance\n');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  }));
  const healthyPort = await listen(healthy, ports.healthy);
  let flakyPort: number;
  try {
    flakyPort = await listen(flaky, ports.flaky);
  } catch (error) {
    healthy.close();
    throw error;
  }
  return {
    healthyUrl: `http://127.0.0.1:${healthyPort}/health`,
    flakyUrl: `http://127.0.0.1:${flakyPort}/health`,
    close: async () => {
      for (const server of [healthy, flaky]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  };
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Wraps a platform's handler in a SERVER span that continues the caller's
 * trace (W3C `traceparent`), named and attributed per the HTTP semantic
 * conventions and ended when the response is finished.
 */
function traced(platform: string, handler: Handler): Handler {
  const tracer = trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
  return (request, response) => {
    const parent = propagation.extract(context.active(), request.headers);
    const method = request.method ?? 'GET';
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': method, 'url.path': (request.url ?? '/').split('?', 1)[0]!, 'demo.platform': platform },
      },
      parent,
    );
    response.once('finish', () => {
      span.setAttribute('http.response.status_code', response.statusCode);
      span.end();
    });
    context.with(trace.setSpan(parent, span), handler, undefined, request, response);
  };
}

/** Listens on 127.0.0.1 and resolves with the port (the one the kernel picked for 0). */
function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`cannot start a demo platform on 127.0.0.1:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`)),
    );
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}
