import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { envNumber, type Environment } from '../common/env.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../common/version.ts';
import type { CommandConfig } from './config-schema.ts';

/** Pins the demo's ports: its platforms on this port and the next, `down` on the one after. */
export const DEMO_PORT_VARIABLE = 'CONDUCTOR_HEALTH_DEMO_PORT';

/** Where the demo's platforms listen; 0 picks a free port. */
export interface DemoPorts {
  healthy: number;
  flaky: number;
  /** The TCP port `down` is checked on, which nobody may listen on (0 or absent: one found free). */
  down?: number;
}

/** The demo's loopback platforms, whose ports replace examples/demo.yaml's when the demo runs. */
export interface DemoPlatforms {
  healthyUrl: string;
  flakyUrl: string;
  /** The ports they got, `down`'s included. */
  ports: Required<DemoPorts>;
  close(): Promise<void>;
}

/**
 * The ports `conductor-health demo` uses: free ones, so that `npm start` runs
 * whatever else listens on this host, or `CONDUCTOR_HEALTH_DEMO_PORT` and the
 * two after it when that is set (to reach the platforms at known addresses).
 */
export function demoPorts(env: Environment = process.env): Required<DemoPorts> {
  const base = envNumber(DEMO_PORT_VARIABLE, { min: 1, max: 65_533, integer: true }, env) ?? 0;
  return base === 0 ? { healthy: 0, flaky: 0, down: 0 } : { healthy: base, flaky: base + 1, down: base + 2 };
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
export async function startDemoPlatforms(ports: DemoPorts = { healthy: 0, flaky: 0 }): Promise<DemoPlatforms> {
  const started = Date.now();
  const healthy = createServer(traced('healthy', (_, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')));
  const flaky = createServer(traced('flaky', (_, res) => {
    const phase = ((Date.now() - started) / 1000) % 45;
    if (phase >= 10 && phase < 25) res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance\n');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  }));
  const close = async () => {
    for (const server of [healthy, flaky]) {
      if (!server.listening) continue;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  };
  try {
    const healthyPort = await listen(healthy, 'healthy', ports.healthy);
    const flakyPort = await listen(flaky, 'flaky', ports.flaky);
    // Listened on for a moment, so a pinned port in use is refused like the others; then nobody listens, which is what `down` shows.
    const downPort = await listen(createServer(), 'down', ports.down ?? 0, true);
    return {
      healthyUrl: `http://127.0.0.1:${healthyPort}/health`,
      flakyUrl: `http://127.0.0.1:${flakyPort}/health`,
      ports: { healthy: healthyPort, flaky: flakyPort, down: downPort },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** `config` (examples/demo.yaml) with its targets on the ports the demo's platforms got. */
export function withDemoPorts(config: CommandConfig, platforms: DemoPlatforms): CommandConfig {
  const targets = config.targets.map((target) => {
    const port = platforms.ports[target.name as keyof DemoPorts];
    if (port === undefined) return target;
    if (target.type === 'tcp') return { ...target, port };
    const url = new URL(target.url);
    url.port = String(port);
    return { ...target, url: url.href };
  });
  return { ...config, targets };
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

/**
 * Listens on 127.0.0.1 and resolves with the port (the one the kernel picked
 * for 0); `probe` closes the server again at once. A port in use names the
 * variable that moves it.
 */
function listen(server: Server, platform: string, port: number, probe = false): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot start the demo platform "${platform}" on 127.0.0.1:${port}: ${
            error.code === 'EADDRINUSE'
              ? `the address is already in use; set ${DEMO_PORT_VARIABLE} to another free port (the demo takes it and the next two), or unset it to let the demo pick free ports`
              : error.message
          }`,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => {
      const { port: got } = server.address() as { port: number };
      if (probe) server.close(() => resolve(got));
      else resolve(got);
    });
  });
}
