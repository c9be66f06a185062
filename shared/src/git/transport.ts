import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { type ClientChannel, Client as SshClient } from 'ssh2';
import { GitError } from './errors.js';
import {
  fingerprint,
  hostKeyAlgorithms,
  keyTypeOf,
  knownHostsName,
  parseKnownHosts,
  verifyHostKey,
} from './known-hosts.js';
import { FLUSH, PktReader, pktLine } from './pkt-line.js';
import type { ParsedRepoUri } from './url.js';
import { parseRepoUri } from './url.js';

/** Credentials for a repository, already read from its Secret. */
export type GitAuth =
  | { readonly type: 'basic'; readonly username: string; readonly password: string }
  /** The whole value of the Authorization header, e.g. `Bearer x` or `Basic <b64>` (as the original). */
  | { readonly type: 'token'; readonly authorization: string }
  | {
      readonly type: 'ssh';
      readonly privateKey: string;
      readonly passphrase?: string | undefined;
      /** known_hosts text; required unless insecureIgnoreHostKey. */
      readonly knownHosts?: string | undefined;
      readonly insecureIgnoreHostKey?: boolean | undefined;
    };

/** Counters of network use, for benchmarks and metrics. */
export interface TransferStats {
  requests: number;
  /** HTTP(S): connections opened (a request on a kept-alive connection opens none). */
  connections?: number;
  bytesSent: number;
  bytesReceived: number;
}

/** How to reach one repository. */
export interface GitRemote {
  /** The repository URI as written in the GitRepo (used in messages; it holds no credentials). */
  readonly uri: string;
  readonly auth?: GitAuth | undefined;
  /** Extra CA certificates (PEM) trusted besides the system roots. */
  readonly caCert?: string | undefined;
  readonly noVerifySsl?: boolean | undefined;
  /** Proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); pass process.env's from the start-up config. */
  readonly proxyEnv?: Readonly<Record<string, string | undefined>> | undefined;
  /** Deadline of one whole operation; default 60 s. */
  readonly timeoutMs?: number | undefined;
  /** Most bytes one operation may receive; default 512 MiB. */
  readonly maxBytes?: number | undefined;
  readonly stats?: TransferStats | undefined;
  /**
   * HTTP(S) connections kept alive between operations (a long-running process); absent: each operation
   * connects anew and closes its connections when it ends.
   */
  readonly agents?: HttpAgents | undefined;
}

/** How long a kept-alive connection may stay idle before it is closed. */
const IDLE_CONNECTION_MS = 4_000;

/**
 * Keep-alive HTTP(S) agents shared by the operations of a long-running process: a check reuses the
 * connection (and TLS session) of the one before it to the same host, instead of a TCP and TLS handshake
 * per check. One agent per set of connection settings (TLS trust, proxy), each pooling per host;
 * credentials are per request, never part of a connection. Idle connections close after 4 s, below the
 * 5 s keep-alive timeout common in web servers, so a connection the server is about to close is rarely
 * reused; when one is (the server closed it as the request left), the request is sent again once on a new
 * connection.
 */
export class HttpAgents {
  readonly #agents = new Map<string, HttpAgent>();
  readonly #max: number;

  /** `max`: agents kept (distinct TLS and proxy settings); the least recently used is let go beyond it. */
  constructor(options: { readonly max?: number } = {}) {
    this.#max = options.max ?? 32;
  }

  /** The agent for these settings, created on first use. */
  agentFor(secure: boolean, remote: Pick<GitRemote, 'caCert' | 'noVerifySsl' | 'proxyEnv'>): HttpAgent {
    const key = JSON.stringify([
      secure,
      remote.caCert ?? null,
      remote.noVerifySsl === true,
      Object.entries(remote.proxyEnv ?? {}).sort(([a], [b]) => a.localeCompare(b)),
    ]);
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      agent = newAgent(secure, remote, IDLE_CONNECTION_MS);
      this.#agents.set(key, agent);
      for (const [oldest, old] of this.#agents) {
        if (this.#agents.size <= this.#max) break;
        this.#agents.delete(oldest);
        // Its requests in flight finish; its idle connections close now.
        for (const free of Object.values(old.freeSockets)) for (const socket of free ?? []) socket.destroy();
      }
    } else {
      // Most recently used last.
      this.#agents.delete(key);
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** Closes every connection (at shutdown). */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

function newAgent(
  secure: boolean,
  remote: Pick<GitRemote, 'caCert' | 'noVerifySsl' | 'proxyEnv'>,
  idleMs: number | undefined,
): HttpAgent {
  const options = {
    keepAlive: true,
    // Closes idle connections only (an agent's socket timeout never ends a request in flight).
    ...(idleMs !== undefined ? { timeout: idleMs, maxFreeSockets: 8 } : {}),
    ...(remote.proxyEnv !== undefined ? { proxyEnv: { ...remote.proxyEnv } } : {}),
  };
  return secure
    ? new HttpsAgent({
        ...options,
        ca: remote.caCert !== undefined ? [...rootCertificates, remote.caCert] : undefined,
        rejectUnauthorized: remote.noVerifySsl !== true,
      })
    : new HttpAgent(options);
}

/** Default deadline of an operation. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Default limit on the bytes an operation may receive. */
export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;

/** What isomorphic-git needs for one operation: an HttpClient, the URL to give it, and cleanup. */
export interface Transport {
  readonly http: HttpClient;
  /** URL handed to isomorphic-git; for ssh and git:// a placeholder the transport ignores. */
  readonly url: string;
  readonly signal: AbortSignal;
  /**
   * The first error raised while streaming a response body. isomorphic-git swallows some of them (a
   * truncated advertisement reads as an empty repository), so callers check this before trusting a result.
   */
  failure(): GitError | undefined;
  /**
   * Ends the operation's connections; with shared agents (GitRemote.agents), reads what is left of
   * responses first (briefly, bounded) so that the next operation can reuse them. Never rejects.
   */
  close(): Promise<void>;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'EPROTO',
]);
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNRESET',
  'EPIPE',
]);

/** Maps a socket/TLS/abort error to a GitError naming the repository. */
export function networkError(uri: string, err: unknown, signal: AbortSignal): GitError {
  if (err instanceof GitError) return err;
  if (signal.aborted) return new GitError('Timeout', uri, 'timed out', { cause: err });
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TLS_CODES.has(code)) {
    return new GitError('Tls', uri, `TLS verification failed (${code}); set tlsConfig.caCert to the server's CA`, {
      cause: err,
    });
  }
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) {
    return new GitError('Unreachable', uri, `cannot connect (${code})`, { cause: err });
  }
  return new GitError('Protocol', uri, `transport error: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

async function* chunks(body: GitHttpRequest['body'] | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (body === undefined) return;
  for await (const chunk of body as AsyncIterable<Uint8Array>) yield chunk;
}

async function collect(body: GitHttpRequest['body']): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks(body)) parts.push(c);
  return Buffer.concat(parts);
}

/** Counts and limits what a response body delivers. */
interface StreamState {
  received: number;
  failure?: GitError;
}

async function* metered(
  source: AsyncIterable<Uint8Array>,
  remote: GitRemote,
  state: StreamState,
): AsyncGenerator<Uint8Array> {
  const max = remote.maxBytes ?? DEFAULT_MAX_BYTES;
  for await (const chunk of source) {
    state.received += chunk.byteLength;
    if (remote.stats !== undefined) remote.stats.bytesReceived += chunk.byteLength;
    if (state.received > max) {
      state.failure ??= new GitError('TooLarge', remote.uri, `server sent more than ${max} bytes`);
      throw state.failure;
    }
    yield chunk;
  }
}

// ---------------------------------------------------------------- http(s)

function httpTransport(remote: GitRemote, signal: AbortSignal): Transport {
  const parsed = parseRepoUri(remote.uri);
  const secure = parsed.scheme === 'https';
  const pooled = remote.agents?.agentFor(secure, remote);
  const agent = pooled ?? newAgent(secure, remote, undefined);
  const auth = remote.auth;
  const authorization =
    auth?.type === 'basic'
      ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
      : auth?.type === 'token'
        ? auth.authorization
        : undefined;
  const state: StreamState = { received: 0 };
  // Responses whose body was not read to its end.
  const unfinished = new Set<{ res: IncomingMessage; body: AsyncGenerator<Uint8Array> }>();

  const request = async (req: GitHttpRequest): Promise<GitHttpResponse> => {
    const body = req.body === undefined ? undefined : await collect(req.body);
    const headers: Record<string, string> = { ...req.headers, 'user-agent': 'git/isomorphic-git git-events-runner' };
    if (authorization !== undefined) headers.authorization = authorization;
    if (body !== undefined) headers['content-length'] = String(body.length);
    if (remote.stats !== undefined) {
      remote.stats.requests += 1;
      remote.stats.bytesSent += body?.length ?? 0;
    }
    const send = () =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const r = (secure ? httpsRequest : httpRequest)(
          req.url,
          { method: req.method ?? 'GET', headers, agent, signal },
          resolve,
        );
        r.once('socket', () => {
          if (!r.reusedSocket && remote.stats !== undefined)
            remote.stats.connections = (remote.stats.connections ?? 0) + 1;
        });
        r.once('error', (err: NodeJS.ErrnoException) =>
          reject(
            r.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE') && !signal.aborted
              ? new StaleConnection(err)
              : networkError(remote.uri, err, signal),
          ),
        );
        r.end(body);
      });
    // A kept-alive connection the server closed as the request left: nothing reached git, so the request
    // (its body is in memory) goes again, once, on a new connection (the other idle ones are as likely
    // closed, so they go too).
    const res = await send().catch((err: unknown) => {
      if (!(err instanceof StaleConnection)) throw err;
      for (const free of Object.values(agent.freeSockets)) for (const socket of free ?? []) socket.destroy();
      return send().catch((again: unknown) => {
        throw again instanceof StaleConnection ? networkError(remote.uri, again.cause, signal) : again;
      });
    });
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403) {
      res.resume();
      throw new GitError(
        'AuthFailed',
        remote.uri,
        authorization === undefined
          ? `authentication required (HTTP ${status})`
          : `authentication failed (HTTP ${status})`,
      );
    }
    if (status === 404) {
      res.resume();
      throw new GitError('NotFound', remote.uri, 'repository not found (HTTP 404)');
    }
    const responseHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers))
      if (v !== undefined) responseHeaders[k] = Array.isArray(v) ? v.join(', ') : v;
    // Not destroyed when a reader stops early (ls-refs stops at its flush packet, before the end of the
    // HTTP body): close() reads the rest so that the connection can serve the next operation.
    const chunks = res.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>;
    const wrapped = (async function* () {
      try {
        yield* metered({ [Symbol.asyncIterator]: () => chunks }, remote, state);
      } catch (err: unknown) {
        state.failure ??= networkError(remote.uri, err, signal);
        throw state.failure;
      }
    })();
    const open = { res, body: wrapped };
    unfinished.add(open);
    res.once('close', () => unfinished.delete(open));
    return {
      url: req.url,
      method: req.method,
      statusCode: status,
      statusMessage: res.statusMessage ?? '',
      headers: responseHeaders,
      body: wrapped,
    };
  };

  return {
    http: { request },
    url: remote.uri,
    signal,
    failure: () => state.failure,
    // A shared agent keeps its connections for the next operation, once their responses are read.
    close: async () => {
      if (pooled === undefined) {
        agent.destroy();
        return;
      }
      const drains = [...unfinished].map(({ res, body }) =>
        body.return(undefined).then(
          () => drain(res),
          () => {
            res.destroy();
          },
        ),
      );
      unfinished.clear();
      await Promise.all(drains);
    },
  };
}

/** What is left of a response, read so its kept-alive connection can be reused. */
const DRAIN_BYTES = 64 * 1024;
const DRAIN_MS = 1_000;

/**
 * Reads the rest of a response an operation stopped reading, if it is short and comes soon (the end of
 * an answer already sent); otherwise the connection is closed rather than read for nothing.
 */
function drain(res: IncomingMessage): Promise<void> {
  if (res.readableEnded || res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let left = DRAIN_BYTES;
    const timer = setTimeout(() => res.destroy(), DRAIN_MS).unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // 'end' is when the connection goes back to the agent; 'close' covers a destroyed one.
    res.once('end', done);
    res.once('close', done);
    res.on('error', () => undefined);
    res.on('data', (chunk: Buffer) => {
      left -= chunk.length;
      if (left < 0) res.destroy();
    });
    res.resume();
  });
}

/** A request failed on a reused connection before any answer (see httpTransport). */
class StaleConnection extends Error {
  constructor(cause: NodeJS.ErrnoException) {
    super('kept-alive connection closed by the server', { cause });
  }
}

// ---------------------------------------------------------------- ssh and git:// (stateful connections)

/** A bidirectional byte stream to a remote git-upload-pack. */
interface Connection {
  readonly input: AsyncIterable<Uint8Array>;
  write(data: Buffer): void;
  /** Server diagnostics (ssh stderr), for error messages. */
  diagnostics(): string;
  close(): void;
}

const PLACEHOLDER = 'http://git-transport.invalid/repository';
const ADVERTISEMENT_HEADER = Buffer.concat([pktLine('# service=git-upload-pack\n'), FLUSH]);

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

function openGitDaemon(
  parsed: ParsedRepoUri,
  v2: boolean,
  remote: GitRemote,
  signal: AbortSignal,
): Promise<Connection> {
  return new Promise((resolve, reject) => {
    // git-upload-pack <path>\0host=<host>\0[\0version=2\0], encoded before connecting: a path too long for
    // one pkt-line is the source's mistake, not the server's, and must not throw in a socket callback.
    let request: Buffer;
    try {
      request = pktLine(
        `git-upload-pack ${parsed.path}\0host=${parsed.host}:${parsed.port}\0${v2 ? '\0version=2\0' : ''}`,
      );
    } catch (err: unknown) {
      reject(
        new GitError('Config', remote.uri, 'the repository path is too long for the git:// protocol', { cause: err }),
      );
      return;
    }
    const socket: Socket = netConnect({ host: parsed.host, port: parsed.port, signal });
    socket.once('error', (err) => reject(networkError(remote.uri, err, signal)));
    socket.once('connect', () => {
      socket.write(request);
      resolve({
        input: socket,
        write: (d) => socket.write(d),
        diagnostics: () => '',
        close: () => socket.destroy(),
      });
    });
  });
}

function openSsh(parsed: ParsedRepoUri, v2: boolean, remote: GitRemote, signal: AbortSignal): Promise<Connection> {
  const auth = remote.auth;
  if (auth?.type !== 'ssh') {
    return Promise.reject(
      new GitError('Config', remote.uri, 'an ssh repository needs authConfig.type ssh with a private key'),
    );
  }
  const entries = parseKnownHosts(auth.knownHosts ?? '');
  const checkHostKey = auth.insecureIgnoreHostKey !== true;
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    let hostKeyProblem: GitError | undefined;
    let stderr = '';
    const fail = (err: unknown) => {
      client.end();
      const message = err instanceof Error ? err.message : String(err);
      const level = (err as { level?: unknown }).level;
      if (hostKeyProblem !== undefined) reject(hostKeyProblem);
      else if (level === 'client-authentication')
        reject(new GitError('AuthFailed', remote.uri, 'ssh authentication failed (key not accepted)', { cause: err }));
      else if (/passphrase|private key|Unsupported key format|Cannot parse privateKey/i.test(message)) {
        reject(
          new GitError('Config', remote.uri, `cannot use the ssh private key: ${message.replace(/\n.*/s, '')}`, {
            cause: err,
          }),
        );
      } else if (level === 'client-timeout')
        reject(new GitError('Timeout', remote.uri, 'ssh handshake timed out', { cause: err }));
      else reject(networkError(remote.uri, err, signal));
    };
    const onAbort = () => fail(new GitError('Timeout', remote.uri, 'timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('error', fail);
    client.once('ready', () => {
      const command = `git-upload-pack ${shellQuote(parsed.path)}`;
      client.exec(
        command,
        v2 ? { env: { GIT_PROTOCOL: 'version=2' } } : {},
        (err: Error | undefined, channel: ClientChannel) => {
          if (err !== undefined) {
            fail(err);
            return;
          }
          channel.stderr.on('data', (d: Buffer) => {
            if (stderr.length < 4096) stderr += d.toString('utf8');
          });
          resolve({
            input: channel,
            write: (d) => channel.write(d),
            diagnostics: () => stderr.trim(),
            close: () => {
              signal.removeEventListener('abort', onAbort);
              client.end();
            },
          });
        },
      );
    });
    const algorithms = checkHostKey ? hostKeyAlgorithms(entries, parsed.host, parsed.port) : [];
    try {
      client.connect({
        host: parsed.host,
        port: parsed.port,
        username: parsed.user,
        privateKey: auth.privateKey,
        ...(auth.passphrase !== undefined ? { passphrase: auth.passphrase } : {}),
        readyTimeout: remote.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        ...(algorithms.length > 0 ? { algorithms: { serverHostKey: algorithms as never } } : {}),
        hostVerifier: (key: Buffer) => {
          if (!checkHostKey) return true;
          const verdict = verifyHostKey(entries, parsed.host, parsed.port, key);
          if (verdict === 'trusted') return true;
          const name = knownHostsName(parsed.host, parsed.port);
          hostKeyProblem =
            verdict === 'unknown'
              ? new GitError(
                  'HostKeyUnknown',
                  remote.uri,
                  `host key of ${name} (${fingerprint(key)}) is not in known_hosts${entries.length === 0 ? ' (the auth Secret has none)' : ''}; after verifying the fingerprint out of band, add to the known_hosts key of the auth Secret: ${name} ${keyTypeOf(key)} ${key.toString('base64')} (or set authConfig.insecureIgnoreHostKey: true to accept any key)`,
                )
              : new GitError(
                  'HostKeyMismatch',
                  remote.uri,
                  `host key of ${name} (${fingerprint(key)}) does not match known_hosts${verdict === 'revoked' ? ' (revoked)' : ''}: possible man-in-the-middle; the connection was refused`,
                );
          return false;
        },
      });
    } catch (err: unknown) {
      fail(err);
    }
  });
}

function statefulTransport(remote: GitRemote, parsed: ParsedRepoUri, signal: AbortSignal): Transport {
  let connection: Connection | undefined;
  let reader: PktReader | undefined;
  const state: StreamState = { received: 0 };

  const closeConnection = () => {
    connection?.close();
    connection = undefined;
    reader = undefined;
  };

  const emptyStream = (conn: Connection): GitError => {
    if (signal.aborted) return new GitError('Timeout', remote.uri, 'timed out');
    const why = conn.diagnostics();
    if (/not found|does not exist|does not appear to be a git repository|no such/i.test(why)) {
      return new GitError('NotFound', remote.uri, `repository not found: ${why.split('\n')[0]}`);
    }
    return new GitError(
      'Protocol',
      remote.uri,
      `server closed the connection${why === '' ? '' : `: ${why.split('\n')[0]}`}`,
    );
  };

  // Reads packets up to and including the next flush; rejects ERR packets with the server's reason.
  const untilFlush = async (conn: Connection, r: PktReader): Promise<Buffer[]> => {
    const raw: Buffer[] = [];
    for (;;) {
      let next: Awaited<ReturnType<PktReader['read']>>;
      try {
        next = await r.read();
      } catch (err: unknown) {
        throw err instanceof GitError ? err : networkError(remote.uri, err, signal);
      }
      if (next === undefined) {
        if (raw.length === 0 || signal.aborted) throw emptyStream(conn);
        throw new GitError('Protocol', remote.uri, 'server closed the connection in the middle of a response');
      }
      if (next.packet.kind === 'data') {
        const text = next.packet.payload.toString('utf8');
        if (text.startsWith('ERR ')) {
          const reason = text.slice(4).trim();
          throw new GitError(
            /not found|no such|not exported|does not appear/i.test(reason) ? 'NotFound' : 'Protocol',
            remote.uri,
            `server error: ${reason}`,
          );
        }
      }
      raw.push(next.raw);
      if (next.packet.kind === 'flush') return raw;
    }
  };

  const request = async (req: GitHttpRequest): Promise<GitHttpResponse> => {
    const headers = { 'content-type': 'application/x-git-upload-pack-advertisement' };
    if (remote.stats !== undefined) remote.stats.requests += 1;
    if ((req.method ?? 'GET') === 'GET') {
      // Discovery: open the connection and relay the advertisement as smart HTTP would.
      closeConnection();
      const v2 = Object.entries(req.headers ?? {}).some(
        ([k, v]) => k.toLowerCase() === 'git-protocol' && v.includes('version=2'),
      );
      const conn =
        parsed.scheme === 'git'
          ? await openGitDaemon(parsed, v2, remote, signal)
          : await openSsh(parsed, v2, remote, signal);
      connection = conn;
      reader = new PktReader(metered(conn.input, remote, state));
      const advertisement = await untilFlush(conn, reader);
      return {
        url: req.url,
        method: 'GET',
        statusCode: 200,
        statusMessage: 'OK',
        headers,
        body: (async function* () {
          yield ADVERTISEMENT_HEADER;
          for (const b of advertisement) yield b;
        })(),
      };
    }
    const conn = connection;
    const r = reader;
    if (conn === undefined || r === undefined) throw new GitError('Protocol', remote.uri, 'request without discovery');
    const body = await collect(req.body);
    if (remote.stats !== undefined) remote.stats.bytesSent += body.length;
    conn.write(body);
    const resultHeaders = { 'content-type': 'application/x-git-upload-pack-result' };
    // A protocol v2 command is answered up to a flush and the server then waits for the next one;
    // a v1 fetch is answered until the server closes the stream after the packfile.
    if (body.subarray(4, 12).toString('ascii') === 'command=') {
      const response = await untilFlush(conn, r);
      closeConnection();
      return {
        url: req.url,
        method: 'POST',
        statusCode: 200,
        statusMessage: 'OK',
        headers: resultHeaders,
        body: (async function* () {
          for (const b of response) yield b;
        })(),
      };
    }
    const stream = (async function* () {
      try {
        yield* r.rest();
      } catch (err: unknown) {
        state.failure ??= networkError(remote.uri, err, signal);
        throw state.failure;
      } finally {
        closeConnection();
      }
    })();
    return { url: req.url, method: 'POST', statusCode: 200, statusMessage: 'OK', headers: resultHeaders, body: stream };
  };

  return {
    http: { request },
    url: PLACEHOLDER,
    signal,
    failure: () => state.failure,
    close: async () => closeConnection(),
  };
}

/** Opens a transport for one operation on a repository; close() it when the operation ends. */
export function openTransport(remote: GitRemote): Transport {
  const signal = AbortSignal.timeout(remote.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  // Throws GitError Config naming the URI.
  const parsed: ParsedRepoUri = parseRepoUri(remote.uri);
  if (parsed.scheme === 'https' || parsed.scheme === 'http') return httpTransport(remote, signal);
  if (remote.auth !== undefined && remote.auth.type !== 'ssh' && parsed.scheme === 'ssh') {
    throw new GitError('Config', remote.uri, `authConfig.type ${remote.auth.type} cannot be used with an ssh URI`);
  }
  return statefulTransport(remote, parsed, signal);
}
