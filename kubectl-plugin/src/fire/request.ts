import { createHmac } from 'node:crypto';
import { PluginError, parseStatus } from '../errors.js';
import type { WebhookTriggerObject } from '../kube/types.js';
import { hookPath } from '../status/model.js';

/** The webhook Service the Helm chart creates: `<release>-webhooks` in the release namespace, port `webhooks`. */
export const DEFAULT_SERVICE = 'git-events-runner/git-events-runner-webhooks:webhooks';
/** Environment variable that replaces DEFAULT_SERVICE (so a cluster's setting need not be typed each time). */
export const SERVICE_ENV = 'KUBECTL_GIT_EVENTS_SERVICE';
/** The header of the token when neither the trigger nor `--auth-header` names one (the controller's default). */
export const DEFAULT_AUTH_HEADER = 'x-trigger-auth';

/** A Service reached through the API server's service proxy. */
export interface ServiceRef {
  readonly scheme: 'http' | 'https';
  readonly namespace: string;
  readonly name: string;
  /** Port name or number. */
  readonly port: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Parses `[https:]NAMESPACE/NAME[:PORT]` (PORT: a port name or number, default `webhooks`).
 * @throws PluginError `Usage` naming the value.
 */
export function parseServiceRef(text: string): ServiceRef {
  let rest = text.trim();
  let scheme: ServiceRef['scheme'] = 'http';
  const schemeMatch = /^(https?):(?!\/\/)/.exec(rest);
  if (schemeMatch !== null) {
    scheme = schemeMatch[1] === 'https' ? 'https' : 'http';
    rest = rest.slice(schemeMatch[0].length);
  }
  const match = /^([^/:]+)\/([^/:]+)(?::([^/:]+))?$/.exec(rest);
  const namespace = match?.[1];
  const name = match?.[2];
  const port = match?.[3] ?? 'webhooks';
  if (
    namespace === undefined ||
    name === undefined ||
    !DNS_LABEL.test(namespace) ||
    !DNS_LABEL.test(name) ||
    !(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(port) && port.length <= 15)
  ) {
    throw new PluginError(
      'Usage',
      `invalid --service "${text}": expected [https:]NAMESPACE/NAME[:PORT], e.g. git-events-runner/git-events-runner-webhooks:webhooks`,
    );
  }
  return { scheme, namespace, name, port };
}

/** The API server path that proxies `path` to a Service (kubectl's `services/[scheme:]name:port/proxy`). */
export function serviceProxyPath(service: ServiceRef, path: string): string {
  const id = `${service.scheme === 'https' ? 'https:' : ''}${service.name}:${service.port}`;
  return `/api/v1/namespaces/${encodeURIComponent(service.namespace)}/services/${encodeURIComponent(id)}/proxy${path}`;
}

/**
 * Checks a `--url` value: an absolute http(s) URL of the webhook server (a path prefix is kept).
 * @throws PluginError `Usage` naming the value.
 */
export function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PluginError('Usage', `invalid --url "${text}": expected http(s)://HOST[:PORT][/PREFIX]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new PluginError('Usage', `invalid --url "${text}": only http:// and https:// are supported`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new PluginError('Usage', `invalid --url "${text}": no credentials, query or fragment`);
  return url;
}

/** Which hook to call: one source, or every source of a multi-source trigger. */
export interface HookTarget {
  readonly path: string;
  /** Undefined: every source (`POST /{namespace}/{trigger}`). */
  readonly source: string | undefined;
}

/**
 * Chooses the hook path: the named source (which must be one of the trigger's), else every source when
 * the trigger allows multi-source hooks, else its only source.
 * @throws PluginError `Usage` when the source is unknown or a choice is needed.
 */
export function hookTarget(trigger: WebhookTriggerObject, source: string | undefined): HookTarget {
  const namespace = trigger.metadata.namespace ?? '';
  const name = trigger.metadata.name;
  const names = trigger.spec.sources.names;
  if (source !== undefined) {
    if (!names.includes(source))
      throw new PluginError(
        'Usage',
        `WebhookTrigger ${namespace}/${name} has no source "${source}" (sources: ${names.join(', ') || 'none'})`,
      );
    return { path: hookPath(namespace, name, source), source };
  }
  if (trigger.spec.webhook.multiSource === true) return { path: hookPath(namespace, name), source: undefined };
  const only = names.length === 1 ? names[0] : undefined;
  if (only !== undefined) return { path: hookPath(namespace, name, only), source: only };
  throw new PluginError(
    'Usage',
    `WebhookTrigger ${namespace}/${name} does not allow multi-source hooks: name a SOURCE (one of ${names.join(', ') || 'none'})`,
  );
}

/** A request to the webhook server, ready to send. */
export interface HookRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

function hmac(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * The request that fires a trigger. Token triggers get the token in their header; provider triggers get
 * the provider's push event, signed with the secret, with an empty payload (which names no ref, so the
 * controller checks the watched ref itself, as for a token request).
 */
export function hookRequest(
  trigger: WebhookTriggerObject,
  token: string | undefined,
  defaultHeader: string,
): HookRequest {
  const auth = trigger.spec.webhook.authConfig;
  if (auth === undefined || token === undefined) return { headers: {}, body: '' };
  const json = { 'content-type': 'application/json' };
  const body = '{}';
  switch (auth.provider ?? 'token') {
    case 'token':
      return { headers: { [(auth.header ?? defaultHeader).toLowerCase()]: token }, body: '' };
    case 'github':
      return {
        headers: { ...json, 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac(token, body)}` },
        body,
      };
    case 'gitlab':
      return { headers: { ...json, 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': token }, body };
    case 'gitea':
      return { headers: { ...json, 'x-gitea-event': 'push', 'x-gitea-signature': hmac(token, body) }, body };
    case 'bitbucket':
      return {
        headers: { ...json, 'x-event-key': 'repo:refs_changed', 'x-hub-signature': `sha256=${hmac(token, body)}` },
        body,
      };
  }
}

/** Headers of `GET /tasks/{id}`: every trigger takes its secret in its token header there. */
export function taskHeaders(
  trigger: WebhookTriggerObject,
  token: string | undefined,
  defaultHeader: string,
): Record<string, string> {
  const auth = trigger.spec.webhook.authConfig;
  if (auth === undefined || token === undefined) return {};
  return { [(auth.header ?? defaultHeader).toLowerCase()]: token };
}

/** An HTTP answer: status code, headers that matter, and the body text. */
export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly retryAfter?: string;
}

/** How the webhook server was reached, for messages. */
export type Route =
  | { readonly kind: 'proxy'; readonly service: ServiceRef }
  | { readonly kind: 'url'; readonly url: string };

function routeText(route: Route): string {
  return route.kind === 'proxy'
    ? `Service ${route.service.namespace}/${route.service.name}:${route.service.port} (through the API server)`
    : route.url;
}

function jsonOf(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Errors of the API server's service proxy itself (its answers are Kubernetes Status objects), as
 * messages that say what to do; undefined when the answer came from the webhook server.
 */
export function proxyFailure(answer: HttpAnswer, route: Route): PluginError | undefined {
  if (route.kind !== 'proxy') return undefined;
  const status = parseStatus(answer.body);
  if (status === undefined) return undefined;
  const svc = `${route.service.namespace}/${route.service.name}`;
  const message = status.message ?? `HTTP ${answer.status}`;
  const hint = `pass --service NAMESPACE/NAME[:PORT] (or set ${SERVICE_ENV}) or --url`;
  switch (answer.status) {
    case 401:
      return new PluginError('Unauthorized', 'the API server refused the credentials (Unauthorized)');
    case 403:
      return new PluginError(
        'Forbidden',
        `${message} (Forbidden): firing through the API server needs "create" and "get" on services/proxy in ${route.service.namespace}, or use --url`,
      );
    case 404:
      return new PluginError('ServiceUnavailable', `webhook Service ${svc} not found (${message}): ${hint}`);
    case 503:
      return new PluginError(
        'ServiceUnavailable',
        `webhook Service ${svc} has no ready endpoint (${message}): is the controller running?`,
      );
    default:
      return new PluginError(
        'ServiceUnavailable',
        `cannot reach the webhook server through ${svc}: ${message} (HTTP ${answer.status})`,
      );
  }
}

/**
 * The task id of a "job has been scheduled" answer; every other answer becomes an error that says what
 * it means for the user (never echoing the token).
 * @throws PluginError
 */
export function interpretHookAnswer(answer: HttpAnswer, route: Route, trigger: string): string {
  const proxied = proxyFailure(answer, route);
  if (proxied !== undefined) throw proxied;
  const json = jsonOf(answer.body);
  const message =
    typeof json?.message === 'string' ? json.message : answer.body.trim().split('\n')[0] || `HTTP ${answer.status}`;
  const taskId = json?.task_id;
  if (answer.status === 202 && typeof taskId === 'string' && taskId !== '') return taskId;
  switch (answer.status) {
    case 401:
      throw new PluginError(
        'NoToken',
        `the webhook server wants a token for ${trigger} (401 ${message}): pass --token-env VAR`,
      );
    case 403:
      throw new PluginError(
        'TokenRejected',
        `the webhook server refused the token for ${trigger} (403 ${message}): check --token/--token-env or the trigger's Secret`,
      );
    case 404:
      throw new PluginError(
        'NotFound',
        `the webhook server at ${routeText(route)} answered 404 (${message}) for ${trigger}: is that controller watching this namespace?`,
      );
    case 409:
      throw new PluginError('Suspended', `${trigger} is suspended (409): set spec.suspend to false first`);
    case 429:
      throw new PluginError(
        'HookRefused',
        `the webhook server rate-limits ${trigger} (429): retry in ${answer.retryAfter ?? '?'}s`,
      );
    case 500:
      throw new PluginError(
        'HookRefused',
        `the webhook server cannot read ${trigger}'s token Secret (500 ${message}): check the Secret and key named in spec.webhook.authConfig`,
      );
    case 503:
      throw new PluginError(
        'HookRefused',
        `the webhook server is overloaded (503): retry in ${answer.retryAfter ?? 'a few'}s`,
      );
    default:
      throw new PluginError('HookRefused', `the webhook server answered ${answer.status} for ${trigger}: ${message}`);
  }
}

/** The state of a webhook task (`GET /tasks/{id}`). */
export interface TaskState {
  readonly state: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  readonly jobs: readonly string[];
  readonly errors: readonly { readonly source: string; readonly reason: string; readonly message: string }[];
}

const TASK_STATES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;

/**
 * Reads a `GET /tasks/{id}` answer.
 * @throws PluginError when the answer is not a task.
 */
export function interpretTaskAnswer(answer: HttpAnswer, route: Route, taskId: string): TaskState {
  const proxied = proxyFailure(answer, route);
  if (proxied !== undefined) throw proxied;
  const json = jsonOf(answer.body);
  if (answer.status === 404)
    throw new PluginError(
      'NotFound',
      `task ${taskId} is not known to the webhook server that answered (tasks live in the replica that took the hook, for an hour)`,
    );
  if (answer.status === 401 || answer.status === 403)
    throw new PluginError(
      'TokenRejected',
      `the webhook server refused the token when asked about task ${taskId} (${answer.status})`,
    );
  const state = json?.state;
  if (answer.status !== 200 || typeof state !== 'string' || !(TASK_STATES as readonly string[]).includes(state))
    throw new PluginError('HookRefused', `unexpected answer about task ${taskId}: HTTP ${answer.status}`);
  const jobs = Array.isArray(json?.jobs) ? json.jobs.filter((j): j is string => typeof j === 'string') : [];
  const errors = Array.isArray(json?.errors)
    ? json.errors
        .filter((e): e is Record<string, unknown> => e !== null && typeof e === 'object')
        .map((e) => ({
          source: String(e.source ?? ''),
          reason: String(e.reason ?? ''),
          message: String(e.message ?? ''),
        }))
    : [];
  return { state: state as TaskState['state'], jobs, errors };
}
