import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { type ClusterChecks, kubernetesChecks } from './cluster.js';
import { AdmissionError } from './errors.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { defaultPolicy, type Policy } from './policy.js';

/** How to run the admission server (what `git-events-admission serve` builds from its flags). */
export interface AdmissionServerOptions {
  /** Credentials for SubjectAccessReviews and reference lookups. */
  readonly kubeConfig: KubeConfig;
  /** PEM certificate chain, re-read every `tlsReloadMs`: a rotated Secret mount is picked up without a restart. */
  readonly tlsCertPath: string;
  /** PEM private key, re-read with the certificate. */
  readonly tlsKeyPath: string;
  /** Default 8443; 0 picks a free port (see AdmissionServer.port). */
  readonly port?: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  /** Default: defaultPolicy(). */
  readonly policy?: Policy;
  /** Default: JSON lines at info on stderr. */
  readonly logger?: Logger;
  /** How often the certificate files are checked for changes (default 5000 ms). */
  readonly tlsReloadMs?: number;
  /** Clock of the schedule checks. */
  readonly now?: () => Date;
  /** Replaces the checks against kube-apiserver (kubernetesChecks(kubeConfig) by default). */
  readonly checks?: ClusterChecks;
}

/** A running admission server. */
export interface AdmissionServer {
  readonly host: string;
  readonly port: number;
  /** `https://<host>:<port>`; the webhook paths are /validate and /mutate. */
  readonly url: string;
  readonly metrics: Metrics;
  /** Stops listening after answering the requests in flight. */
  stop(): Promise<void>;
}

interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

async function readPair(certPath: string, keyPath: string): Promise<KeyPair> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (err: unknown) {
      const reason = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new AdmissionError('UnreadableFile', `${what} ${path}: cannot read it (${reason})`, { cause: err });
    }
  };
  const [cert, key] = await Promise.all([read(certPath, 'TLS certificate'), read(keyPath, 'TLS key')]);
  return { cert, key };
}

/** Expiry of the leaf certificate (Unix seconds); throws AdmissionError when the pair cannot serve. */
function checkPair(pair: KeyPair, certPath: string): number {
  try {
    // Fails on unreadable PEM and on a key that does not belong to the certificate.
    createSecureContext({ cert: pair.cert, key: pair.key });
    return Date.parse(new X509Certificate(pair.cert).validTo) / 1000;
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AdmissionError(
      'InvalidCertificate',
      `TLS certificate ${certPath} and its key cannot be used: ${reason}`,
      {
        cause: err,
      },
    );
  }
}

const digest = (pair: KeyPair) => createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');

/**
 * Starts the admission server over HTTPS and keeps its certificate current.
 *
 * @throws AdmissionError `UnreadableFile` or `InvalidCertificate` when the certificate cannot be served.
 */
export async function startAdmissionServer(options: AdmissionServerOptions): Promise<AdmissionServer> {
  const logger = options.logger ?? createLogger('json', 'info');
  const policy = options.policy ?? defaultPolicy();
  const metrics = new Metrics();
  let current = await readPair(options.tlsCertPath, options.tlsKeyPath);
  metrics.certificateNotAfter.set(checkPair(current, options.tlsCertPath));
  const checks =
    options.checks ??
    kubernetesChecks(options.kubeConfig, { onAccessReview: (result) => metrics.accessReviews.inc({ result }) });
  const app = buildApp({
    logger,
    policy,
    checks,
    metrics,
    tls: current,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  const host = options.host ?? '0.0.0.0';
  await app.listen({ host, port: options.port ?? 8443 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 8443);

  let currentDigest = digest(current);
  let failedDigest: string | undefined;
  let reloading = false;
  // New connections get a rotated certificate; established ones keep theirs.
  const reload = async () => {
    const next = await readPair(options.tlsCertPath, options.tlsKeyPath);
    const nextDigest = digest(next);
    if (nextDigest === currentDigest || nextDigest === failedDigest) return;
    try {
      const notAfter = checkPair(next, options.tlsCertPath);
      (app.server as unknown as { setSecureContext(pair: KeyPair): void }).setSecureContext(next);
      current = next;
      currentDigest = nextDigest;
      failedDigest = undefined;
      metrics.certificateNotAfter.set(notAfter);
      metrics.tlsReloads.inc({ result: 'ok' });
      logger.info({ notAfter: new Date(notAfter * 1000).toISOString() }, 'TLS certificate reloaded');
    } catch (err: unknown) {
      // Often a rotation caught half-way (new certificate, old key): the next check tries again.
      failedDigest = nextDigest;
      metrics.tlsReloads.inc({ result: 'failed' });
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'keeping the current TLS certificate');
    }
  };
  const timer = setInterval(() => {
    if (reloading) return;
    reloading = true;
    reload()
      .catch((err: unknown) =>
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the TLS certificate'),
      )
      .finally(() => {
        reloading = false;
      });
  }, options.tlsReloadMs ?? 5000);
  timer.unref();

  const shownHost = host.includes(':') ? `[${host}]` : host;
  logger.info({ host, port }, 'admission server listening');
  let stopping: Promise<void> | undefined;
  return {
    host,
    port,
    url: `https://${shownHost}:${port}`,
    metrics,
    stop: () => {
      stopping ??= (async () => {
        clearInterval(timer);
        await app.close();
        logger.info('admission server stopped');
      })();
      return stopping;
    },
  };
}
