import { createLogger } from '@tokenmesh/logging';
import { createMetrics } from '@tokenmesh/metrics';
import { clientTracingInterceptor, serverTracingInterceptor, tracer } from '@tokenmesh/telemetry';

import { callerDeadlineInterceptor } from './caller-deadline';
import { rpcMetricsInterceptor } from './rpc-metrics';
import type { ServiceRuntime } from './service-runtime';

/**
 * A service's logger, metrics registry, and tracing and RPC-metrics interceptors, all under its own name (so the
 * five services of `npm start` stay apart in logs, metrics and traces).
 */
export function createRuntime(service: string): ServiceRuntime {
  const t = tracer(service);
  const metrics = createMetrics(service);
  return {
    logger: createLogger({ service }),
    metrics,
    tracer: t,
    // The caller's deadline first (its signal tells both what ended a call), then tracing, so
    // the span covers the time the metrics measure.
    serverInterceptors: [callerDeadlineInterceptor(), serverTracingInterceptor(t), rpcMetricsInterceptor(metrics)],
    clientInterceptors: [clientTracingInterceptor(t)],
  };
}
