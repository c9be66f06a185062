import { readFile } from 'node:fs/promises';
import { CodedError } from '@git-events-runner/shared';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { TlsOptions } from '../config/index.js';
import { messageOf, statusOf } from '../runtime/util.js';

/** Codes of WebhookTlsError. */
export const WEBHOOK_TLS_ERROR_CODES = ['FileUnreadable', 'SecretUnreadable', 'SecretKeyMissing'] as const;
export type WebhookTlsErrorCode = (typeof WEBHOOK_TLS_ERROR_CODES)[number];

/** The webhook server's certificate or key cannot be read; the message names the file or Secret, never PEM. */
export class WebhookTlsError extends CodedError<WebhookTlsErrorCode> {
  override readonly name = 'WebhookTlsError';
}

/** A PEM certificate (chain) and its key. */
export interface WebhookTls {
  readonly cert: string;
  readonly key: string;
}

/**
 * Reads the webhook server's certificate and key from their files or their Secret (keys `tls.crt` and
 * `tls.key`); undefined without TLS. Called at start-up and on every reload tick, so it reads afresh.
 */
export async function loadWebhookTls(tls: TlsOptions | undefined, core: CoreV1Api): Promise<WebhookTls | undefined> {
  if (tls === undefined) return undefined;
  if (tls.source === 'files') {
    const read = (path: string) =>
      readFile(path, 'utf8').catch((err: unknown) => {
        throw new WebhookTlsError('FileUnreadable', `cannot read ${path}: ${messageOf(err)}`, { cause: err });
      });
    const [cert, key] = await Promise.all([read(tls.certPath), read(tls.keyPath)]);
    return { cert, key };
  }
  const where = `Secret ${tls.namespace}/${tls.name}`;
  const secret = await core.readNamespacedSecret({ namespace: tls.namespace, name: tls.name }).catch((err: unknown) => {
    const status = statusOf(err);
    throw new WebhookTlsError(
      'SecretUnreadable',
      `cannot read ${where}: ${status === undefined ? messageOf(err) : `HTTP ${status}`}`,
      { cause: err },
    );
  });
  const field = (k: string) => {
    const v = secret.data?.[k];
    if (v === undefined) throw new WebhookTlsError('SecretKeyMissing', `${where} has no key ${k}`);
    return Buffer.from(v, 'base64').toString('utf8');
  };
  return { cert: field('tls.crt'), key: field('tls.key') };
}
