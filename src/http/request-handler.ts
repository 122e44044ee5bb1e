/** The shape of every endpoint this package serves, and the rule they share: read-only. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A node:http style handler: mount it in node:http, Express (`app.get(path, h)`) or Fastify (`h(req.raw, reply.raw)`). */
export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** Answers 405 with an Allow header to anything but GET and HEAD: every endpoint is read-only. */
export function allowMethod(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return true;
  response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
  return false;
}
