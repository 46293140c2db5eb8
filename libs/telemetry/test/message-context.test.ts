import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

import { ATTR, extractContext, injectContext, startConsumerSpan, tracer, withConsumerSpan, withExtractedContext, withProducerSpan } from '../src';
import { memoryTelemetry, only, serviceOf } from './helpers/memory-telemetry';

const { telemetry, spans, reset } = memoryTelemetry('gateway');
afterAll(() => telemetry.shutdown());
beforeEach(() => reset());

/** A stand-in for NATS `MsgHdrs`: `get` returns "" for a missing header. */
class NatsLikeHeaders {
  private readonly map = new Map<string, string>();
  set(k: string, v: string): void {
    this.map.set(k, v);
  }
  get(k: string): string {
    return this.map.get(k) ?? '';
  }
}

describe('trace context through message headers', () => {
  it('keeps the trace id through a plain headers object', async () => {
    const span = trace.getTracer('test').startSpan('publish');
    const { traceId, spanId } = span.spanContext();
    const headers = injectContext({}, trace.setSpan(context.active(), span));
    span.end();
    expect(headers['traceparent']).toBe(`00-${traceId}-${spanId}-01`);

    const remote = trace.getSpanContext(extractContext(headers));
    expect(remote).toMatchObject({ traceId, spanId, isRemote: true });
    const child = withExtractedContext(headers, () => trace.getTracer('test').startSpan('handle'));
    child.end();
    expect(child.spanContext().traceId).toBe(traceId);
    expect(only(await spans(), 'handle').parentSpanContext?.spanId).toBe(spanId);
  });

  it('reads headers through get() and carries baggage along', async () => {
    const nats = new NatsLikeHeaders();
    const baggage = propagation.createBaggage({ 'tokenmesh.tenant': { value: 'acme' } });
    trace.getTracer('test').startActiveSpan('request', (span) => {
      const ctx = propagation.setBaggage(context.active(), baggage);
      for (const [k, v] of Object.entries(injectContext({}, ctx))) nats.set(k, v);
      span.end();
    });
    const extracted = extractContext(nats);
    expect(trace.getSpanContext(extracted)?.traceId).toBe(only(await spans(), 'request').spanContext().traceId);
    expect(propagation.getBaggage(extracted)?.getEntry('tokenmesh.tenant')?.value).toBe('acme');
  });

  it('makes the consumer span a child of the producer span, in the consumer service', async () => {
    await trace.getTracer('test').startActiveSpan('request', async (root) => {
      await withProducerSpan('tokenmesh.events.completed', async (headers) => {
        // The bus would carry `headers` to a subscriber, here in another service.
        await withConsumerSpan('tokenmesh.events.completed', headers, () => undefined, { tracer: tracer('feedback') });
      });
      root.end();
    });
    const all = await spans();
    const producer = only(all, 'publish tokenmesh.events.completed', SpanKind.PRODUCER);
    const consumer = only(all, 'process tokenmesh.events.completed', SpanKind.CONSUMER);
    expect(producer.parentSpanContext?.spanId).toBe(only(all, 'request').spanContext().spanId);
    expect(consumer.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect([serviceOf(producer), serviceOf(consumer)]).toEqual(['gateway', 'feedback']);
    expect(consumer.attributes).toMatchObject({
      [ATTR.messagingSystem]: 'nats',
      [ATTR.messagingDestination]: 'tokenmesh.events.completed',
      [ATTR.messagingOperationType]: 'process',
    });
    expect(producer.attributes[ATTR.messagingOperationType]).toBe('send');
  });

  it('can start a new trace linked to the producer instead', async () => {
    const producerIds = await withProducerSpan('jobs', async (headers, span) => {
      const { span: consumer } = startConsumerSpan('jobs', headers, { link: true });
      consumer.end();
      return span.spanContext();
    });
    const consumer = only(await spans(), 'process jobs');
    expect(consumer.parentSpanContext).toBeUndefined();
    expect(consumer.spanContext().traceId).not.toBe(producerIds.traceId);
    expect(consumer.links.map((l) => l.context.spanId)).toEqual([producerIds.spanId]);
  });

  it('starts a root consumer span for a message without trace headers', async () => {
    await withConsumerSpan('legacy', { 'content-type': 'application/json' }, () => undefined);
    expect(only(await spans(), 'process legacy').parentSpanContext).toBeUndefined();
  });

  it('marks the consumer span failed when the handler throws, and rethrows', async () => {
    await expect(
      withConsumerSpan('events', {}, () => {
        throw new Error('bad payload');
      }),
    ).rejects.toThrow('bad payload');
    expect(only(await spans(), 'process events').status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad payload' });
  });
});
