import http from 'node:http';
import https from 'node:https';
import { networkCode, PluginError } from '../errors.js';
import type { Kube } from '../kube/client.js';
import { type HttpAnswer, type Route, type ServiceRef, serviceProxyPath } from './request.js';

/** Sends requests to the webhook server, through the API server's service proxy or straight to a URL. */
export interface HookClient {
  readonly route: Route;
  send(
    method: 'GET' | 'POST',
    path: string,
    headers: Readonly<Record<string, string>>,
    body?: string,
  ): Promise<HttpAnswer>;
}

const MAX_ANSWER = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;

function request(
  url: URL,
  options: https.RequestOptions,
  body: string | undefined,
  where: string,
): Promise<HttpAnswer> {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { ...options, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER) chunks.push(chunk);
      });
      res.on('end', () => {
        const retry = res.headers['retry-after'];
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(typeof retry === 'string' ? { retryAfter: retry } : {}),
        });
      });
      res.on('error', (err) =>
        reject(new PluginError('Unreachable', `the answer from ${where} broke off (${err.message})`, { cause: err })),
      );
    });
    req.on('timeout', () => req.destroy(new PluginError('Unreachable', `no answer from ${where} within 30s`)));
    req.on('error', (err: unknown) => {
      if (err instanceof PluginError) return reject(err);
      const code = networkCode(err) ?? (err instanceof Error ? err.message : String(err));
      reject(new PluginError('Unreachable', `cannot reach ${where} (${code})`, { cause: err }));
    });
    if (body !== undefined && body !== '') req.write(body);
    req.end();
  });
}

/** Requests through `/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/...`, with the kubeconfig's credentials. */
export function proxyClient(kube: Kube, service: ServiceRef): HookClient {
  const route: Route = { kind: 'proxy', service };
  return {
    route,
    async send(method, path, headers, body) {
      const base = new URL(kube.server);
      // A server URL may carry a path prefix (clusters behind a gateway): keep it.
      const url = new URL(`${base.pathname.replace(/\/$/, '')}${serviceProxyPath(service, path)}`, base);
      const options: https.RequestOptions = {};
      await kube.kc.applyToHTTPSOptions(options);
      // The client's agent speaks TLS; a plain-http API server (local development) needs Node's default.
      if (url.protocol === 'http:') delete options.agent;
      const auth = (options.headers ?? {}) as Record<string, string>;
      return request(
        url,
        {
          ...options,
          method,
          headers: {
            ...auth,
            ...headers,
            ...(body === undefined || body === '' ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
          },
        },
        body,
        `the API server ${kube.server}`,
      );
    },
  };
}

/** Requests straight to the webhook server at `base` (`--url`); https uses the system CAs and NODE_EXTRA_CA_CERTS. */
export function urlClient(base: URL): HookClient {
  const prefix = base.pathname.replace(/\/$/, '');
  const route: Route = { kind: 'url', url: base.origin + prefix };
  return {
    route,
    send(method, path, headers, body) {
      const url = new URL(`${prefix}${path}`, base);
      return request(
        url,
        {
          method,
          headers: {
            ...headers,
            ...(body === undefined || body === '' ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
          },
        },
        body,
        base.origin,
      );
    },
  };
}
