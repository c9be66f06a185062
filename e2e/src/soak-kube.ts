import { Agent, request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

// The soak's frequent API calls (a Job's status, its deletion, the Lease) over kept-alive connections:
// client-node 2.x opens a new TLS connection per request, which on a 2-core machine would cost the soak
// (and the API server) CPU that belongs to the controllers under test.

/** Why the soak cannot go on: a kubeconfig without a cluster, or a signal. */
export class SoakError extends Error {
  readonly code: 'NO_CLUSTER' | 'INTERRUPTED';
  constructor(code: SoakError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SoakError';
    this.code = code;
  }
}

/** A Kubernetes API answer that was not 2xx. */
export class ApiError extends Error {
  readonly code = 'API_STATUS';
  readonly status: number;
  constructor(method: string, path: string, status: number, body: string, options?: { cause?: unknown }) {
    super(`${method} ${path}: ${status} ${body.slice(0, 300)}`, options);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** JSON requests to the API server of a kubeconfig. */
export interface SoakApi {
  /** Resolves with the parsed body of a 2xx answer; rejects with {@link ApiError} otherwise. */
  call(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown>;
  close(): void;
}

/** A client for `kc`'s current cluster and user, with one pool of kept-alive connections. */
export async function soakApi(kc: KubeConfig): Promise<SoakApi> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new SoakError('NO_CLUSTER', 'the kubeconfig has no current cluster');
  const base = new URL(server);
  const tls: Record<string, unknown> = {};
  await kc.applyToHTTPSOptions(tls);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const call = (method: string, path: string, body?: unknown, contentType = 'application/json') =>
    new Promise<unknown>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          ...tls,
          agent,
          host: base.hostname,
          port: base.port,
          method,
          path,
          timeout: 15_000,
          headers: {
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => {
            text += d;
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) {
              reject(new ApiError(method, path, status, text));
              return;
            }
            try {
              resolve(text === '' ? undefined : JSON.parse(text));
            } catch (err: unknown) {
              reject(new ApiError(method, path, status, text, { cause: err }));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  return { call, close: () => agent.destroy() };
}
