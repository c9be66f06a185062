import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type GitServers, startGitServers } from './git-servers.js';

/** What a fault proxy does with connections. */
export type FaultMode =
  /** Forward to the target. */
  | 'pass'
  /** Not listening: connection refused (the server is down). */
  | 'refuse'
  /** Accept, then reset the connection (RST). */
  | 'reset'
  /** Accept and never answer (a stalled server: the client must time out). */
  | 'stall'
  /** Answer every request with HTTP 500 (a broken web server in front of git). */
  | 'http500';

/** A TCP proxy on 127.0.0.1 that forwards to a target port or injects a fault, switchable at run time. */
export interface FaultProxy {
  readonly port: number;
  /** Sets the fault; 'refuse' closes the listener, any other mode listens again on the same port. */
  setMode(mode: FaultMode): Promise<void>;
  /** Delays every new connection's forwarding by this many milliseconds (a slow server); 0 = none. */
  setDelay(ms: number): void;
  /** Forwards to another port from now on (e.g. another sshd: a changed host key). */
  setTarget(port: number): void;
  /**
   * The connections open now are reset when their client next sends anything (nothing reaches the
   * server): a server that closed an idle kept-alive connection just as the client reused it.
   */
  resetOnNextRequest(): void;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

/**
 * Starts a fault proxy in front of `targetPort`. Faults apply to new connections; switching to a fault
 * also cuts the connections in progress, as a crashing or restarting server would.
 */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let target = targetPort;
  let mode: FaultMode = 'pass';
  let accepted = 0;
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const doomed = new WeakSet<Socket>();
  const onConnection = (socket: Socket) => {
    accepted++;
    sockets.add(socket);
    clients.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      clients.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    switch (mode) {
      case 'reset':
        socket.resetAndDestroy();
        return;
      case 'stall':
        socket.resume();
        return;
      case 'http500':
        socket.once('data', () =>
          socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\nerror'),
        );
        return;
      default: {
        const upstream = connect(target, '127.0.0.1');
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
        upstream.on('close', () => socket.destroy());
        upstream.pipe(socket);
        // Requests reach the server `delayMs` late (read at the time each chunk arrives, in order), also
        // on kept-alive connections: a slow server.
        // Chunks keep their order: each is due no earlier than the one before it.
        let dueAt = 0;
        const later = (fn: () => void) => {
          dueAt = Math.max(Date.now() + delayMs, dueAt);
          const wait = dueAt - Date.now();
          if (wait <= 0) fn();
          else setTimeout(fn, wait);
        };
        socket.on('data', (chunk: Buffer) => {
          if (doomed.has(socket)) {
            socket.resetAndDestroy();
            upstream.destroy();
            return;
          }
          later(() => upstream.write(chunk));
        });
        socket.on('end', () => later(() => upstream.end()));
      }
    }
  };
  let server: Server = createServer(onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy has no port');
  const port = address.port;
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  const close = async () => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    cut();
    await closed;
  };
  return {
    port,
    async setMode(next) {
      mode = next;
      cut();
      if (next === 'refuse') {
        await close();
        return;
      }
      if (!server.listening) {
        server = createServer(onConnection);
        server.listen(port, '127.0.0.1');
        await once(server, 'listening');
      }
    },
    setDelay(ms) {
      delayMs = ms;
    },
    setTarget(next) {
      target = next;
      cut();
    },
    resetOnNextRequest() {
      for (const c of clients) doomed.add(c);
    },
    connections: () => accepted,
    stop: close,
  };
}

/** A plain-HTTP git server behind a fault proxy, for tests that break git on purpose. */
export interface ProxiedGit {
  readonly servers: GitServers;
  readonly proxy: FaultProxy;
  /** URL of repository `name` through the proxy. */
  viaProxy(name: string): string;
}

/** Starts git over HTTP behind a fault proxy; both stop at `t`'s teardown. */
export async function startProxiedGit(t: { teardown(fn: () => Promise<void>): void }): Promise<ProxiedGit> {
  const servers = await startGitServers({ ssh: false, daemon: false });
  t.teardown(() => servers.stop());
  const proxy = await startFaultProxy(Number(new URL(servers.urls.http('x')).port));
  t.teardown(() => proxy.stop());
  return {
    servers,
    proxy,
    viaProxy: (name) => {
      const u = new URL(servers.urls.http(name));
      u.port = String(proxy.port);
      return u.toString();
    },
  };
}
