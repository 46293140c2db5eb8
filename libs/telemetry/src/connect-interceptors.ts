import type { Interceptor } from '@connectrpc/connect';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Tracer } from '@opentelemetry/api';

import { headersGetter, headersSetter, rpcAttributes, rpcSpanName, spanEnder, traceStream } from './rpc-span';
import { SCOPE } from './service-tracers';

function tracingInterceptor(side: 'client' | 'server', tracer: Tracer | undefined): Interceptor {
  return (next) => async (req) => {
    // A server parents on the headers only, never on whatever context happens to be active: with
    // several services in one process a stray active span would mis-parent the request.
    const parent = side === 'client' ? context.active() : propagation.extract(ROOT_CONTEXT, req.header, headersGetter);
    const span = (tracer ?? trace.getTracer(SCOPE)).startSpan(
      rpcSpanName(req),
      { kind: side === 'client' ? SpanKind.CLIENT : SpanKind.SERVER, attributes: rpcAttributes(req) },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    if (side === 'client') propagation.inject(ctx, req.header, headersSetter);
    const end = spanEnder(span, side, req.signal);
    try {
      const res = await context.with(ctx, () => next(req));
      if (!res.stream) {
        end();
        return res;
      }
      return { ...res, message: traceStream(res.message, ctx, end) };
    } catch (e) {
      end(e);
      throw e;
    }
  };
}

/**
 * Connect client interceptor: a CLIENT span per call, its context injected into the request
 * headers (W3C traceparent/tracestate/baggage) so the next hop continues the trace. Needed because
 * connect-node over HTTP/2 is not auto-instrumented. A streaming call's span ends when the response
 * stream ends, fails, is abandoned by its reader, or the call is aborted: not when headers arrive.
 *
 * @param tracer e.g. `tracer('gateway')`; defaults to the globally registered provider.
 */
export function clientTracingInterceptor(tracer?: Tracer): Interceptor {
  return tracingInterceptor('client', tracer);
}

/**
 * Connect server interceptor, for `connectNodeAdapter({ interceptors })`: a SERVER span parented
 * on the caller's traceparent (a Connect client with `clientTracingInterceptor`, or grpc-js with
 * instrumentation-grpc). The handler, and a streaming handler's generator, run inside it, so the
 * handler's own client calls and log lines join the trace.
 *
 * @param tracer e.g. `tracer('router')`; defaults to the globally registered provider.
 */
export function serverTracingInterceptor(tracer?: Tracer): Interceptor {
  return tracingInterceptor('server', tracer);
}
