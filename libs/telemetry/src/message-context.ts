import { type Context, context, propagation, ROOT_CONTEXT, type TextMapGetter } from '@opentelemetry/api';

/**
 * Message headers to read trace context from: a plain object, or anything with `get(name)`
 * (NATS `MsgHdrs`, whose `get` returns "" when absent, or Fetch `Headers`).
 */
export type HeaderSource = Readonly<Record<string, string | readonly string[] | undefined>> | { get(name: string): string | null | undefined };

function hasGet(h: HeaderSource): h is { get(name: string): string | null | undefined } {
  return typeof (h as { get?: unknown }).get === 'function';
}

const getter: TextMapGetter<HeaderSource> = {
  get(h, key) {
    if (hasGet(h)) return h.get(key) || undefined;
    const v = h[key];
    return typeof v === 'string' || v === undefined ? v : [...v];
  },
  keys: (h) => (hasGet(h) ? [] : Object.keys(h)),
};

/**
 * Writes the current (or given) trace context into message headers: `traceparent`, and
 * `tracestate` / `baggage` when present. Copy them into the bus library's own header type when
 * publishing. Returns `headers` for chaining.
 */
export function injectContext(headers: Record<string, string> = {}, ctx: Context = context.active()): Record<string, string> {
  propagation.inject(ctx, headers);
  return headers;
}

/**
 * The context carried by message headers, or `base` (root by default: a subscription callback's
 * ambient context has nothing to do with the message) when they carry none.
 */
export function extractContext(headers: HeaderSource | undefined, base: Context = ROOT_CONTEXT): Context {
  return headers ? propagation.extract(base, headers, getter) : base;
}

/** Runs `fn` with the message's trace context active, so spans it starts join the sender's trace. */
export function withExtractedContext<T>(headers: HeaderSource | undefined, fn: () => T): T {
  return context.with(extractContext(headers), fn);
}
