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
export function rpcCodeName(code: Code, signal: AbortSignal): string {
  if (code === Code.Canceled && signal.aborted) return codeToString(toConnectError(signal.reason).code);
  return codeToString(code);
}

/** Records one RPC's outcome: `code` as `codeToString` names it, `start` from performance.now(). */
export type RpcOutcome = (method: string, code: string, start: number) => void;

const outcomes = new WeakMap<Registry, RpcOutcome>();

/**
 * `tokenmesh_rpc_server_requests_total{method, code}` and `tokenmesh_rpc_server_duration_seconds{method}`
 * in `registry`, made once per registry: the interceptor and a handler outside Connect (the
 * router's frame relay) count into the same series.
 */
export function rpcServerOutcomes(registry: Registry): RpcOutcome {
  let record = outcomes.get(registry);
  if (record) return record;
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
  record = (method, code, start) => {
    requests.inc({ method, code });
    duration.observe({ method }, (performance.now() - start) / 1000);
  };
  outcomes.set(registry, record);
  return record;
}

/**
 * Counts every RPC a service handles by method and status code, and observes its duration; a
 * server stream is measured until its last message (or its error, or its cancellation).
 * `tokenmesh_rpc_server_requests_total{method, code}`, `tokenmesh_rpc_server_duration_seconds{method}`.
 */
export function rpcMetricsInterceptor(registry: Registry): Interceptor {
  const record = rpcServerOutcomes(registry);
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const start = performance.now();
    const done = (code: string) => record(method, code, start);
    let res;
    try {
      res = await next(req);
    } catch (err) {
      done(rpcCodeName(toConnectError(err).code, req.signal));
      throw err;
    }
    if (!res.stream) {
      done('ok');
      return res;
    }
    // Measured until the last message (or the error, or the reader leaving: canceled).
    const message = observe(res.message, {
      end: (outcome) => done(outcome === undefined ? 'ok' : rpcCodeName(outcome === ABANDONED ? Code.Canceled : toConnectError(outcome).code, req.signal)),
    });
    return { ...res, message };
  };
}
