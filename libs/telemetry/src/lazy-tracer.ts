import { type Context, context, type Span, type SpanOptions, trace, type Tracer } from '@opentelemetry/api';

/**
 * A Tracer that looks up its real tracer on every span. Interceptors and modules may be built
 * before `initTelemetry()` runs (or after a test re-initialises it) and still use the provider
 * that is current when the span starts, as the API's own proxy tracer does for the global one.
 */
export class LazyTracer implements Tracer {
  constructor(private readonly resolve: () => Tracer) {}

  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    return this.resolve().startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, a: F | SpanOptions, b?: F | Context, c?: F): ReturnType<F> {
    const fn = (c ?? (typeof b === 'function' ? b : a)) as F;
    const options = typeof a === 'function' ? undefined : a;
    const parent = b !== undefined && typeof b !== 'function' ? b : context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), () => fn(span) as ReturnType<F>);
  }
}
