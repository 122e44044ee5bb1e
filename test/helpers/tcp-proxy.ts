// A loopback TCP proxy a test can partition: one replica dials Redis through
// it, the others directly, so only that one loses Redis.
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy; see {@link startTcpProxy}. */
export interface TcpProxy {
  /** The port to dial instead of the target's. */
  readonly port: number;
  /** True between partition() and heal(). */
  readonly partitioned: boolean;
  /** Connections open through the proxy (a pair counts once), including those accepted during a partition. */
  connections(): number;
  /** Connections accepted so far, for a test to wait until its client has dialled. */
  accepted(): number;
  /**
   * Black hole: every socket stays open and nothing is forwarded either way
   * (each side is paused: Node reads at most a buffer's worth, then the
   * kernel's buffers fill and TCP's flow control holds the sender back); a
   * close or half-close by either side is not passed on; new connections are
   * accepted and held the same way, never dialled through. No RST, no FIN: a
   * client notices only through its own timeouts, as behind a dead link (its
   * TCP keepalive probes are still answered, by the proxy's kernel).
   */
  partition(): void;
  /**
   * Ends the partition. By default every connection that lived through it is
   * dropped: its client gets a RST (ECONNRESET, as after a NAT or firewall
   * lost its state) and its upstream side is closed, so the bytes held back
   * never arrive; new connections flow. With `{ keepConnections: true }` they
   * resume instead and deliver what was held back, each in its order (as when
   * a link comes back within TCP's retransmission time): a client then reads
   * late replies to commands it may have given up on. A connection either
   * side closed meanwhile is closed then.
   */
  heal(options?: { keepConnections?: boolean }): void;
  /** Destroys every connection and closes the listener. Idempotent. */
  stop(): Promise<void>;
}

interface Link {
  client: Socket;
  /** Undefined while a connection accepted during a partition waits for heal(). */
  upstream?: Socket;
  /** Sides whose peer half-closed during the partition, to end on heal(). */
  heldEnds: Socket[];
}

/** Starts a proxy on a free 127.0.0.1 port forwarding to 127.0.0.1:`targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const links = new Set<Link>();
  let partitioned = false;
  let accepted = 0;

  const close = (link: Link, { reset = false } = {}): void => {
    links.delete(link);
    if (reset && !link.client.destroyed) link.client.resetAndDestroy();
    else link.client.destroy();
    link.upstream?.destroy();
  };

  // A side that errs or closes ends its link, except while partitioned: then
  // the other side must not learn of it (heal() closes what died meanwhile).
  const watch = (socket: Socket, link: Link): void => {
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!partitioned) close(link);
    });
  };

  const dial = (link: Link): void => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    link.upstream = upstream;
    // By hand rather than pipe(): pipe() resumes its source whenever the
    // destination drains, which would undo a partition's pause().
    // A paused socket emits no data, but may still emit 'end' (an EOF with
    // nothing buffered): that too waits for the heal.
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => to.write(chunk));
      from.on('end', () => (partitioned ? link.heldEnds.push(to) : to.end()));
    };
    forward(link.client, upstream);
    forward(upstream, link.client);
    watch(upstream, link);
    link.client.resume();
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    accepted += 1;
    const link: Link = { client, heldEnds: [] };
    links.add(link);
    watch(client, link);
    if (!partitioned) dial(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };

  let stopping: Promise<void> | undefined;
  return {
    port,
    get partitioned() {
      return partitioned;
    },
    connections: () => links.size,
    accepted: () => accepted,
    partition() {
      partitioned = true;
      for (const { client, upstream } of links) {
        client.pause();
        upstream?.pause();
      }
    },
    heal({ keepConnections = false } = {}) {
      partitioned = false;
      for (const link of [...links]) {
        if (!keepConnections) close(link, { reset: true });
        else if (link.client.destroyed || link.upstream?.destroyed) close(link);
        else if (!link.upstream) dial(link);
        else {
          link.client.resume();
          link.upstream.resume();
          for (const side of link.heldEnds.splice(0)) side.end();
        }
      }
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const link of [...links]) close(link);
        server.close(() => resolve());
      });
      return stopping;
    },
  };
}
