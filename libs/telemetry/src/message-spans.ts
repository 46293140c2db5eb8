import { type Attributes, type Context, context, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';

import { ATTR } from './attributes';
import { extractContext, type HeaderSource, injectContext } from './message-context';
import { SCOPE } from './service-tracers';

export interface MessageSpanOptions {
  /** e.g. `tracer('feedback')`; defaults to the globally registered provider. */
  tracer?: Tracer;
  /** `messaging.system`; default `nats`. */
  system?: string;
  attributes?: Attributes;
}

export interface ConsumerSpanOptions extends MessageSpanOptions {
  /**
   * Start a new trace that links to the producer instead of continuing its trace: for work that
   * is not part of the request (replays, periodic batch jobs). The default continues the trace,
   * so a request's events show up under it in Jaeger.
   */
  link?: boolean;
}

function attributesFor(subject: string, operation: 'send' | 'process', opts: MessageSpanOptions): Attributes {
  return {
    [ATTR.messagingSystem]: opts.system ?? 'nats',
    [ATTR.messagingDestination]: subject,
    [ATTR.messagingOperationType]: operation,
    [ATTR.messagingOperationName]: operation === 'send' ? 'publish' : 'process',
    ...opts.attributes,
  };
}

async function runInSpan<T>(span: Span, ctx: Context, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await context.with(ctx, fn);
  } catch (e) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
    span.setAttribute(ATTR.errorType, e instanceof Error ? e.name : typeof e);
    throw e;
  } finally {
    span.end();
  }
}

/**
 * Starts the CONSUMER span (`process <subject>`) for a received message, child of (or, with
 * `link`, linked to) the context in its headers. The caller ends the span; prefer
 * `withConsumerSpan`, which also makes it current while the message is handled.
 */
export function startConsumerSpan(subject: string, headers: HeaderSource | undefined, opts: ConsumerSpanOptions = {}): { span: Span; context: Context } {
  const remote = extractContext(headers);
  const producer = trace.getSpanContext(remote);
  const link = opts.link && producer ? { root: true, links: [{ context: producer }] } : {};
  const span = (opts.tracer ?? trace.getTracer(SCOPE)).startSpan(
    `process ${subject}`,
    { kind: SpanKind.CONSUMER, attributes: attributesFor(subject, 'process', opts), ...link },
    remote,
  );
  return { span, context: trace.setSpan(remote, span) };
}

/** Handles a message inside its CONSUMER span; a thrown error marks the span and is rethrown. */
export function withConsumerSpan<T>(
  subject: string,
  headers: HeaderSource | undefined,
  fn: (span: Span) => T | Promise<T>,
  opts: ConsumerSpanOptions = {},
): Promise<T> {
  const { span, context: ctx } = startConsumerSpan(subject, headers, opts);
  return runInSpan(span, ctx, () => fn(span));
}

/**
 * Publishes inside a PRODUCER span (`publish <subject>`), child of the current context: `fn`
 * gets headers that carry that span's context, to copy into the message it sends.
 */
export function withProducerSpan<T>(
  subject: string,
  fn: (headers: Record<string, string>, span: Span) => T | Promise<T>,
  opts: MessageSpanOptions = {},
): Promise<T> {
  const parent = context.active();
  const span = (opts.tracer ?? trace.getTracer(SCOPE)).startSpan(
    `publish ${subject}`,
    { kind: SpanKind.PRODUCER, attributes: attributesFor(subject, 'send', opts) },
    parent,
  );
  const ctx = trace.setSpan(parent, span);
  return runInSpan(span, ctx, () => fn(injectContext({}, ctx), span));
}
