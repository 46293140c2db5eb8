import { create, type DescMessage, type DescMethodServerStreaming, fromBinary, type MessageInitShape, type MessageShape, toBinary } from '@bufbuild/protobuf';
import { type CallOptions, Code, ConnectError } from '@connectrpc/connect';
import type { Tracer } from '@opentelemetry/api';
import { STREAM_ABANDONED } from '@tokenmesh/telemetry';

import { frame } from './grpc-frames';
import { clientCall, grpcMethod, grpcStreamCall } from './grpc-stream-call';
import type { ServiceClient } from './service-client';

type Call<I extends DescMessage, O extends DescMessage> = (input: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>;

export interface FramedStreamOptions {
  /** The CLIENT span's tracer: the calling service's. */
  readonly tracer: Tracer;
  /** A response message larger than this fails the call with RESOURCE_EXHAUSTED. */
  readonly maxBytes: number;
  /** Who answers, in error messages ("the router"). */
  readonly peer: string;
}

/**
 * `client[method]` of a server-streaming gRPC method, called over the client's HTTP/2 connection
 * past connect-es's client pipeline: the request encoded once, each response frame decoded as it
 * arrives, one promise per message. What the Connect client interceptor adds is done here: a
 * CLIENT span per call, its context in the headers. `signal`, `timeoutMs` and `headers` are
 * honoured; a call that asks for more (onHeader, onTrailer, contextValues), and any call while
 * the server runs in this process (no socket), goes through `connect`, the Connect client's method.
 */
export function framedServerStream<I extends DescMessage, O extends DescMessage>(
  sc: Pick<ServiceClient<never>, 'session'>,
  method: DescMethodServerStreaming<I, O>,
  connect: Call<I, O>,
  o: FramedStreamOptions,
): Call<I, O> {
  const m = grpcMethod(method);
  return (input, options = {}) => {
    const session = sc.session();
    if (!session || options.onHeader || options.onTrailer || options.contextValues) return connect(input, options);
    const { signal, clear } = callSignal(options);
    const { headers, end } = clientCall(o.tracer, m, options.timeoutMs, signal);
    if (options.headers) new Headers(options.headers).forEach((v, k) => (headers[k] = v));
    const finish = (error?: unknown) => {
      clear();
      end(error);
    };
    let it: AsyncIterator<Buffer>;
    try {
      const body = frame(toBinary(method.input, create(method.input, input)));
      it = grpcStreamCall(session, { path: m.path, headers, body, signal, maxBytes: o.maxBytes, peer: o.peer })[Symbol.asyncIterator]();
    } catch (err) {
      finish(err);
      throw err;
    }
    const decoded = (r: IteratorResult<Buffer>): IteratorResult<MessageShape<O>> => {
      if (r.done) {
        finish();
        return r;
      }
      try {
        return { done: false, value: fromBinary(method.output, r.value) };
      } catch (err) {
        const e = new ConnectError(`protocol error: a response message from ${o.peer} does not parse: ${String(err)}`, Code.Internal);
        void it.return?.();
        finish(e);
        throw e;
      }
    };
    return {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          it.next().then(decoded, (err: unknown) => {
            finish(err);
            throw err;
          }),
        return: () => {
          finish(STREAM_ABANDONED);
          return it.return!().then(() => ({ done: true as const, value: undefined }));
        },
      }),
    };
  };
}

/** The call's own signal: the caller's, and its deadline as DEADLINE_EXCEEDED (as connect-es's client does). */
function callSignal(options: CallOptions): { signal: AbortSignal; clear: () => void } {
  if (options.timeoutMs === undefined) return { signal: options.signal ?? new AbortController().signal, clear: () => undefined };
  const ac = new AbortController();
  const onAbort = () => ac.abort(options.signal!.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const timer = setTimeout(() => ac.abort(new ConnectError('the operation timed out', Code.DeadlineExceeded)), options.timeoutMs);
  return {
    signal: ac.signal,
    clear: () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}
