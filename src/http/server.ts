import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestHandler } from './request-handler.ts';

/**
 * Bounds of the package's HTTP server (`/metrics`, `/healthz`, `/readyz`), so
 * clients that connect and say nothing, or ask and never read, cannot hold its
 * memory or file descriptors.
 */
export interface HttpServerBounds {
  /**
   * Connections held at once; past it a new one evicts the oldest idle one, or
   * is closed when none is idle. Long-lived streams may hold at most
   * {@link streamPlaces} of them.
   */
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
 * Connections of a server with `maxConnections` that long-lived streams (the
 * status page's events) may hold: half, rounded down. The other half stays for
 * requests that end — a liveness and a readiness probe, a scrape or two, and a
 * browser loading the page and its files over up to six connections — so no
 * number of open pages locks out the probes, whichever handler's `maxStreams`
 * let them in. It is the server that knows its connections, not a handler: two
 * status pages routed on one server share these places.
 */
function streamPlaces(maxConnections: number): number {
  return Math.floor(maxConnections / 2);
}

/** The stream places of one bounded server: how many it lends, how many are held. */
interface StreamPlaces {
  readonly max: number;
  readonly of: number;
  held: number;
}

/** Each connection of a bounded server, to its server's places; connections of other servers are not here. */
const placesOf = new WeakMap<Socket, StreamPlaces>();

/** Why a bounded server refused a stream: the places it lends to streams, and its connections. */
export interface StreamRefusal {
  streams: number;
  connections: number;
}

/**
 * Marks `response` as a long-lived stream holding its connection until the
 * response ends or closes (call it once per response, before its head is
 * written). On a server made by {@link listenBounded} it
 * returns a {@link StreamRefusal} instead when streams already hold all their
 * places; the caller then answers and ends the response as any other. On any
 * other server (Express, the conductor's own) it always succeeds: that
 * server's own bounds apply.
 */
export function holdForStream(response: ServerResponse): StreamRefusal | undefined {
  const places = response.socket ? placesOf.get(response.socket) : undefined;
  // A response already closed would never release its place.
  if (places === undefined || response.destroyed || response.socket!.destroyed) return undefined;
  if (places.held >= places.max) return { streams: places.max, connections: places.of };
  places.held += 1;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    places.held -= 1;
  };
  // Once ended it is a response like any other, bounded by the write deadline.
  response.once('prefinish', release);
  response.once('close', release);
  return undefined;
}

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
  const places: StreamPlaces = { max: streamPlaces(bounds.maxConnections), of: bounds.maxConnections, held: 0 };
  let open = 0;
  server.on('connection', (socket: Socket) => {
    open += 1;
    idle.add(socket);
    placesOf.set(socket, places);
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
