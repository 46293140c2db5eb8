import { fromBinary } from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import { type Bus, type Consumption, EVENTS_STREAM, SUBJECTS } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { CompletionEventSchema } from '@tokenmesh/proto';
import { withConsumerSpan } from '@tokenmesh/telemetry';

import type { FeedbackAggregates } from './aggregates';

/** Durable consumer name: replicas share it, so each event is handled by one of them. */
export const CONSUMER = 'feedback-aggregates';

/**
 * Folds completion events into the per-variant totals. Acks after the store update; a failure
 * leaves the message for redelivery, and the request-id dedup keeps a redelivered event from
 * being counted twice. Each event is processed in a span continuing the request's trace.
 */
export function consumeCompletions(bus: Bus, aggregates: FeedbackAggregates, tracer: Tracer, logger: Logger): Promise<Consumption> {
  return bus.consume(EVENTS_STREAM.name, CONSUMER, async (msg) => {
    if (msg.subject !== SUBJECTS.completion) return msg.ack();
    await withConsumerSpan(
      msg.subject,
      msg.headers,
      async () => {
        const e = fromBinary(CompletionEventSchema, msg.data);
        const counted = await aggregates.recordCompletion({
          requestId: e.requestId,
          model: e.model,
          variant: e.variant,
          completionTokens: e.usage?.completionTokens ?? 0,
          totalMs: e.timings?.totalMs ?? 0,
        });
        if (!counted) logger.debug('completion already counted', { request_id: e.requestId });
      },
      { tracer },
    );
    msg.ack();
  });
}
