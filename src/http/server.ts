import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestHandler } from './request-handler.ts';

/**
 * Bounds of the package's HTTP server (`/metrics`, `/healthz`, `/readyz`), so
 * clients that connect and say nothing, or ask and never read, cannot hold its
 * memory or file descriptors.
 */
export interface HttpServerBounds {
  /** Connections held at once; past it a new one evicts the oldest idle one, or is closed when none is idle. */
  maxConnections: number;
  /** Time a connection has to send its request headers (and a whole request); then it is dropped. */
  headersTimeoutMs: number;
  /** Time an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** Time a response has, once ended, to reach the client; a socket that does not drain is then destroyed. */
  writeTimeoutMs: number;
}

/**
 * Defaults: a Prometheus scrape, a load-balancer probe and a curl need a few
 * connections that send their request at once and read the answer in well
 * under Prometheus's 10 s scrape timeout.
 */
export const HTTP_SERVER_DEFAULTS: Readonly<HttpServerBounds> = Object.freeze({
  maxConnections: 32,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
  writeTimeoutMs: 10_000,
});

/**
 * Creates an HTTP server with `bounds` applied and listens on host:port.
 * Rejects with the listen error (EADDRINUSE, EACCES…) untouched; the caller
 * words it. The server is unref'ed: it never keeps the process alive.
 */
export function listenBounded(handler: RequestHandler, host: string, port: number, bounds: HttpServerBounds): Promise<Server> {
  const server = createServer(
    {
      headersTimeout: bounds.headersTimeoutMs,
      requestTimeout: bounds.headersTimeoutMs,
      keepAliveTimeout: bounds.keepAliveTimeoutMs,
      // Node checks the two timeouts above every 30 s by default: an idle
      // connection would live up to 30 s past its bound.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(bounds.headersTimeoutMs / 4))),
    },
    (request, response) => {
      // The request is in: from here the write deadline bounds the connection.
      const { socket } = request;
      socket.setTimeout(0);
      idle.delete(socket);
      response.once('close', () => {
        // Kept alive for the next request: idle again, and now the newest.
        if (!socket.destroyed) idle.add(socket);
      });
      writeDeadline(response, bounds.writeTimeoutMs);
      handler(request, response);
    },
  );
  /**
   * Connections with no request being answered, oldest first. At the cap a new
   * connection evicts the oldest of them rather than being refused: otherwise
   * a client holding `maxConnections` idle connections would lock out every
   * probe. Only when every connection is busy is the new one closed.
   */
  const idle = new Set<Socket>();
  let open = 0;
  server.on('connection', (socket: Socket) => {
    open += 1;
    idle.add(socket);
    socket.once('close', () => {
      open -= 1;
      idle.delete(socket);
    });
    if (open > bounds.maxConnections) idle.values().next().value!.destroy();
    // Node's own headersTimeout only counts from a request's first byte: a
    // connection that sends nothing would be held until the OS gives up. An idle
    // socket times out here, and with no 'timeout' listener Node destroys it.
    socket.setTimeout(bounds.headersTimeoutMs);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      server.unref();
      resolve(server);
    });
  });
}

/**
 * Once the handler has ended the response, the socket has `ms` to take it.
 * A client that asks and never reads would otherwise keep the whole body in
 * memory for as long as it keeps the connection. Responses that are never
 * ended (a stream) are not bounded here.
 */
function writeDeadline(response: ServerResponse, ms: number): void {
  response.once('prefinish', () => {
    if (response.writableFinished) return;
    const timer = setTimeout(() => response.socket?.destroy(), ms);
    timer.unref();
    const clear = () => clearTimeout(timer);
    response.once('finish', clear);
    response.once('close', clear);
  });
}

/** Closes the server and every connection it holds, keep-alive ones included. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
