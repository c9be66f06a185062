import { createHmac, timingSafeEqual } from 'node:crypto';
import { verify as verifyGithub } from '@octokit/webhooks-methods';

/** How a webhook request proves it knows the trigger's secret. */
export type Provider = 'token' | 'github' | 'gitlab' | 'gitea' | 'bitbucket';

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Constant-time string equality (a length mismatch still costs one comparison). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Verifies a request for a provider: 'missing' when the proof is absent (401), 'bad' when it does not
 * match (403). SHA-1 signatures (X-Hub-Signature: sha1=...) are never accepted.
 */
export async function verifyRequest(
  provider: Exclude<Provider, 'token'>,
  secret: string,
  headers: Headers,
  body: Buffer,
): Promise<'ok' | 'missing' | 'bad'> {
  switch (provider) {
    case 'github': {
      const signature = header(headers, 'x-hub-signature-256');
      if (signature === undefined) return 'missing';
      if (!signature.startsWith('sha256=')) return 'bad';
      try {
        return (await verifyGithub(secret, body.toString('utf8'), signature)) ? 'ok' : 'bad';
      } catch {
        return 'bad';
      }
    }
    case 'gitlab': {
      const token = header(headers, 'x-gitlab-token');
      if (token === undefined) return 'missing';
      return safeEqual(token, secret) ? 'ok' : 'bad';
    }
    case 'gitea': {
      const signature = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature');
      if (signature === undefined) return 'missing';
      return safeEqual(signature.toLowerCase(), hmacHex(secret, body)) ? 'ok' : 'bad';
    }
    case 'bitbucket': {
      const signature = header(headers, 'x-hub-signature');
      if (signature === undefined) return 'missing';
      if (!signature.startsWith('sha256=')) return 'bad';
      return safeEqual(signature.slice('sha256='.length).toLowerCase(), hmacHex(secret, body)) ? 'ok' : 'bad';
    }
  }
}

/** What a provider's payload says, as a hint only: the check asks git itself. */
export interface EventHint {
  /** A ping or other event that must not start a check. */
  readonly kind: 'ping' | 'push' | 'other';
  /** Full refs the push changed, when the payload names them. */
  readonly refs: readonly string[];
  /** The provider's delivery id, for idempotency. */
  readonly deliveryId: string | undefined;
}

function parse(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the event kind, changed refs and delivery id a provider sends. Unknown shapes give no refs. */
export function eventHint(provider: Provider, headers: Headers, body: Buffer): EventHint {
  const payload = provider === 'token' ? undefined : parse(body);
  const ref = typeof payload?.ref === 'string' ? [payload.ref] : [];
  switch (provider) {
    case 'github': {
      const event = header(headers, 'x-github-event');
      return {
        kind: event === 'ping' ? 'ping' : event === 'push' ? 'push' : 'other',
        refs: ref,
        deliveryId: header(headers, 'x-github-delivery'),
      };
    }
    case 'gitlab': {
      const event = header(headers, 'x-gitlab-event');
      const push = event === 'Push Hook' || event === 'Tag Push Hook';
      return {
        kind: push ? 'push' : 'other',
        refs: ref,
        deliveryId: header(headers, 'x-gitlab-event-uuid') ?? header(headers, 'x-gitlab-webhook-uuid'),
      };
    }
    case 'gitea': {
      const event = header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event');
      return {
        kind: event === 'push' ? 'push' : event === 'ping' ? 'ping' : 'other',
        refs: ref,
        deliveryId: header(headers, 'x-gitea-delivery') ?? header(headers, 'x-forgejo-delivery'),
      };
    }
    case 'bitbucket': {
      const event = header(headers, 'x-event-key');
      // Entries are whatever the sender put there (null included): read them as unknown.
      const changes: unknown[] = Array.isArray(payload?.changes) ? payload.changes : [];
      const refs = changes
        .map((c) => (c as { ref?: { id?: unknown } } | null | undefined)?.ref?.id)
        .filter((r): r is string => typeof r === 'string');
      return {
        kind: event === 'diagnostics:ping' ? 'ping' : event === 'repo:refs_changed' ? 'push' : 'other',
        refs,
        deliveryId: header(headers, 'x-request-id'),
      };
    }
    case 'token':
      return { kind: 'push', refs: [], deliveryId: undefined };
  }
}
