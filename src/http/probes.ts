/** The probes and the JSON report, each a handler for any node:http-style server. */
import { allowMethod, type RequestHandler } from './request-handler.ts';
import type { HealthMonitor } from '../monitor/health-monitor.ts';
import type { ProbeResult } from '../monitor/report.ts';

/**
 * Serves `monitor.report()` as JSON: 200 unless the status is `unhealthy`
 * (a critical platform's breaker is not closed), then 503. A platform outage
 * alone makes the report `degraded` and still answers 200, so wiring this to
 * a load balancer does not take every replica out for one bad platform.
 * Only GET and HEAD are answered; error texts are short, with URL secrets masked.
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

/**
 * For a readiness probe (`/readyz`): 200 once started, while running and while
 * every critical platform's breaker is CLOSED; 503 otherwise. Without critical
 * platforms, platforms never affect it.
 */
export function readinessHandler(monitor: HealthMonitor): RequestHandler {
  return probeHandler(() => monitor.readiness(), 'ready');
}

/**
 * For a liveness probe (`/livez`): 503 only while stopping, or when the
 * scheduler has stalled (a pass overdue by more than `stallMs`); platforms
 * never affect it, so an outage elsewhere never restarts the conductor.
 */
export function livenessHandler(monitor: HealthMonitor): RequestHandler {
  return probeHandler(() => monitor.liveness(), 'live');
}

function probeHandler(probe: () => ProbeResult, word: string): RequestHandler {
  return (request, response) => {
    if (!allowMethod(request, response)) return;
    const { ok, reasons } = probe();
    response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : `${ok ? word : `not ${word}`}\n${reasons.map((r) => `${r}\n`).join('')}`);
  };
}
