import { createHash } from 'node:crypto';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { WebhookTriggerObject } from '../runtime/world.js';
import type { SecretLookup } from '../sources/secrets.js';
import { eventHint, safeEqual, verifyRequest } from './providers.js';
import { type Rate, RateLimiter } from './rate-limit.js';
import type { Task, TaskStore } from './tasks.js';

/** What the webhook server needs from the controller. */
export interface WebhookAppOptions {
  readonly logger: Logger;
  readonly findTrigger: (namespace: string, name: string) => WebhookTriggerObject | undefined;
  readonly secrets: SecretLookup;
  /** Header carrying the token when the trigger names none (runtime config). */
  readonly defaultAuthHeader: () => string;
  readonly tasks: TaskStore;
  /**
   * Accepts a task: records it and starts its check in the background. The request is answered 202 once
   * it resolves; a rejection (the request could not be recorded) answers 503 with Retry-After and
   * starts nothing.
   */
  readonly accept: (task: Task) => Promise<void>;
  /** Most bytes a request body may have. Default 1 MiB. */
  readonly bodyLimit?: number;
  /** Rate limits of the original's --hooks-rrl-global/-trigger/-source flags; absent ones are off. */
  readonly rateLimits?: { readonly global?: Rate; readonly trigger?: Rate; readonly source?: Rate };
  /** Called for every answered hook request; labels name only existing triggers (bounded series). */
  readonly observe?: (labels: { namespace: string; trigger_name: string; status: string }, seconds: number) => void;
  readonly now?: () => number;
  /**
   * Checks waiting for their turn, and how many may: above it every request gets 503 with Retry-After
   * (under-pressure's health check), so a flood is shed instead of queued without bound.
   */
  readonly backlog?: { readonly pending: () => number; readonly max: number };
  /** Serve HTTPS with this certificate chain and key (PEM). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

type Outcome = { code: number; message: string; taskId?: string; retryAfter?: number; unavailableFor?: number };

// Delivery ids come from request headers: a long one is hashed, so run keys (kept in the trigger's
// status) stay short.
function deliveryRunKey(deliveryId: string | undefined): string | undefined {
  if (deliveryId === undefined) return undefined;
  return deliveryId.length <= 128
    ? `delivery:${deliveryId}`
    : `delivery-sha256:${createHash('sha256').update(deliveryId).digest('hex')}`;
}

function reply(res: FastifyReply, outcome: Outcome): FastifyReply {
  if (outcome.unavailableFor !== undefined) res.header('retry-after', String(outcome.unavailableFor));
  if (outcome.retryAfter !== undefined) {
    // The original's 429: plain text and both headers.
    return res
      .code(429)
      .header('retry-after', String(outcome.retryAfter))
      .header('x-ratelimit-after', String(outcome.retryAfter))
      .type('text/plain')
      .send(`Too Many Requests! Wait for ${outcome.retryAfter}s`);
  }
  return res
    .code(outcome.code)
    .type('application/json')
    .send(
      outcome.taskId === undefined
        ? { status: outcome.code < 400 ? 'ok' : 'error', message: outcome.message }
        : { status: 'ok', message: outcome.message, task_id: outcome.taskId },
    );
}

/**
 * Checks a request's token against the trigger's Secret. The outcome codes are the original's: 401
 * without the header, 403 with a wrong token, 500 when the Secret cannot be read (its name is logged,
 * never sent).
 */
async function authorize(
  opts: WebhookAppOptions,
  trigger: WebhookTriggerObject,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): Promise<Outcome | undefined> {
  const auth = trigger.spec.webhook.authConfig;
  if (auth === undefined) return undefined;
  const provider = auth.provider ?? 'token';
  const header = (auth.header ?? opts.defaultAuthHeader()).toLowerCase();
  const raw = headers[header];
  const given = Array.isArray(raw) ? raw[0] : raw;
  if (provider === 'token' && typeof given !== 'string') return { code: 401, message: 'authorization is required' };
  const namespace = trigger.metadata.namespace ?? '';
  let expected: string | undefined;
  try {
    expected = (await opts.secrets.get(namespace, auth.secretRef.name))?.[auth.key]?.toString('utf8');
  } catch (err: unknown) {
    opts.logger.warn(
      {
        trigger: `${namespace}/${trigger.metadata.name}`,
        secret: auth.secretRef.name,
        err: err instanceof Error ? err.message : String(err),
      },
      'webhook Secret unreadable',
    );
  }
  if (expected === undefined) {
    opts.logger.warn(
      { trigger: `${namespace}/${trigger.metadata.name}`, secret: auth.secretRef.name, key: auth.key },
      'webhook Secret or key missing',
    );
    return { code: 500, message: 'unable to complete authorization' };
  }
  if (provider === 'token') return safeEqual(given ?? '', expected) ? undefined : { code: 403, message: 'forbidden' };
  const verdict = await verifyRequest(provider, expected, headers, body);
  if (verdict === 'missing') return { code: 401, message: 'authorization is required' };
  return verdict === 'ok' ? undefined : { code: 403, message: 'forbidden' };
}

/**
 * The webhook API of the original: `POST /{namespace}/{trigger}/{source}` checks one source,
 * `POST /{namespace}/{trigger}` every source (only with `multiSource: true`); the check runs in the
 * background and `GET /tasks/{id}` (same authorization as the trigger) tells how it went.
 */
export function buildWebhookApp(opts: WebhookAppOptions): FastifyInstance {
  // pino's Logger and fastify's logger interface differ only in typing details.
  const loggerInstance = opts.logger.child({ server: 'webhooks' }) as unknown as FastifyBaseLogger;
  const app = Fastify({
    ...(opts.tls !== undefined ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    requestTimeout: 30_000,
    connectionTimeout: 10_000,
  });
  // Refuse work with 503 + Retry-After while the event loop or heap is overloaded, rather than queueing.
  app.register(underPressure, {
    maxEventLoopDelay: 1000,
    maxHeapUsedBytes: 1024 * 1024 * 1024,
    retryAfter: 5,
    exposeStatusRoute: false,
    ...(opts.backlog !== undefined
      ? {
          healthCheck: async () => (opts.backlog?.pending() ?? 0) < (opts.backlog?.max ?? Number.POSITIVE_INFINITY),
          healthCheckInterval: 100,
        }
      : {}),
  });
  // Bodies are hints at most (provider payloads) and signatures cover the exact bytes: keep every body raw.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const params = {
    type: 'object',
    properties: {
      namespace: { type: 'string', maxLength: 253 },
      trigger: { type: 'string', maxLength: 253 },
      source: { type: 'string', maxLength: 253 },
    },
    required: ['namespace', 'trigger'],
  } as const;

  // Provider deliveries already handled: a redelivery answers with the first task, starting nothing.
  const deliveries = new Map<string, string>();
  const now = opts.now ?? Date.now;
  const limiters = {
    global: opts.rateLimits?.global === undefined ? undefined : new RateLimiter(opts.rateLimits.global, { now }),
    trigger: opts.rateLimits?.trigger === undefined ? undefined : new RateLimiter(opts.rateLimits.trigger, { now }),
    source: opts.rateLimits?.source === undefined ? undefined : new RateLimiter(opts.rateLimits.source, { now }),
  };
  // Source, then trigger, then global, as the original; keys exist only for triggers that exist.
  const limited = (p: { namespace: string; trigger: string; source?: string }, exists: boolean): number | undefined => {
    if (exists && p.source !== undefined) {
      const wait = limiters.source?.take(`${p.namespace}/${p.trigger}/${p.source}`);
      if (wait !== undefined) return wait;
    }
    if (exists) {
      const wait = limiters.trigger?.take(`${p.namespace}/${p.trigger}`);
      if (wait !== undefined) return wait;
    }
    return limiters.global?.take('');
  };

  const handle = async (
    p: { namespace: string; trigger: string; source?: string },
    headers: Record<string, string | string[] | undefined>,
    rawBody: unknown,
  ): Promise<Outcome> => {
    const body = Buffer.isBuffer(rawBody) ? rawBody : Buffer.alloc(0);
    const trigger = opts.findTrigger(p.namespace, p.trigger);
    const wait = limited(p, trigger !== undefined);
    if (wait !== undefined) return { code: 429, message: 'too many requests', retryAfter: wait };
    if (trigger === undefined) return { code: 404, message: "trigger doesn't exist" };
    const denied = await authorize(opts, trigger, headers, body);
    if (denied !== undefined) return denied;
    if (p.source === undefined && trigger.spec.webhook.multiSource !== true)
      return { code: 400, message: "multi-source hook isn't allowed" };
    if (p.source !== undefined && !trigger.spec.sources.names.includes(p.source))
      return { code: 404, message: "source doesn't exist in the trigger" };
    if (trigger.spec.suspend === true) return { code: 409, message: 'trigger is suspended' };
    const provider = trigger.spec.webhook.authConfig?.provider ?? 'token';
    const hint = eventHint(provider, headers, body);
    if (hint.kind === 'ping') return { code: 200, message: 'pong' };
    if (hint.kind === 'other') return { code: 200, message: 'event ignored: not a push' };
    const watched = trigger.spec.sources.watchOn?.reference ?? { branch: 'main' };
    const watchedRef =
      watched.branch !== undefined
        ? `refs/heads/${watched.branch}`
        : watched.tag !== undefined
          ? `refs/tags/${watched.tag}`
          : undefined;
    // A semver range watches every tag: a pushed tag may be the newest in range.
    const watches = (r: string) => (watched.semver !== undefined ? r.startsWith('refs/tags/') : r === watchedRef);
    if (hint.refs.length > 0 && !hint.refs.some(watches)) {
      return { code: 200, message: 'push to a ref the trigger does not watch: ignored' };
    }
    const deliveryKey =
      hint.deliveryId === undefined ? undefined : `${p.namespace}/${p.trigger}/${p.source ?? ''}/${hint.deliveryId}`;
    const seen = deliveryKey === undefined ? undefined : deliveries.get(deliveryKey);
    if (seen !== undefined && opts.tasks.get(seen) !== undefined)
      return { code: 202, message: 'job has been scheduled', taskId: seen };
    const task = opts.tasks.create(p.namespace, p.trigger, p.source, deliveryRunKey(hint.deliveryId));
    try {
      await opts.accept(task);
    } catch {
      // Why is the controller's to log; the sender only learns that nothing was started.
      opts.tasks.forget(task.id);
      return { code: 503, message: 'the request could not be recorded; retry', unavailableFor: 1 };
    }
    if (deliveryKey !== undefined) {
      deliveries.set(deliveryKey, task.id);
      while (deliveries.size > 10_000) {
        const oldest = deliveries.keys().next().value;
        if (oldest === undefined) break;
        deliveries.delete(oldest);
      }
    }
    return { code: 202, message: 'job has been scheduled', taskId: task.id };
  };

  const answer = (p: { namespace: string; trigger: string }, res: FastifyReply, outcome: Outcome) => {
    const known = opts.findTrigger(p.namespace, p.trigger) !== undefined;
    opts.observe?.(
      { namespace: known ? p.namespace : '', trigger_name: known ? p.trigger : '', status: String(outcome.code) },
      res.elapsedTime / 1000,
    );
    return reply(res, outcome);
  };

  app.post<{ Params: { namespace: string; trigger: string } }>(
    '/:namespace/:trigger',
    { schema: { params } },
    async (req, res) => answer(req.params, res, await handle(req.params, req.headers, req.body)),
  );
  app.post<{ Params: { namespace: string; trigger: string; source: string } }>(
    '/:namespace/:trigger/:source',
    { schema: { params: { ...params, required: ['namespace', 'trigger', 'source'] } } },
    async (req, res) => answer(req.params, res, await handle(req.params, req.headers, req.body)),
  );
  app.get<{ Params: { id: string } }>(
    '/tasks/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } } },
    async (req, res) => {
      const task = opts.tasks.get(req.params.id);
      const trigger = task === undefined ? undefined : opts.findTrigger(task.namespace, task.trigger);
      if (task === undefined || trigger === undefined) return reply(res, { code: 404, message: "task doesn't exist" });
      // Task lookups carry no body to sign: provider triggers accept their secret in the configured header.
      const denied = await authorizeLookup(opts, trigger, req.headers);
      if (denied !== undefined) return reply(res, denied);
      return res
        .code(200)
        .type('application/json')
        .send({
          status: 'ok',
          task_id: task.id,
          state: task.state,
          trigger: `${task.namespace}/${task.trigger}`,
          source: task.source ?? null,
          jobs: task.jobs,
          errors: task.errors,
          held: task.held,
          created: new Date(task.createdAt).toISOString(),
          finished: task.finishedAt === undefined ? null : new Date(task.finishedAt).toISOString(),
        });
    },
  );
  return app;
}

// GET /tasks/{id}: the trigger's token in its header (for provider triggers: the secret itself in the
// configured header), since a lookup has no body to sign.
async function authorizeLookup(
  opts: WebhookAppOptions,
  trigger: WebhookTriggerObject,
  headers: Record<string, string | string[] | undefined>,
): Promise<Outcome | undefined> {
  const auth = trigger.spec.webhook.authConfig;
  if (auth === undefined) return undefined;
  return authorize(
    opts,
    {
      ...trigger,
      spec: { ...trigger.spec, webhook: { ...trigger.spec.webhook, authConfig: { ...auth, provider: 'token' } } },
    },
    headers,
    Buffer.alloc(0),
  );
}
