// One HTTP server standing in for many platforms, counting what reaches each:
// how the replicas tests see "checked once per interval across the cluster".
import { createServer, type ServerResponse } from 'node:http';

/** How a platform answers GET /p/<name>. */
export type PlatformMode = 'ok' | 'fail' | 'hang';

/** One request that reached a platform. */
export interface PlatformRequest {
  /** `performance.now()` at arrival: for intervals between requests. */
  readonly at: number;
  /** `Date.now()` at arrival: to line up with log lines and Redis times. */
  readonly wallTime: number;
  /** What it was answered: 200, 503, or 'hang' (held until the client gives up or stop()). */
  readonly outcome: 200 | 503 | 'hang';
}

/** A running platform server; see {@link startPlatformServer}. */
export interface PlatformServer {
  /** `http://127.0.0.1:P` (no trailing slash). */
  readonly origin: string;
  /** The platforms' names, `p000` … in order. */
  readonly names: readonly string[];
  /** `http://127.0.0.1:P/p/<name>`. */
  url(name: string): string;
  /** One http target per platform for the config's `targets:` (JSON is YAML). */
  targets(): Array<{ name: string; type: 'http'; url: string }>;
  /** The requests `name` has received since the start or the last reset(), oldest first. */
  requestsOf(name: string): readonly PlatformRequest[];
  /** Requests per platform since the start or the last reset(); every platform has an entry. */
  counts(): Map<string, number>;
  /** Requests for a path that is no platform (404): a config pointing at the wrong place. */
  strays(): number;
  /** Forgets the requests received (and the strays); the modes stay. */
  reset(): void;
  setMode(name: string, mode: PlatformMode): void;
  /** 503 while true. */
  setFailing(name: string, failing: boolean): void;
  /** Never answers while true (requests held then stay held). */
  setHanging(name: string, hanging: boolean): void;
  /** Closes every connection (held requests too) and the listener; later requests are refused or dropped. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Serves `platforms` platforms named `p000`, `p001`, … (as many digits as the
 * count needs) on a free loopback port, all answering 200 'ok'.
 */
export async function startPlatformServer({ platforms }: { platforms: number }): Promise<PlatformServer> {
  const width = String(Math.max(platforms - 1, 0)).length;
  const names = Array.from({ length: platforms }, (_, i) => `p${String(i).padStart(width, '0')}`);
  const requests = new Map<string, PlatformRequest[]>(names.map((name) => [name, []]));
  const modes = new Map<string, PlatformMode>();
  const held = new Set<ServerResponse>();
  let strays = 0;
  let stopped = false;

  const server = createServer((req, res) => {
    if (stopped) {
      res.destroy();
      return;
    }
    const name = platformOf(req.method, req.url);
    const log = name === undefined ? undefined : requests.get(name);
    if (name === undefined || !log) {
      strays += 1;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such platform');
      return;
    }
    const mode = modes.get(name) ?? 'ok';
    const outcome = mode === 'hang' ? 'hang' : mode === 'fail' ? 503 : 200;
    log.push({ at: performance.now(), wallTime: Date.now(), outcome });
    if (outcome === 'hang') {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    res.writeHead(outcome, { 'content-type': 'text/plain' }).end(outcome === 200 ? 'ok' : 'failing');
  });
  // Three replicas checking hundreds of platforms each second keep their
  // connections busy; a long keep-alive spares a reconnect per check.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const known = (name: string): PlatformRequest[] => {
    const log = requests.get(name);
    if (!log) throw new Error(`platform server: no platform ${JSON.stringify(name)} (names are ${names[0]}…${names.at(-1)})`);
    return log;
  };
  const setMode = (name: string, mode: PlatformMode): void => {
    known(name);
    modes.set(name, mode);
  };
  const url = (name: string): string => `${origin}/p/${encodeURIComponent(name)}`;
  let stopping: Promise<void> | undefined;
  return {
    origin,
    names,
    url,
    targets: () => names.map((name) => ({ name, type: 'http' as const, url: url(name) })),
    requestsOf: (name) => [...known(name)],
    counts: () => new Map([...requests].map(([name, log]) => [name, log.length])),
    strays: () => strays,
    reset() {
      for (const log of requests.values()) log.length = 0;
      strays = 0;
    },
    setMode,
    setFailing: (name, failing) => setMode(name, failing ? 'fail' : 'ok'),
    setHanging: (name, hanging) => setMode(name, hanging ? 'hang' : 'ok'),
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        stopped = true;
        server.close(() => resolve());
        for (const res of held) res.destroy();
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

/** The platform a request names: `GET /p/<name>`, query ignored; undefined for anything else, a malformed escape included. */
function platformOf(method: string | undefined, url: string | undefined): string | undefined {
  if (method !== 'GET' || !url?.startsWith('/p/')) return undefined;
  try {
    return decodeURIComponent(url.slice(3).split('?')[0]!);
  } catch {
    return undefined;
  }
}
