import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';

import { Code, ConnectError } from '@connectrpc/connect';
import { type Attributes, context, propagation, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { rpcMethodAttributes, spanEnder } from '@tokenmesh/telemetry';

import { FrameReader } from './grpc-frames';
import type { Http2SessionManager } from './service-client';

/** Messages queued past this pause the server's stream (HTTP/2 flow control then holds the rest). */
const HIGH_WATER = 16;

/** gRPC's mapping of an HTTP status that is not 200 to a status code. */
function codeOfHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

function grpcMessage(h: IncomingHttpHeaders): string {
  const raw = h['grpc-message'];
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Trailer entries that are not the status itself: an error's metadata (retry-after, details). */
const NOT_METADATA = new Set(['grpc-status', 'grpc-message', 'content-type', 'content-length', 'date']);

/** The status in trailers (or trailers-only headers): undefined when OK, else the error with its metadata. */
function statusOf(h: IncomingHttpHeaders): ConnectError | undefined {
  const code = Number(h['grpc-status']);
  if (code === 0) return undefined;
  if (!Number.isInteger(code) || code < 0 || code > 16)
    return new ConnectError(`protocol error: invalid grpc-status ${String(h['grpc-status'])}`, Code.Internal);
  const metadata = new Headers();
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith(':') || NOT_METADATA.has(name) || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) metadata.append(name, v);
  }
  return new ConnectError(grpcMessage(h), code as Code, metadata);
}

/** One server-streaming gRPC call: where it goes and what it sends. */
export interface GrpcStreamCall {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** Request headers: content-type, te, grpc-timeout, traceparent, metadata. */
  readonly headers: OutgoingHttpHeaders;
  /** The request message, framed (`frame(toBinary(...))`). */
  readonly body: Buffer;
  /** Aborting it resets the stream and fails a pending read with its reason. */
  readonly signal: AbortSignal;
  /** A response message larger than this fails the call with RESOURCE_EXHAUSTED. */
  readonly maxBytes: number;
  /** Who answers, in error messages: "the worker", "the router". */
  readonly peer: string;
}

/** The headers every gRPC call sends, and `grpc-timeout` when the call has a deadline. */
export function grpcRequestHeaders(timeoutMs: number | undefined): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'content-type': 'application/grpc+proto', te: 'trailers', 'grpc-accept-encoding': 'identity' };
  if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
  return headers;
}

/**
 * One server-streaming gRPC call on `session`, its response messages handed out as they arrive,
 * undecoded: connect-es's client pipeline (several async-generator layers and promises per
 * message) is the largest cost per token of a hop that relays or only reads messages. A
 * hand-written iterator over the HTTP/2 stream's events; ends with the call's status, which it
 * throws when not OK.
 */
export function grpcStreamCall(session: Http2SessionManager, { path, headers, body, signal, maxBytes, peer }: GrpcStreamCall): AsyncIterable<Buffer> {
  const queue: Buffer[] = [];
  const reader = new FrameReader(maxBytes);
  let stream: ClientHttp2Stream | undefined;
  let paused = false;
  let done = false;
  let failure: unknown;
  let status: ConnectError | undefined | null = null;
  let wake: (() => void) | undefined;

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const finish = (err?: unknown) => {
    if (done) return;
    done = true;
    failure = err;
    signal.removeEventListener('abort', onAbort);
    notify();
  };
  const onAbort = () => {
    queue.length = 0;
    stream?.close(http2.constants.NGHTTP2_CANCEL);
    finish(signal.reason);
  };
  if (signal.aborted) finish(signal.reason);
  else signal.addEventListener('abort', onAbort, { once: true });

  const attach = (s: ClientHttp2Stream) => {
    stream = s;
    if (done) {
      s.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    s.on('response', (h) => {
      const code = h[':status'] ?? 0;
      if (code !== 200) return finish(new ConnectError(`HTTP ${code} from ${peer}`, codeOfHttpStatus(code)));
      if (h['grpc-status'] !== undefined) status = statusOf(h);
    });
    s.on('data', (chunk: Buffer) => {
      session.notifyResponseByteRead(s);
      try {
        queue.push(...reader.push(chunk));
      } catch (err) {
        s.close(http2.constants.NGHTTP2_CANCEL);
        return finish(err);
      }
      if (queue.length >= HIGH_WATER && !paused) {
        paused = true;
        s.pause();
      }
      notify();
    });
    s.on('trailers', (t) => (status = statusOf(t)));
    s.on('error', (err) => finish(signal.aborted ? signal.reason : new ConnectError(`the stream from ${peer} failed: ${err.message}`, Code.Unavailable)));
    s.on('close', () => {
      if (status === null) return finish(signal.aborted ? signal.reason : new ConnectError(`${peer} closed the stream without a status`, Code.Unavailable));
      if (reader.pending > 0 && !status) return finish(new ConnectError(`protocol error: ${peer} ended the stream in the middle of a message`, Code.Internal));
      finish(status);
    });
    s.end(body);
  };
  session
    .request('POST', path, headers, {})
    .then(attach, (err: unknown) => finish(new ConnectError(`cannot reach ${peer}: ${err instanceof Error ? err.message : String(err)}`, Code.Unavailable)));

  const next = (): Promise<IteratorResult<Buffer>> => {
    const m = queue.shift();
    if (m) {
      if (paused && queue.length < HIGH_WATER / 2) {
        paused = false;
        stream?.resume();
      }
      return Promise.resolve({ done: false, value: m });
    }
    if (done) return failure === undefined ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(failure);
    return new Promise<void>((resolve) => (wake = resolve)).then(next);
  };
  return {
    [Symbol.asyncIterator]: () => ({
      next,
      return() {
        if (!done) {
          stream?.close(http2.constants.NGHTTP2_CANCEL);
          finish();
        }
        return Promise.resolve({ done: true, value: undefined });
      },
    }),
  };
}

/** A gRPC call's CLIENT span and request headers (span context injected), and how to end the span. */
export interface ClientCall {
  readonly headers: OutgoingHttpHeaders;
  /** Ends the span once with the call's outcome (see spanEnder); the signal's abort ends it too. */
  readonly end: (error?: unknown) => void;
}

/**
 * What connect-es's client tracing interceptor does for a call made past it: a CLIENT span
 * `package.Service/Method` under the active context, its context in the headers, `grpc-timeout`
 * for the deadline. `method` comes from `grpcMethod`, computed once per method, not per call.
 */
export function clientCall(tracer: Tracer, method: GrpcMethod, timeoutMs: number | undefined, signal: AbortSignal): ClientCall {
  const parent = context.active();
  const span = tracer.startSpan(method.name, { kind: SpanKind.CLIENT, attributes: method.attributes }, parent);
  const headers = grpcRequestHeaders(timeoutMs);
  propagation.inject(trace.setSpan(parent, span), headers);
  return { headers, end: spanEnder(span, 'client', signal) };
}

/** A method's path, span name and rpc.* span attributes. */
export interface GrpcMethod {
  readonly path: string;
  readonly name: string;
  readonly attributes: Attributes;
}

export function grpcMethod(method: { readonly name: string; readonly parent: { readonly typeName: string } }): GrpcMethod {
  const name = `${method.parent.typeName}/${method.name}`;
  return { path: `/${name}`, name, attributes: rpcMethodAttributes('grpc', method.parent.typeName, method.name) };
}
