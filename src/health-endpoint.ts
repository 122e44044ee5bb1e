import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthMonitor } from './health.ts';

/** A node:http style handler: mount it in node:http, Express (`app.get(path, h)`) or Fastify (`h(req.raw, reply.raw)`). */
export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Serves `monitor.report()` as JSON: 200 unless the status is `unhealthy`,
 * then 503, so a load balancer or orchestrator can act on it. Only GET and
 * HEAD are answered; error texts in it are the monitor's short messages,
 * never stack traces.
 */
export function healthHandler(monitor: HealthMonitor): RequestHandler {
  return (request, response) => {
    if (!allowMethod(request, response)) return;
    const report = monitor.report();
    const body = JSON.stringify(report, null, 2);
    response.writeHead(report.status === 'unhealthy' ? 503 : 200, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
}

/** Answers 200 while the monitor is running and 503 otherwise (starting, or stopping). */
export function readinessHandler(monitor: HealthMonitor): RequestHandler {
  return (request, response) => {
    if (!allowMethod(request, response)) return;
    const ready = monitor.report().running;
    response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : ready ? 'ready\n' : 'not ready\n');
  };
}

function allowMethod(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return true;
  response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
  return false;
}
