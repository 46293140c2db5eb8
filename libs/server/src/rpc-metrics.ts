import { Code, type Interceptor } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { createCounter, createHistogram, type Registry } from '@tokenmesh/metrics';
import { ABANDONED, observe } from '@tokenmesh/streams';
import { toConnectError } from '@tokenmesh/telemetry';

/** Seconds; RPCs range from sub-millisecond lookups to minute-long generations. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * The code a call ended with. A handler that stopped because the call was aborted reports a
 * cancellation; the abort's own reason says why (the caller's deadline, see
 * `callerDeadlineInterceptor`, or its leaving).
 */
function codeName(code: Code, signal: AbortSignal): string {
  if (code === Code.Canceled && signal.aborted) return codeToString(toConnectError(signal.reason).code);
  return codeToString(code);
}

/**
 * Counts every RPC a service handles by method and status code, and observes its duration; a
 * server stream is measured until its last message (or its error, or its cancellation).
 * `tokenmesh_rpc_server_requests_total{method, code}`, `tokenmesh_rpc_server_duration_seconds{method}`.
 */
export function rpcMetricsInterceptor(registry: Registry): Interceptor {
  const requests = createCounter(registry, {
    name: 'rpc_server_requests_total',
    help: 'RPCs handled, by method and status code',
    labelNames: ['method', 'code'] as const,
  });
  const duration = createHistogram(registry, {
    name: 'rpc_server_duration_seconds',
    help: 'RPC duration until the last response message, by method',
    labelNames: ['method'] as const,
    buckets: DURATION_BUCKETS,
  });
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const start = performance.now();
    const done = (code: string) => {
      requests.inc({ method, code });
      duration.observe({ method }, (performance.now() - start) / 1000);
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      done(codeName(toConnectError(err).code, req.signal));
      throw err;
    }
    if (!res.stream) {
      done('ok');
      return res;
    }
    // Measured until the last message (or the error, or the reader leaving: canceled).
    const message = observe(res.message, {
      end: (outcome) => done(outcome === undefined ? 'ok' : codeName(outcome === ABANDONED ? Code.Canceled : toConnectError(outcome).code, req.signal)),
    });
    return { ...res, message };
  };
}
