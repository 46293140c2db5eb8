import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { toConnectError } from '@tokenmesh/telemetry';

const GRPC_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** A `grpc-timeout` value (e.g. `250m`) in ms; undefined when unreadable. */
export function grpcTimeoutMs(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  return m ? Number(m[1]) * GRPC_UNITS[m[2]!]! : undefined;
}

/**
 * The caller's deadline in ms from `grpc-timeout` (gRPC, gRPC-Web) or `connect-timeout-ms`
 * (Connect); undefined when none or unreadable (Connect itself refuses those).
 */
export function callerTimeoutMs(header: Headers): number | undefined {
  const grpc = header.get('grpc-timeout');
  if (grpc !== null) return grpcTimeoutMs(grpc);
  const connect = header.get('connect-timeout-ms');
  if (connect !== null && /^\d{1,10}$/.test(connect)) return Number(connect);
  return undefined;
}

/**
 * A cancellation that arrives this close to the caller's deadline is the deadline: the share of
 * the deadline, and the floor in ms, that cover the client's timer and its RST_STREAM racing
 * ours across a loaded event loop.
 */
const DEADLINE_SLACK_SHARE = 0.2;
const DEADLINE_SLACK_FLOOR_MS = 20;

/**
 * `reason`, or DEADLINE_EXCEEDED when it is a cancellation that came this close to the caller's
 * deadline (see the slack above): what ended the call.
 */
export function deadlineOrReason(reason: unknown, elapsedMs: number, timeoutMs: number): unknown {
  if (toConnectError(reason).code !== Code.Canceled) return reason;
  const slack = Math.max(DEADLINE_SLACK_FLOOR_MS, timeoutMs * DEADLINE_SLACK_SHARE);
  if (elapsedMs < timeoutMs - slack) return reason;
  return deadlineExceeded(timeoutMs);
}

/** What a call whose caller's deadline passed ends with. */
export function deadlineExceeded(timeoutMs: number): ConnectError {
  return new ConnectError(`the caller's deadline of ${timeoutMs} ms passed`, Code.DeadlineExceeded);
}

/**
 * A grpc-js (or grpc-go, grpc-core) client whose deadline passes resets the stream itself, often
 * before our own timer for the same deadline fires: the call then ends CANCELED although the
 * deadline ended it. Outermost of the server interceptors, this hands the inner ones (tracing,
 * RPC metrics) a signal whose abort reason says DEADLINE_EXCEEDED in that case, and gives the
 * same answer for what a unary handler throws. A cancellation well before the deadline stays CANCELED.
 */
export function callerDeadlineInterceptor(): Interceptor {
  return (next) => async (req) => {
    const timeoutMs = callerTimeoutMs(req.header);
    if (timeoutMs === undefined) return next(req);
    const start = performance.now();
    const elapsed = () => performance.now() - start;
    const abort = new AbortController();
    const onAbort = () => abort.abort(deadlineOrReason(req.signal.reason, elapsed(), timeoutMs));
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    // A stream's messages are left unwrapped (no layer per message): its readers see the
    // classified reason on the signal, and the caller that left reads no trailer.
    try {
      return await next({ ...req, signal: abort.signal });
    } catch (err) {
      throw deadlineOrReason(err, elapsed(), timeoutMs);
    }
  };
}
