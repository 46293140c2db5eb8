import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';

import { fromBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { type GenerateRequest, GenerateRequestSchema } from '@tokenmesh/proto';
import { callerTimeoutMs, deadlineOrReason, encodeGrpcMessage, type PreHandler, rpcCodeName, type RpcOutcome } from '@tokenmesh/server';
import { spanEnder, toConnectError } from '@tokenmesh/telemetry';

import { FORWARDED } from '../routing/attempt';
import type { TrafficRouter } from '../routing/traffic-router';
import { frameAttempt, GENERATE_METHOD, GENERATE_PATH, GENERATE_SPAN_ATTRIBUTES } from './frame-attempt';
import { FrameReader } from './grpc-frames';

export interface GenerateRelayOptions {
  readonly router: TrafficRouter;
  readonly tracer: Tracer;
  /** The service's RPC metrics (rpcServerOutcomes), shared with its Connect handlers. */
  readonly outcomes: RpcOutcome;
  /** Largest message taken from the caller or a worker. */
  readonly maxBytes: number;
}

/** Response headers never copied from the call's response headers into the trailers. */
const TRAILER_SKIP = new Set(['grpc-status', 'grpc-message', 'content-type']);

/**
 * The router's Generate for gRPC callers (the gateway, grpc-js, grpcio): the request is decoded to
 * route it, the worker's response frames are passed on as they are (each with the variant's field
 * appended). Connect decodes every token message into objects and encodes it again, through
 * several async iterables per message on each side, which was most of the router's CPU per
 * token. Picking, retries, ejection and splits are the TrafficRouter's, as for Connect calls;
 * deadlines, cancellation, shutdown, the server span and the RPC metrics are done here as the
 * server interceptors do them. Other protocols (Connect, gRPC-Web) and compressed requests are
 * left to Connect (false).
 */
export function generateRelay(o: GenerateRelayOptions): PreHandler {
  const run = frameAttempt(o.tracer, o.maxBytes);
  return (req, res, shutdown) => {
    if (req.httpVersionMajor !== 2 || req.method !== 'POST' || req.url !== GENERATE_PATH) return false;
    const type = req.headers['content-type'];
    if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
    const encoding = req.headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return false;
    void relay(o, run, req as Http2ServerRequest, res as Http2ServerResponse, shutdown);
    return true;
  };
}

async function relay(
  o: GenerateRelayOptions,
  run: ReturnType<typeof frameAttempt>,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  shutdown: AbortSignal,
): Promise<void> {
  const start = performance.now();
  const stream = req.stream;
  const grpcTimeout = req.headers['grpc-timeout'];
  const timeoutMs = typeof grpcTimeout === 'string' ? callerTimeoutMs(new Headers({ 'grpc-timeout': grpcTimeout })) : undefined;
  const elapsed = () => performance.now() - start;
  const call = new AbortController();
  const abort = (reason: unknown) => {
    if (!call.signal.aborted) call.abort(timeoutMs === undefined ? reason : deadlineOrReason(reason, elapsed(), timeoutMs));
  };
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => abort(new ConnectError(`the caller's deadline of ${timeoutMs} ms passed`, Code.DeadlineExceeded)), timeoutMs);
  const onShutdown = () => abort(shutdown.reason);
  shutdown.addEventListener('abort', onShutdown, { once: true });
  let finished = false;
  stream.once('close', () => finished || abort(new ConnectError('the caller cancelled the call', Code.Canceled)));

  // A server parents on the caller's headers only (see serverTracingInterceptor).
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const span = o.tracer.startSpan(GENERATE_METHOD, { kind: SpanKind.SERVER, attributes: GENERATE_SPAN_ATTRIBUTES }, parent);
  const endSpan = spanEnder(span, 'server', call.signal);
  let headersSent = false;
  const responseHeader = new Headers();
  let error: ConnectError | undefined;
  try {
    const request = await readRequest(req, o.maxBytes, call.signal);
    const requestHeader = new Headers();
    for (const name of FORWARDED) {
      const v = req.headers[name];
      if (typeof v === 'string') requestHeader.set(name, v);
    }
    const ctx = {
      signal: call.signal,
      timeoutMs: () => (timeoutMs === undefined ? undefined : Math.max(0, timeoutMs - elapsed())),
      requestHeader,
      responseHeader,
    };
    await context.with(trace.setSpan(parent, span), async () => {
      for await (const f of o.router.generate(request, ctx, run)) {
        if (call.signal.aborted) throw call.signal.reason;
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
  o.outcomes(GENERATE_METHOD, error ? rpcCodeName(error.code, call.signal) : 'ok', start);
  endSpan(error);
  if (stream.destroyed || stream.closed) return;
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
async function readRequest(req: Http2ServerRequest, maxBytes: number, signal: AbortSignal): Promise<GenerateRequest> {
  const reader = new FrameReader(maxBytes);
  const messages: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    messages.push(...reader.push(chunk));
    if (signal.aborted) throw signal.reason;
  }
  if (signal.aborted) throw signal.reason;
  if (messages.length !== 1 || reader.pending > 0) {
    throw new ConnectError(`protocol error: a Generate call takes exactly one request message, got ${messages.length}`, Code.InvalidArgument);
  }
  try {
    return fromBinary(GenerateRequestSchema, messages[0]!);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConnectError(`${GenerateRequestSchema.typeName}: the request body could not be decoded (invalid protobuf binary: ${why})`, Code.InvalidArgument);
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
function drained(stream: Http2ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
