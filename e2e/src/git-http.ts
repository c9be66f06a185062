import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { KeyPair } from './pki.js';

// Smart HTTP for the git access tests: a small Node front that runs git's own git-http-backend as a CGI
// program for each request, so clients talk to the reference server implementation (protocol v0 and v2,
// gzip request bodies, fetch by commit id) while the front adds what tests need: authentication with a
// chosen scheme, public and private repositories, TLS, and counters of requests and bytes.

/** User name and password of HTTP Basic authentication. */
export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * What a private repository requires. `basic`: HTTP Basic with these credentials. `token`: the request's
 * `Authorization` header must equal this exact value (e.g. `Bearer abc` or `Basic eC1hY2Nlc3MtdG9rZW46YWJj`),
 * the way GitHub or GitLab tokens are passed. With both, either is accepted; with neither, nothing is needed.
 */
export interface HttpAuth {
  readonly basic?: BasicCredentials;
  readonly token?: string;
}

/** Options of {@link startGitHttpServer}. */
export interface GitHttpServerOptions {
  /** Directory holding the repositories (GIT_PROJECT_ROOT). */
  readonly root: string;
  /** Credentials that private repositories require (default: none, every repository is public). */
  readonly auth?: HttpAuth;
  /** Repositories served without credentials even when `auth` is set (names with or without `.git`). */
  readonly publicRepos?: readonly string[];
  /** Serves HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  readonly tls?: KeyPair;
  /** File the CGI program's stderr is appended to (default: discarded). */
  readonly logFile?: string;
  /** Address to listen on (default 127.0.0.1; a real node's Pods reach the host end of its link). */
  readonly host?: string;
}

/** One request as the server saw it. */
export interface GitHttpRequestRecord {
  readonly method: string;
  /** Path and query as sent. */
  readonly url: string;
  /** The repository name the path addresses (without `.git`), if any. */
  readonly repo: string | undefined;
  status: number;
  /** The `Git-Protocol` request header (`version=2` when the client speaks protocol v2). */
  readonly gitProtocol: string | undefined;
  /** The `Content-Encoding` request header (`gzip` for compressed request bodies). */
  readonly contentEncoding: string | undefined;
  /** The authenticated user (Basic user name, or `token`), if credentials were accepted. */
  user: string | undefined;
  /** Request body bytes as received (compressed when gzip). */
  bytesReceived: number;
  /** Response body bytes sent. */
  bytesSent: number;
}

/** Counters of a server since it started or since {@link GitHttpServer.resetStats}. */
export interface GitHttpStats {
  requests: number;
  /** Request body bytes received, as on the wire (before gunzip). */
  bytesReceived: number;
  /** Response body bytes sent (without headers). */
  bytesSent: number;
  /** The requests themselves, oldest first; the first 10,000 after a reset are kept. */
  readonly log: GitHttpRequestRecord[];
}

/** A running smart HTTP(S) git server. */
export interface GitHttpServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly origin: string;
  /** URL of a repository: `<origin>/<name>.git`. */
  url(name: string): string;
  readonly stats: GitHttpStats;
  resetStats(): void;
  /** Replaces the credentials private repositories require (e.g. to test rotated secrets). */
  setAuth(auth: HttpAuth | undefined): void;
  /** Makes a repository public (true) or private (false). */
  setPublic(name: string, isPublic: boolean): void;
  /** Closes the listener and every connection, and kills running CGI processes. */
  stop(): Promise<void>;
}

const MAX_LOG = 10_000;

// Paths git clients request under a repository (smart protocol, plus the dumb protocol's files).
const REPO_PATH = /^\/(.+?)\/(?:info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.+|info\/.+)$/;

let backendPath: string | undefined;
/** Absolute path of git-http-backend (in `git --exec-path`, not on PATH). */
function httpBackend(): string {
  backendPath ??= resolve(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-http-backend');
  return backendPath;
}

function repoKey(name: string): string {
  return name.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The user the request authenticates as, or undefined when its credentials are missing or wrong. */
function authenticate(header: string | undefined, auth: HttpAuth): string | undefined {
  if (header === undefined) return undefined;
  if (auth.token !== undefined && safeEqual(header, auth.token)) return 'token';
  if (auth.basic !== undefined) {
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (m?.[1] !== undefined) {
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = decoded.slice(0, colon);
      if (
        colon >= 0 &&
        safeEqual(user, auth.basic.username) &&
        safeEqual(decoded.slice(colon + 1), auth.basic.password)
      )
        return user;
    }
  }
  return undefined;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Splits the CGI output head (`Status: 200 OK`, headers) from the body; undefined until it is complete. */
function parseCgiHead(buf: Buffer): { status: number; headers: [string, string][]; rest: Buffer } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  let end: number;
  let sep: number;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) {
    end = crlf;
    sep = 4;
  } else if (lf >= 0) {
    end = lf;
    sep = 2;
  } else {
    return undefined;
  }
  let status = 200;
  const headers: [string, string][] = [];
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { status, headers, rest: buf.subarray(end + sep) };
}

/** Starts a smart HTTP (or HTTPS, with `tls`) git server on 127.0.0.1 (or `host`) and a free port. */
export async function startGitHttpServer(options: GitHttpServerOptions): Promise<GitHttpServer> {
  const root = resolve(options.root);
  let auth = options.auth ?? {};
  const publicRepos = new Set((options.publicRepos ?? []).map(repoKey));
  const stats: GitHttpStats = { requests: 0, bytesReceived: 0, bytesSent: 0, log: [] };
  const children = new Set<ChildProcess>();
  const backend = httpBackend();
  const logFile = options.logFile;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let pathInfo: string;
    try {
      pathInfo = decodeURIComponent(url.pathname);
    } catch {
      pathInfo = '';
    }
    const repo = REPO_PATH.exec(pathInfo)?.[1];
    const record: GitHttpRequestRecord = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      repo: repo === undefined ? undefined : repoKey(repo),
      status: 0,
      gitProtocol: headerValue(req, 'git-protocol'),
      contentEncoding: headerValue(req, 'content-encoding'),
      user: undefined,
      bytesReceived: 0,
      bytesSent: 0,
    };
    stats.requests++;
    if (stats.log.length < MAX_LOG) stats.log.push(record);
    req.on('data', (d: Buffer) => {
      record.bytesReceived += d.length;
      stats.bytesReceived += d.length;
    });
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      record.status = status;
      record.bytesSent += Buffer.byteLength(body);
      stats.bytesSent += Buffer.byteLength(body);
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }).end(body);
      req.resume();
    };
    // URL parsing already removed "." and ".." segments; encoded ones must not reach past the access check.
    if (record.repo === undefined || pathInfo.split('/').some((s) => s === '..')) {
      send(404, 'not a repository path\n');
      return;
    }
    const needsAuth = (auth.basic !== undefined || auth.token !== undefined) && !publicRepos.has(record.repo);
    const user = authenticate(headerValue(req, 'authorization'), auth);
    if (needsAuth && user === undefined) {
      send(401, 'authentication required\n', { 'WWW-Authenticate': 'Basic realm="git"' });
      return;
    }
    record.user = user;

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: root,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_SOFTWARE: 'git-events-runner-test',
      REQUEST_METHOD: record.method,
      PATH_INFO: pathInfo,
      QUERY_STRING: url.search.replace(/^\?/, ''),
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    };
    if (user !== undefined) env.REMOTE_USER = user;
    const contentType = headerValue(req, 'content-type');
    if (contentType !== undefined) env.CONTENT_TYPE = contentType;
    // Without CONTENT_LENGTH (chunked uploads) git-http-backend reads the body to end of input.
    const contentLength = headerValue(req, 'content-length');
    if (contentLength !== undefined) env.CONTENT_LENGTH = contentLength;
    // git-http-backend inflates gzip bodies itself when told the encoding, as a web server's CGI would
    // (HTTP_* variables); CONTENT_LENGTH then is the compressed length, which is what it reads.
    if (record.contentEncoding !== undefined) env.HTTP_CONTENT_ENCODING = record.contentEncoding;
    // Protocol v2 over HTTP: the client's Git-Protocol header becomes GIT_PROTOCOL for upload-pack.
    if (record.gitProtocol !== undefined) {
      env.GIT_PROTOCOL = record.gitProtocol;
      env.HTTP_GIT_PROTOCOL = record.gitProtocol;
    }

    const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    child.once('close', () => children.delete(child));
    child.stderr.on('data', (d: Buffer) => {
      if (logFile !== undefined) appendFileSync(logFile, d);
    });
    child.stdin.on('error', () => {});
    req.pipe(child.stdin);
    // A client that went away mid-response leaves nobody to read the CGI's output.
    res.on('close', () => {
      if (!res.writableFinished && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    let head: Buffer | undefined = Buffer.alloc(0);
    const write = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      record.bytesSent += chunk.length;
      stats.bytesSent += chunk.length;
      if (!res.write(chunk)) {
        child.stdout.pause();
        res.once('drain', () => child.stdout.resume());
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      if (head === undefined) {
        write(d);
        return;
      }
      head = Buffer.concat([head, d]);
      const parsed = parseCgiHead(head);
      if (parsed === undefined) return;
      head = undefined;
      record.status = parsed.status;
      res.statusCode = parsed.status;
      for (const [name, value] of parsed.headers) res.appendHeader(name, value);
      write(parsed.rest);
    });
    child.once('error', () => {
      if (!res.headersSent) send(500, 'git-http-backend could not start\n');
    });
    child.stdout.once('end', () => {
      if (head !== undefined && !res.headersSent) send(502, 'git-http-backend sent no response\n');
      else res.end();
    });
  };

  const server: Server = options.tls === undefined ? createHttpServer(handle) : createHttpsServer(options.tls, handle);
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolvePromise());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('git http server has no address');
  const origin = `${options.tls === undefined ? 'http' : 'https'}://${options.host ?? '127.0.0.1'}:${address.port}`;
  return {
    port: address.port,
    origin,
    url: (name) => `${origin}/${repoKey(name)}.git`,
    stats,
    resetStats() {
      stats.requests = 0;
      stats.bytesReceived = 0;
      stats.bytesSent = 0;
      stats.log.length = 0;
    },
    setAuth(next) {
      auth = next ?? {};
    },
    setPublic(name, isPublic) {
      if (isPublic) publicRepos.add(repoKey(name));
      else publicRepos.delete(repoKey(name));
    },
    async stop() {
      for (const child of children) child.kill('SIGKILL');
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A server that misbehaves on purpose, for negative tests. */
export interface HostileServer {
  readonly port: number;
  /** A repository URL on this server with the given scheme (default `http`). */
  url(name: string, scheme?: 'http' | 'https' | 'git' | 'ssh'): string;
  /** Connections accepted so far. */
  readonly connections: () => number;
  stop(): Promise<void>;
}

function hostileUrl(port: number) {
  return (name: string, scheme: 'http' | 'https' | 'git' | 'ssh' = 'http') =>
    scheme === 'ssh'
      ? `ssh://git@127.0.0.1:${port}/${repoKey(name)}.git`
      : `${scheme}://127.0.0.1:${port}/${repoKey(name)}.git`;
}

async function listenHostile(server: Server | ReturnType<typeof createNetServer>, sockets: Set<Socket>) {
  let count = 0;
  server.on('connection', (socket: Socket) => {
    count++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A client giving up resets the connection; that is expected here, not an error of the harness.
    socket.on('error', () => {});
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolvePromise());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('hostile server has no address');
  return {
    port: address.port,
    url: hostileUrl(address.port),
    connections: () => count,
    async stop() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/**
 * Accepts TCP connections and never sends a byte (nor closes them): a client must time out, whatever the
 * scheme (HTTP, HTTPS handshake, SSH banner, git://).
 */
export async function startHangingServer(): Promise<HostileServer> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    // Read and drop what the client sends so its writes never block; answer nothing.
    socket.resume();
  });
  return listenHostile(server, sockets);
}

/** Options of {@link startGarbageServer}. */
export interface GarbageServerOptions {
  /**
   * `http` (default): every HTTP request gets 200 with a garbage body. `tcp`: garbage is written as soon
   * as a connection opens, then it is closed (for ssh:// and git:// clients).
   */
  readonly mode?: 'http' | 'tcp';
  /** Content-Type of the HTTP answers (default: the smart protocol's, so clients parse the garbage). */
  readonly contentType?: string;
}

/** Answers with garbage bytes: a client must fail with a protocol error, not hang or crash. */
export async function startGarbageServer(options: GarbageServerOptions = {}): Promise<HostileServer> {
  // Not hexadecimal, so not a pkt-line length; followed by random bytes.
  const garbage = () => Buffer.concat([Buffer.from('zzzz this is not git\n'), randomBytes(2048)]);
  const sockets = new Set<Socket>();
  if (options.mode === 'tcp') {
    const server = createNetServer((socket) => {
      socket.end(garbage());
    });
    return listenHostile(server, sockets);
  }
  const contentType = options.contentType ?? 'application/x-git-upload-pack-advertisement';
  const server = createHttpServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache' }).end(garbage());
  });
  return listenHostile(server, sockets);
}
