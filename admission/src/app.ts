import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { ClusterChecks } from './cluster.js';
import { AdmissionError } from './errors.js';
import type { Metrics, WebhookName } from './metrics.js';
import type { Policy } from './policy.js';
import { type AdmissionRequest, type AdmissionResponse, parseAdmissionReview, reviewResponse } from './review.js';
import { mutate } from './rules/mutate.js';
import { requestKind } from './rules/objects.js';
import { completeValidation, describeRequest, planValidation } from './rules/validate.js';

/** What the admission app needs; everything with side effects is handed in. */
export interface AppOptions {
  readonly logger: Logger;
  readonly policy: Policy;
  /** SubjectAccessReviews and reference lookups (kubernetesChecks() in production). */
  readonly checks: ClusterChecks;
  readonly metrics: Metrics;
  /** Serve HTTPS with this certificate chain and key (PEM); plain HTTP without (tests with inject()). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Clock for schedule checks (a cron expression must still fire after now). */
  readonly now?: () => Date;
}

/** Largest AdmissionReview accepted: an object and its old version, each up to etcd's 1.5 MiB. */
const BODY_LIMIT = 4 * 1024 * 1024;

const INTERNAL_ERROR = 'internal error of the admission server; its log has the details';

const admissionRoutes: FastifyPluginAsync<AppOptions> = async (app, opts) => {
  const now = opts.now ?? (() => new Date());
  const { metrics, logger } = opts;

  async function answer(
    webhook: WebhookName,
    body: unknown,
    review: (r: AdmissionRequest) => Promise<AdmissionResponse>,
  ) {
    const started = performance.now();
    const request = parseAdmissionReview(body);
    const kind = requestKind(request) ?? 'other';
    let response: AdmissionResponse;
    let result: string;
    try {
      response = await review(request);
      result = !response.allowed ? 'denied' : response.patch !== undefined ? 'patched' : 'allowed';
    } catch (err: unknown) {
      // A bug, not a verdict: refuse (the validating webhook is a security boundary) and say where to look.
      logger.error(
        { ...describeRequest(request), webhook, err: err instanceof Error ? err.stack : String(err) },
        'review failed',
      );
      response = {
        uid: request.uid,
        allowed: false,
        status: { code: 500, reason: 'InternalError', message: INTERNAL_ERROR },
      };
      result = 'error';
    }
    metrics.requests.inc({ webhook, kind, operation: request.operation, result });
    metrics.duration.observe({ webhook }, (performance.now() - started) / 1000);
    if (response.warnings !== undefined) metrics.warnings.inc({ webhook, kind }, response.warnings.length);
    // Kind, name, user and verdict only: objects are never logged.
    const line = {
      ...describeRequest(request),
      webhook,
      allowed: response.allowed,
      ...(response.status !== undefined ? { reason: response.status.message } : {}),
      ...(response.warnings !== undefined ? { warnings: response.warnings.length } : {}),
      ...(response.patch !== undefined ? { patched: true } : {}),
    };
    if (response.allowed) logger.debug(line, 'admitted');
    else logger.info(line, 'denied');
    return reviewResponse(response);
  }

  const validate = async (request: AdmissionRequest): Promise<AdmissionResponse> => {
    const plan = planValidation(request, opts.policy, now());
    const [access, exists] = await Promise.all([
      plan.secretReads.length > 0 ? opts.checks.access(plan.user, plan.secretReads) : [],
      plan.references.length > 0 ? opts.checks.exists(plan.references) : [],
    ]);
    return completeValidation(plan, access, exists);
  };

  app.setErrorHandler(async (err: unknown, _req, reply) => {
    if (err instanceof AdmissionError && err.code === 'InvalidReview') {
      return reply.code(400).send({ message: err.message });
    }
    const message = err instanceof Error ? err.message : String(err);
    // fastify's own client errors (a body that is not JSON, too large) keep their status.
    const status = (err as { statusCode?: unknown } | null)?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) return reply.code(status).send({ message });
    logger.error({ err: message }, 'request failed');
    return reply.code(500).send({ message: INTERNAL_ERROR });
  });

  app.post('/validate', async (req) => answer('validate', req.body, validate));
  app.post('/mutate', async (req) => answer('mutate', req.body, async (r) => mutate(r, opts.policy)));
};

const probeRoutes: FastifyPluginAsync<AppOptions> = async (app, opts) => {
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok'));
  app.get('/metrics', async (_req, reply) =>
    reply.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics()),
  );
};

/**
 * The admission server: POST /validate and /mutate (AdmissionReview admission.k8s.io/v1), GET /healthz
 * and /metrics. Listening is the caller's business (startAdmissionServer()).
 */
export function buildApp(opts: AppOptions): FastifyInstance {
  // pino's Logger and fastify's logger interface differ only in typing details.
  const loggerInstance = opts.logger.child({ server: 'admission' }) as unknown as FastifyBaseLogger;
  const app = Fastify({
    ...(opts.tls !== undefined ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // kube-apiserver gives up after the webhook's timeoutSeconds; nothing should take longer here.
    requestTimeout: 10_000,
    connectionTimeout: 10_000,
  });
  // Answer 503 rather than queue while the event loop or heap is overloaded; kube-apiserver then refuses
  // the write (failurePolicy Fail) instead of waiting for its timeout.
  app.register(underPressure, {
    maxEventLoopDelay: 1000,
    maxHeapUsedBytes: 1024 * 1024 * 1024,
    retryAfter: 5,
    exposeStatusRoute: false,
  });
  app.register(admissionRoutes, opts);
  app.register(probeRoutes, opts);
  return app;
}
