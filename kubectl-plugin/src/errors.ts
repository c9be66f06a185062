import { CodedError } from '@git-events-runner/shared';
/** Why a command failed; scripts and tests branch on these, never on messages. */
export const PLUGIN_ERROR_CODES = [
  /** Bad flags or arguments. */
  'Usage',
  /** The kubeconfig cannot be read or names no usable context. */
  'Config',
  /** The API server cannot be reached. */
  'Unreachable',
  /** The API server refused the credentials (401). */
  'Unauthorized',
  /** RBAC refused a request (403). */
  'Forbidden',
  /** A named object does not exist. */
  'NotFound',
  /** A name matches a ScheduleTrigger and a WebhookTrigger. */
  'Ambiguous',
  /** The CRDs are not installed. */
  'NoCrds',
  /** No token for a trigger that needs one. */
  'NoToken',
  /** The webhook server refused the token (401/403). */
  'TokenRejected',
  /** The webhook server answered something other than "scheduled". */
  'HookRefused',
  /** The webhook Service or its endpoints cannot be reached through the API server. */
  'ServiceUnavailable',
  /** The trigger is suspended. */
  'Suspended',
  /** A check or Job failed while waiting. */
  'RunFailed',
  /** `--timeout` passed while waiting. */
  'Timeout',
  /** Any other API error. */
  'ApiError',
] as const;

/** One of PLUGIN_ERROR_CODES. */
export type PluginErrorCode = (typeof PLUGIN_ERROR_CODES)[number];

/** A failure reported to the user in one line on stderr (exit code 1); never carries a secret. */
export class PluginError extends CodedError<PluginErrorCode> {
  override readonly name = 'PluginError';
}

/** A Kubernetes `Status` object as the API server returns it with an error. */
export interface ApiStatus {
  readonly kind?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: { readonly name?: string; readonly kind?: string };
}

/** Parses an error body into a Kubernetes Status when it is one. */
export function parseStatus(body: unknown): ApiStatus | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (value === null || typeof value !== 'object') return undefined;
  const status = value as ApiStatus;
  return status.kind === 'Status' ? status : undefined;
}

/** The error's HTTP status and body when it comes from the API (client-node's ApiException). */
export function apiErrorParts(err: unknown): { code: number; body: unknown } | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const { code, body } = err as { code?: unknown; body?: unknown };
  return typeof code === 'number' && code >= 100 && code < 600 ? { code, body } : undefined;
}

/** Network-level error codes (ECONNREFUSED, ENOTFOUND, ...) anywhere in an error's cause chain. */
export function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$|^UND_ERR|^ERR_TLS|CERT|SELF_SIGNED/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** First line of an error's message. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n')[0] ?? '').trim();
}

/**
 * Turns an API client error into a PluginError with kubectl's wording: the API server's own message
 * (which names the user, verb and resource on 403), or what to check when the server is unreachable.
 * `what` says what was being done ("list ScheduleTriggers in namespace x").
 */
export function toPluginError(err: unknown, what: string, server?: string): PluginError {
  if (err instanceof PluginError) return err;
  const parts = apiErrorParts(err);
  if (parts !== undefined) {
    const status = parseStatus(parts.body);
    const message = status?.message ?? `HTTP ${parts.code}`;
    switch (parts.code) {
      case 401:
        return new PluginError(
          'Unauthorized',
          `cannot ${what}: the API server refused the credentials (Unauthorized): check the kubeconfig's user`,
          { cause: err },
        );
      case 403:
        return new PluginError('Forbidden', `${message} (Forbidden)`, { cause: err });
      case 404:
        return new PluginError('NotFound', `${message} (NotFound)`, { cause: err });
      default:
        return new PluginError('ApiError', `cannot ${what}: ${message} (HTTP ${parts.code})`, { cause: err });
    }
  }
  // fetch (undici) fails with "fetch failed" and the reason as its cause, with or without an errno code.
  const cause = (err as { cause?: unknown } | null)?.cause;
  const net =
    networkCode(err) ??
    (err instanceof TypeError && err.message === 'fetch failed' && cause instanceof Error
      ? firstLine(cause)
      : undefined);
  if (net !== undefined) {
    const where = server === undefined ? 'the API server' : `the server ${server}`;
    const hint = net === 'ECONNREFUSED' ? ' - did you specify the right host or port?' : '';
    return new PluginError('Unreachable', `cannot reach ${where} (${net})${hint}`, { cause: err });
  }
  return new PluginError('ApiError', `cannot ${what}: ${firstLine(err)}`, { cause: err });
}
