import { Code, ConnectError, type StreamRequest, type UnaryRequest } from '@connectrpc/connect';
import { type Attributes, type Context, context, type Span, SpanStatusCode, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';

import { ATTR } from './attributes';

type RpcRequest = UnaryRequest | StreamRequest;

/** Fetch `Headers` as a propagation carrier (Connect's request and response headers). */
export const headersSetter: TextMapSetter<Headers> = { set: (h, key, value) => h.set(key, value) };
export const headersGetter: TextMapGetter<Headers> = {
  get: (h, key) => h.get(key) ?? undefined,
  keys: (h) => [...h.keys()],
};

/** `package.Service/Method`, the span name the RPC conventions ask for. */
export function rpcSpanName(req: RpcRequest): string {
  return `${req.service.typeName}/${req.method.name}`;
}

/** An RPC span's rpc.* attributes; `system` is `grpc` (gRPC, gRPC-Web) or `connect_rpc`. */
export function rpcMethodAttributes(system: 'grpc' | 'connect_rpc', service: string, method: string): Attributes {
  return { [ATTR.rpcSystem]: system, [ATTR.rpcService]: service, [ATTR.rpcMethod]: method };
}

/** rpc.system is read from the wire: `grpc` for gRPC and gRPC-Web, `connect_rpc` otherwise. */
export function rpcAttributes(req: RpcRequest): Attributes {
  const type = req.header.get('content-type') ?? '';
  return rpcMethodAttributes(type.startsWith('application/grpc') ? 'grpc' : 'connect_rpc', req.service.typeName, req.method.name);
}

/**
 * The consumer stopped reading a response stream (break, return) before it ended: pass it to a
 * span's `end`, which records CANCELLED without calling it a failure.
 */
export const STREAM_ABANDONED = Symbol('abandoned');

/** gRPC's guidance for server spans: codes that report the caller's mistake are not server errors. */
const SERVER_ERRORS = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

/** `Code.DeadlineExceeded` → `deadline_exceeded`, the value rpc.connect_rpc.error_code expects. */
function codeName(code: Code): string {
  return (Code[code] ?? 'Unknown').replace(/[A-Z]/g, (c, i: number) => (i > 0 ? '_' : '') + c.toLowerCase());
}

/** Like `ConnectError.from`, but also for an AbortError from another realm (jest, vm, workers). */
export function toConnectError(e: unknown): ConnectError {
  const name = (e as { name?: unknown } | undefined)?.name;
  if (!(e instanceof ConnectError) && (name === 'AbortError' || name === 'TimeoutError')) {
    return new ConnectError(String((e as { message?: unknown }).message ?? 'aborted'), Code.Canceled);
  }
  return ConnectError.from(e);
}

/**
 * Returns `end(error?)`: records the outcome (gRPC status code, Connect error code, ERROR status
 * where the side's conventions call it one) and ends the span, once; later calls are ignored.
 * An abort of `signal` (cancel, deadline) ends it too, even if nobody reads the stream again.
 */
export function spanEnder(span: Span, side: 'client' | 'server', signal: AbortSignal): (error?: unknown) => void {
  let ended = false;
  const onAbort = () => end(signal.reason ?? new ConnectError('aborted', Code.Canceled));
  signal.addEventListener('abort', onAbort);
  function end(error?: unknown): void {
    if (ended) return;
    ended = true;
    signal.removeEventListener('abort', onAbort);
    if (error === undefined) {
      span.setAttribute(ATTR.rpcGrpcStatusCode, 0);
    } else {
      const err = error === STREAM_ABANDONED ? new ConnectError('stream abandoned by its reader', Code.Canceled) : toConnectError(error);
      span.setAttribute(ATTR.rpcGrpcStatusCode, err.code);
      span.setAttribute(ATTR.rpcConnectErrorCode, codeName(err.code));
      // The conventions' low-cardinality failure class, the same word on every hop.
      span.setAttribute(ATTR.errorType, codeName(err.code));
      // A reader that stops early chose to; that is not a failure of the call.
      if (error !== STREAM_ABANDONED && (side === 'client' || SERVER_ERRORS.has(err.code))) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: err.rawMessage });
      }
    }
    span.end();
  }
  return end;
}

/**
 * Passes a message stream through, pulling each message inside `ctx` (so a server handler's
 * generator runs in its server span) and calling `end` when the stream completes, fails, or is
 * abandoned by its reader: a streaming span must not end when the headers arrive. A hand-written
 * iterator, one `then` per message: this wraps every message of every traced stream.
 */
export function traceStream<T>(source: AsyncIterable<T>, ctx: Context, end: (error?: unknown) => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      let settled = false;
      const pull = () => it.next();
      return {
        next: () =>
          context.with(ctx, pull).then(
            (r) => {
              if (r.done && !settled) {
                settled = true;
                end();
              }
              return r;
            },
            (e: unknown) => {
              if (!settled) {
                settled = true;
                end(e);
              }
              throw e;
            },
          ),
        async return(value?: unknown): Promise<IteratorResult<T>> {
          if (!settled) {
            settled = true;
            end(STREAM_ABANDONED);
            await context.with(ctx, async () => it.return?.(value));
          }
          return { done: true, value: undefined };
        },
      };
    },
  };
}
