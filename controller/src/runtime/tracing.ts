import { type Tracer, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Where spans go; a no-op tracer when tracing is off. */
export interface Tracing {
  readonly tracer: Tracer;
  /** Flushes pending spans. */
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific
 * variable) is set; the exporter reads the standard OTEL_* variables itself. Nothing is registered
 * globally: the controller passes this tracer where it makes spans.
 */
export function startTracing(env: Readonly<Record<string, string | undefined>>, version: string): Tracing {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint === undefined || endpoint === '') {
    return { tracer: trace.getTracer('git-events-runner', version), shutdown: async () => {} };
  }
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME ?? 'git-events-runner',
      'service.version': version,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  return { tracer: provider.getTracer('git-events-runner', version), shutdown: () => provider.shutdown() };
}
