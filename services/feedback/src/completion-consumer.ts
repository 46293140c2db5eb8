import { fromBinary } from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import { type Bus, type Consumption, EVENTS_STREAM, SUBJECTS } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { type CompletionEvent, CompletionEventSchema } from '@tokenmesh/proto';
import { withConsumerSpan } from '@tokenmesh/telemetry';

import type { FeedbackAggregates } from './aggregates';

/** Durable consumer name: replicas share it, so each event is handled by one of them. */
export const CONSUMER = 'feedback-aggregates';

/** Redelivery delay after a store failure: 1 s, doubling per delivery, at most 30 s. */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(1000 * 2 ** Math.max(0, deliveryCount - 1), 30_000);
}

/**
 * Folds completion events into the per-variant totals. Acks after the store update; on a store
 * failure (Redis down) it naks with a growing delay, so the event is redelivered once the store
 * may be back instead of spinning, and the request-id dedup keeps a redelivered event from being
 * counted twice. An event that cannot be decoded is acked and logged: no retry can fix it. Each
 * event is processed in a span continuing the request's trace.
 */
export function consumeCompletions(bus: Bus, aggregates: FeedbackAggregates, tracer: Tracer, logger: Logger): Promise<Consumption> {
  return bus.consume(EVENTS_STREAM.name, CONSUMER, async (msg) => {
    if (msg.subject !== SUBJECTS.completion) return msg.ack();
    let e: CompletionEvent;
    try {
      e = fromBinary(CompletionEventSchema, msg.data);
    } catch (err) {
      logger.warn('completion event dropped: cannot decode it', { err, seq: msg.seq });
      return msg.ack();
    }
    try {
      await withConsumerSpan(
        msg.subject,
        msg.headers,
        async () => {
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
    } catch (err) {
      const delayMs = retryDelayMs(msg.deliveryCount);
      logger.warn('completion not counted yet: the store failed; redelivering', {
        err,
        request_id: e.requestId,
        delivery: msg.deliveryCount,
        retry_in_ms: delayMs,
      });
      return msg.nak(delayMs);
    }
    msg.ack();
  });
}
