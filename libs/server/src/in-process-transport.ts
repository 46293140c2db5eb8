import { create, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from '@connectrpc/connect';
import { ABANDONED, abortable, observe } from '@tokenmesh/streams';

import { inProcessContextValues, type InProcessEndpoint, inProcessEndpoint } from './in-process';

type Header = ConstructorParameters<typeof Headers>[0];
type AnyFn = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;

/** As connect-es applies them: the first interceptor is the outermost. */
function applyInterceptors(next: AnyFn, interceptors: readonly Interceptor[]): AnyFn {
  return interceptors.reduceRight((n, i) => i(n as never) as unknown as AnyFn, next);
}

/** What a thrown value becomes at the client, as over the wire: a ConnectError. */
function asConnectError(err: unknown, signal: AbortSignal): ConnectError {
  if (signal.aborted && !(err instanceof ConnectError)) return ConnectError.from(signal.reason, Code.Canceled);
  return ConnectError.from(err);
}

const unimplemented = (method: DescMethod) => new ConnectError(`${method.parent.typeName}.${method.name} is not implemented`, Code.Unimplemented);

/** The reason a call's context is aborted with once it is over (a shared one: no DOMException per call). */
const CALL_ENDED = new ConnectError('the call ended', Code.Canceled);

/**
 * The handler's context of one call: aborted by the client's cancellation or deadline (the
 * client side's signal carries both) and by the server's shutdown; `abort` ends it.
 */
function handlerContext(
  ep: InProcessEndpoint,
  req: UnaryRequest | StreamRequest,
  timeoutMs: number | undefined,
): HandlerContext & { abort(reason?: unknown): void } {
  const controller = new AbortController();
  const deadline = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
  const sources = [req.signal, ep.shutdownSignal];
  const abort = (reason: unknown = CALL_ENDED) => {
    if (controller.signal.aborted) return;
    for (const s of sources) s.removeEventListener('abort', onSource);
    controller.abort(reason);
  };
  function onSource(this: AbortSignal) {
    abort(this.reason);
  }
  for (const s of sources) {
    if (s.aborted) {
      abort(s.reason);
      break;
    }
    s.addEventListener('abort', onSource);
  }
  return {
    service: req.service,
    method: req.method,
    protocolName: 'in-process',
    requestMethod: 'POST',
    url: req.url,
    signal: controller.signal,
    timeoutMs: () => (deadline === undefined ? undefined : deadline - performance.now()),
    requestHeader: req.header,
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: inProcessContextValues(),
    abort,
  };
}

/** The handler sees the request as the server's interceptors left it. */
function contextFor(ctx: HandlerContext, req: UnaryRequest | StreamRequest): HandlerContext {
  return { ...ctx, requestHeader: req.header, values: req.contextValues, signal: req.signal };
}

async function single<T>(messages: AsyncIterable<T>, method: DescMethod): Promise<T> {
  let first: T | undefined;
  let count = 0;
  for await (const m of messages) {
    if (count++ === 0) first = m;
  }
  if (count !== 1)
    throw new ConnectError(`protocol error: ${count} input messages for ${method.parent.typeName}.${method.name}, expected 1`, Code.Unimplemented);
  return first!;
}

/** Init shapes as the messages a client reads. */
function normalized<O extends DescMessage>(schema: O, source: AsyncIterable<MessageInitShape<O>>): AsyncIterable<MessageShape<O>> {
  return observe(source, { value: (m) => create(schema, m) });
}

/**
 * The response stream as the client reads it: the first message (already pulled, so that the
 * handler could set headers, as HTTP/2 sends them with the first message), then the rest. The
 * client's signal ends a pending read at once, as a reset stream would; a reader that stops early
 * cancels the handler. `done` runs once, however the stream ends.
 */
function clientStream<T>(it: AsyncIterator<T>, first: T, ctx: { abort(reason?: unknown): void }, signal: AbortSignal, done: () => void): AsyncIterable<T> {
  const rest: AsyncIterable<T> = { [Symbol.asyncIterator]: () => it };
  const guarded = abortable(rest, signal, (err) => asConnectError(err, signal));
  // The call is over when the stream ends, or at the caller's abort even if it never reads again
  // (a client that stops at a stop string aborts rather than draining).
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    signal.removeEventListener('abort', onAbort);
    done();
  };
  const onAbort = () => {
    void it.return?.().catch(() => undefined);
    finish();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const reading = observe(guarded, {
    end: (outcome) => {
      if (outcome === ABANDONED) ctx.abort(new ConnectError('the client stopped reading the stream', Code.Canceled));
      finish();
    },
  });
  return {
    [Symbol.asyncIterator]() {
      const inner = reading[Symbol.asyncIterator]();
      let head = true;
      return {
        next: () => {
          if (!head) return inner.next();
          head = false;
          return Promise.resolve({ done: false, value: first });
        },
        return: () => inner.return!(),
      };
    },
  };
}

/** `p`, or the signal's reason as soon as it aborts (the call's first read only). */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(asConnectError(signal.reason, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Runs a call's server side: interceptors, then the implementation. */
function serverSide(ep: InProcessEndpoint, spec: MethodImplSpec | undefined, timeoutMs: number | undefined, release: () => void): AnyFn {
  return async (req) => {
    if (!spec) throw unimplemented(req.method);
    const ctx = handlerContext(ep, req, timeoutMs);
    const serverReq = { ...req, signal: ctx.signal, header: ctx.requestHeader, contextValues: ctx.values };
    const response = { service: req.service, header: ctx.responseHeader, trailer: ctx.responseTrailer };
    const impl = async (r: UnaryRequest | StreamRequest): Promise<UnaryResponse | StreamResponse> => {
      const c = contextFor(ctx, r);
      const input = r.message as never;
      switch (spec.kind) {
        case 'unary':
          return { ...response, stream: false, method: spec.method, message: create(spec.method.output, await spec.impl(input, c)) };
        case 'server_streaming':
          return {
            ...response,
            stream: true,
            method: spec.method,
            message: normalized(spec.method.output, spec.impl(await single(input as AsyncIterable<never>, spec.method), c)),
          };
        case 'client_streaming':
          return {
            ...response,
            stream: true,
            method: spec.method,
            message: normalized(
              spec.method.output,
              (async function* () {
                yield await spec.impl(input, c);
              })(),
            ),
          };
        case 'bidi_streaming':
          return { ...response, stream: true, method: spec.method, message: normalized(spec.method.output, spec.impl(input, c)) };
      }
    };
    let res: UnaryResponse | StreamResponse;
    try {
      res = await applyInterceptors(impl, ep.interceptors)(serverReq as UnaryRequest | StreamRequest);
    } catch (err) {
      ctx.abort();
      release();
      throw asConnectError(err, req.signal);
    }
    if (!res.stream) {
      ctx.abort();
      release();
      return res;
    }
    const it = res.message[Symbol.asyncIterator]();
    let first: IteratorResult<unknown>;
    try {
      first = await raceSignal(it.next(), req.signal);
    } catch (err) {
      ctx.abort();
      release();
      void it.return?.().catch(() => undefined);
      throw asConnectError(err, req.signal);
    }
    const end = () => {
      ctx.abort();
      release();
    };
    if (first.done) end();
    return { ...res, message: first.done ? emptyIterable() : clientStream(it, first.value, ctx, req.signal, end) } as StreamResponse;
  };
}

function emptyIterable<T>(): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) };
}

function withContentType(h: Headers): Headers {
  if (!h.has('content-type')) h.set('content-type', 'application/grpc+proto');
  return h;
}

function requestCommon(
  baseUrl: string,
  method: DescMethod,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  header: Header,
  contextValues: ContextValues | undefined,
) {
  const controller = new AbortController();
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(new ConnectError(`the operation timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)), timeoutMs);
  const onAbort = () => controller.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const cleanup = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  return {
    common: {
      service: method.parent,
      requestMethod: 'POST',
      url: `${baseUrl}/${method.parent.typeName}/${method.name}`,
      signal: controller.signal,
      // gRPC's semantics (status codes, trailers) are what an in-process call keeps; server-side
      // code that reads the protocol from the content type (span attributes) sees gRPC.
      header: withContentType(new Headers(header)),
      contextValues: contextValues ?? createContextValues(),
    },
    cleanup,
  };
}

/**
 * A transport that calls a server of this process directly when one is registered at `baseUrl`
 * (see enableInProcessCalls), and `network` otherwise; decided per call, so a server that
 * starts or stops later is found or left. Client interceptors run as over the network, then the
 * server's; messages are handed over as objects, never encoded.
 */
export function inProcessTransport(baseUrl: string, network: Transport, clientInterceptors: readonly Interceptor[], defaultTimeoutMs?: number): Transport {
  /** One direct call; the server side releases it when a stream ends, the caller when a unary call returns. */
  const direct = async (
    ep: InProcessEndpoint,
    method: DescMethod,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Header,
    contextValues: ContextValues | undefined,
    message: unknown,
    stream: boolean,
  ) => {
    const release = ep.enter();
    const { common, cleanup } = requestCommon(baseUrl, method, signal, timeoutMs, header, contextValues);
    const done = () => {
      cleanup();
      release();
    };
    const spec = ep.methods.get(`${method.parent.typeName}/${method.name}`);
    try {
      const res = await applyInterceptors(
        serverSide(ep, spec, timeoutMs, done),
        clientInterceptors,
      )({ ...common, stream, method, message } as UnaryRequest | StreamRequest);
      if (!res.stream) done();
      return res;
    } catch (err) {
      done();
      throw err;
    }
  };
  return {
    async unary(method, signal, timeout, header, input, contextValues) {
      const timeoutMs = timeout ?? defaultTimeoutMs;
      const ep = inProcessEndpoint(baseUrl);
      if (!ep) return network.unary(method, signal, timeoutMs, header, input, contextValues);
      return (await direct(ep, method, signal, timeoutMs, header, contextValues, create(method.input, input), false)) as never;
    },
    async stream(method, signal, timeout, header, input, contextValues) {
      const timeoutMs = timeout ?? defaultTimeoutMs;
      const ep = inProcessEndpoint(baseUrl);
      if (!ep) return network.stream(method, signal, timeoutMs, header, input, contextValues);
      return (await direct(ep, method, signal, timeoutMs, header, contextValues, normalized(method.input, input), true)) as never;
    },
  };
}
