import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';

import {
  create,
  type DescMessage,
  type DescMethodServerStreaming,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { abortable } from '@tokenmesh/streams';
import { spanEnder, toConnectError } from '@tokenmesh/telemetry';

import { deadlineExceeded, deadlineOrReason, grpcTimeoutMs } from './caller-deadline';
import { frame, FrameReader } from './grpc-frames';
import { encodeGrpcMessage } from './grpc-message';
import { type GrpcMethod, grpcMethod } from './grpc-stream-call';
import { peerAddress } from './peer-address';
import { rpcCodeName, type RpcOutcome } from './rpc-metrics';
import type { PreHandler } from './start-server';

/** What a frame-serving handler gets of its call (a subset of Connect's HandlerContext). */
export interface StreamCallContext {
  /** Aborts when the caller cancels or leaves, its deadline passes, or the server's grace period ends. */
  readonly signal: AbortSignal;
  /** What is left of the caller's deadline, ms; undefined without one. */
  timeoutMs(): number | undefined;
  readonly requestHeader: Headers;
  /** Sent with the first message (or with the error when none went out). */
  readonly responseHeader: Headers;
  /** The caller's address as the socket saw it (PEER_ADDRESS of Connect's calls). */
  readonly peerAddress: string;
}

export interface GrpcStreamHandlerOptions<I extends DescMessage> {
  readonly method: DescMethodServerStreaming<I, DescMessage>;
  /** The call's response messages, each already in its gRPC envelope (see `frame`, `framed`). */
  readonly frames: (req: MessageShape<I>, ctx: StreamCallContext) => AsyncIterable<Uint8Array>;
  readonly tracer: Tracer;
  /** The service's RPC metrics (rpcServerOutcomes), shared with its Connect handlers. */
  readonly outcomes: RpcOutcome;
  /** Largest request message taken. */
  readonly maxBytes: number;
}

/** Response headers never copied into the trailers. */
const TRAILER_SKIP = new Set(['grpc-status', 'grpc-message', 'content-type']);

/**
 * One server-streaming method for gRPC callers (HTTP/2, `application/grpc`, no request
 * compression), served past Connect: Connect sends every response message through several async
 * iterables (the handler's, each interceptor's, serialization's) before it is written, which on
 * token streams was most of a service's CPU per token. Here messages come as frames and are
 * written as they come. What Connect's server interceptors do is done here: the caller's
 * deadline (with its slack), cancellation, the server's shutdown signal, the SERVER span (parented
 * on the caller's headers) and `tokenmesh_rpc_server_*`. Other protocols and compressed requests
 * are left to Connect (false); errors the handler throws reach the caller as Connect would send them.
 */
export function grpcStreamHandler<I extends DescMessage>(o: GrpcStreamHandlerOptions<I>): PreHandler {
  const method = grpcMethod(o.method);
  return (req, res, shutdown) => {
    if (req.httpVersionMajor !== 2 || req.method !== 'POST' || req.url !== method.path) return false;
    const type = req.headers['content-type'];
    if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
    const encoding = req.headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return false;
    void serve(o, method, req as Http2ServerRequest, res as Http2ServerResponse, shutdown);
    return true;
  };
}

/** `messages` encoded and framed, one by one, as `grpcStreamHandler`'s `frames` takes them. */
export function framed<O extends DescMessage>(schema: O, messages: AsyncIterable<MessageInitShape<O>>): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      const encode = (r: IteratorResult<MessageInitShape<O>>): IteratorResult<Uint8Array> =>
        r.done
          ? { done: true, value: undefined }
          : { done: false, value: frame(toBinary(schema, isMessage(r.value, schema) ? r.value : create(schema, r.value))) };
      return {
        next: () => it.next().then(encode),
        return: async () => {
          await it.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

async function serve<I extends DescMessage>(
  o: GrpcStreamHandlerOptions<I>,
  { name, attributes }: GrpcMethod,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  shutdown: AbortSignal,
): Promise<void> {
  const start = performance.now();
  const grpcTimeout = req.headers['grpc-timeout'];
  const timeoutMs = typeof grpcTimeout === 'string' ? grpcTimeoutMs(grpcTimeout) : undefined;
  const elapsed = () => performance.now() - start;
  const call = new AbortController();
  const abort = (reason: unknown) => {
    if (!call.signal.aborted) call.abort(timeoutMs === undefined ? reason : deadlineOrReason(reason, elapsed(), timeoutMs));
  };
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => abort(deadlineExceeded(timeoutMs)), timeoutMs);
  const onShutdown = () => abort(shutdown.reason);
  shutdown.addEventListener('abort', onShutdown, { once: true });
  let finished = false;
  res.once('close', () => finished || abort(new ConnectError('the caller cancelled the call', Code.Canceled)));

  // A server parents on the caller's headers only (see serverTracingInterceptor).
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const span = o.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  const endSpan = spanEnder(span, 'server', call.signal);
  let headersSent = false;
  const responseHeader = new Headers();
  let error: ConnectError | undefined;
  try {
    const request = await readRequest(o, req, call.signal);
    const requestHeader = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (!k.startsWith(':') && typeof v === 'string') requestHeader.set(k, v);
    const ctx: StreamCallContext = {
      signal: call.signal,
      timeoutMs: () => (timeoutMs === undefined ? undefined : Math.max(0, timeoutMs - elapsed())),
      requestHeader,
      responseHeader,
      peerAddress: peerAddress(req),
    };
    await context.with(trace.setSpan(parent, span), async () => {
      // A pending read ends at the abort even if the handler never answers its signal.
      for await (const f of abortable(o.frames(request, ctx), call.signal)) {
        if (!headersSent) {
          headersSent = true;
          res.writeHead(200, { 'content-type': 'application/grpc', ...headerObject(responseHeader) });
        }
        if (!res.write(f)) await drained(res, call.signal);
      }
    });
  } catch (err) {
    error = toConnectError(call.signal.aborted ? call.signal.reason : err);
  } finally {
    finished = true;
    clearTimeout(timer);
    shutdown.removeEventListener('abort', onShutdown);
  }
  o.outcomes(name, error ? rpcCodeName(error.code, call.signal) : 'ok', start);
  endSpan(error);
  if (res.destroyed || res.stream.closed) return;
  const trailers: OutgoingHttpHeaders = error
    ? { ...headerObject(error.metadata), 'grpc-status': String(error.code), 'grpc-message': encodeGrpcMessage(error.rawMessage) }
    : { 'grpc-status': '0' };
  // Through Node's compatibility response, which owns the stream's trailers (as for Connect's
  // handlers); with no message, headers then trailers (its end() cannot send trailers-only).
  if (!headersSent) res.writeHead(200, { 'content-type': 'application/grpc', ...headerObject(responseHeader) });
  res.addTrailers(trailers);
  res.end();
}

/** The call's one request message, decoded. @throws ConnectError naming what is wrong with it */
async function readRequest<I extends DescMessage>(o: GrpcStreamHandlerOptions<I>, req: Http2ServerRequest, signal: AbortSignal): Promise<MessageShape<I>> {
  const reader = new FrameReader(o.maxBytes);
  const messages: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    messages.push(...reader.push(chunk));
    if (signal.aborted) throw signal.reason;
  }
  if (signal.aborted) throw signal.reason;
  const input = o.method.input;
  if (messages.length !== 1 || reader.pending > 0) {
    throw new ConnectError(`protocol error: ${o.method.name} takes exactly one request message, got ${messages.length}`, Code.InvalidArgument);
  }
  try {
    return fromBinary(input, messages[0]!);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConnectError(`${input.typeName}: the request body could not be decoded (invalid protobuf binary: ${why})`, Code.InvalidArgument);
  }
}

function headerObject(h: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  h.forEach((value, name) => {
    if (!TRAILER_SKIP.has(name)) out[name] = value;
  });
  return out;
}

/** Resolves when the caller's stream takes writes again (its HTTP/2 window opened), or the call ended. */
function drained(res: Http2ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
