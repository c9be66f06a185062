import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Label values of the webhook a request went to. */
export type WebhookName = 'validate' | 'mutate';

/** The admission server's metrics, in a registry of its own (no global state). */
export class Metrics {
  readonly registry = new Registry();
  /** Reviews answered, by webhook, kind, operation and result (allowed, denied, patched, error). */
  readonly requests: Counter<'webhook' | 'kind' | 'operation' | 'result'>;
  readonly duration: Histogram<'webhook'>;
  /** Warnings returned, by webhook and kind. */
  readonly warnings: Counter<'webhook' | 'kind'>;
  /** SubjectAccessReviews made, by result (allowed, denied, error). */
  readonly accessReviews: Counter<'result'>;
  /** Certificate reloads, by result (ok, failed). */
  readonly tlsReloads: Counter<'result'>;
  /** Expiry of the certificate being served (Unix seconds): alert before it passes. */
  readonly certificateNotAfter: Gauge;

  constructor(prefix = 'git_events_admission') {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Label values are bounded: two webhooks, the six kinds (anything else counts as "other"), four operations.
    this.requests = new Counter({
      name: `${prefix}_requests_total`,
      help: 'AdmissionReviews answered, by webhook, kind, operation and result (allowed, denied, patched, error).',
      labelNames: ['webhook', 'kind', 'operation', 'result'],
      registers,
    });
    this.duration = new Histogram({
      name: `${prefix}_request_duration_seconds`,
      help: 'Time to answer an AdmissionReview, cluster checks included.',
      labelNames: ['webhook'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.warnings = new Counter({
      name: `${prefix}_warnings_total`,
      help: 'Warnings returned to clients, by webhook and kind.',
      labelNames: ['webhook', 'kind'],
      registers,
    });
    this.accessReviews = new Counter({
      name: `${prefix}_subject_access_reviews_total`,
      help: 'SubjectAccessReviews made for Secrets referenced by sources, by result (allowed, denied, error).',
      labelNames: ['result'],
      registers,
    });
    this.tlsReloads = new Counter({
      name: `${prefix}_tls_reloads_total`,
      help: 'Reloads of the serving certificate after its files changed, by result (ok, failed).',
      labelNames: ['result'],
      registers,
    });
    this.certificateNotAfter = new Gauge({
      name: `${prefix}_tls_certificate_not_after_seconds`,
      help: 'Expiry of the serving certificate (Unix time, seconds).',
      registers,
    });
  }
}
