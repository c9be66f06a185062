import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** What the utility server reports. */
export interface UtilityOptions {
  readonly registry: Registry;
  /** Undefined when ready, else why not. */
  readonly notReady: () => string | undefined;
  readonly logger: Logger;
}

/** Probes and metrics: GET /alive, /ready, /metrics (plain HTTP; for the kubelet and Prometheus). */
export function buildUtilityApp(opts: UtilityOptions): FastifyInstance {
  // pino's Logger and fastify's logger interface differ only in typing details.
  const loggerInstance = opts.logger.child({ server: 'utility' }) as unknown as FastifyBaseLogger;
  const app = Fastify({ loggerInstance, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/alive', async (_req, reply) => reply.type('text/plain').send('Alive'));
  app.get('/ready', async (_req, reply) => {
    const why = opts.notReady();
    return why === undefined
      ? reply.type('text/plain').send('Ready')
      : reply.code(503).type('text/plain').send(`Not ready: ${why}`);
  });
  app.get('/metrics', async (_req, reply) => reply.type(opts.registry.contentType).send(await opts.registry.metrics()));
  return app;
}
