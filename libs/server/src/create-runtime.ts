import { createLogger } from '@tokenmesh/logging';
import { createMetrics } from '@tokenmesh/metrics';
import { clientTracingInterceptor, serverTracingInterceptor, tracer } from '@tokenmesh/telemetry';
import type { ServiceRuntime } from './service-runtime';

/**
 * A service's logger, metrics registry and tracing interceptors, all under its own name (so the
 * five services of `npm start` stay apart in logs, metrics and traces).
 */
export function createRuntime(service: string): ServiceRuntime {
  const t = tracer(service);
  return {
    logger: createLogger({ service }),
    metrics: createMetrics(service),
    tracer: t,
    serverInterceptors: [serverTracingInterceptor(t)],
    clientInterceptors: [clientTracingInterceptor(t)],
  };
}
