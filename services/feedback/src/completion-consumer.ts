import type { Tracer } from '@opentelemetry/api';
import { type Bus, type Consumption, EVENTS_STREAM } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { withConsumerSpan } from '@tokenmesh/telemetry';

import type { FeedbackAggregates } from './aggregates';
import { decodeReportEvent, type ReportEvent } from './stream-events';

/** Durable consumer name: replicas share it, so each event is handled by one of them. */
export const CONSUMER = 'feedback-aggregates';

/** Redelivery delay after a store failure: 1 s, doubling per delivery, at most 30 s. */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(1000 * 2 ** Math.max(0, deliveryCount - 1), 30_000);
}

/**
 * Counts one decoded event in `gens` (default: the generations the report pointer names now).
 * Feedback was already counted by the submission that stored it, in the generations of that
 * moment; its event counts it in any generation that missed it (one a rebuild started since),
 * and puts back its record if the store lost it.
 */
export async function countEvent(aggregates: FeedbackAggregates, e: ReportEvent, gens?: readonly string[]): Promise<boolean> {
  if (e.kind === 'completion') return aggregates.recordCompletion(e.completion, gens);
  if (e.kind !== 'feedback') return false;
  await aggregates.restoreRecord(e.feedback);
  return aggregates.countFeedback(e.feedback, gens);
}

const idOf = (e: ReportEvent) =>
  e.kind === 'completion' ? { request_id: e.completion.requestId } : e.kind === 'feedback' ? { feedback_id: e.feedback.feedbackId } : {};

/**
 * Folds completion and feedback events into the per-variant totals. Acks after the store update;
 * on a store failure (Redis down) it naks with a growing delay, so the event is redelivered once
 * the store may be back instead of spinning, and the per-generation dedup keeps a redelivered
 * event from being counted twice. An event that cannot be decoded is acked and logged: no retry
 * can fix it. Each event is processed in a span continuing the request's trace.
 */
export function consumeEvents(bus: Bus, aggregates: FeedbackAggregates, tracer: Tracer, logger: Logger): Promise<Consumption> {
  return bus.consume(EVENTS_STREAM.name, CONSUMER, async (msg) => {
    const e = decodeReportEvent(msg.subject, msg.data);
    if (e.kind === 'other') return msg.ack();
    if (e.kind === 'malformed') {
      logger.warn('event dropped: malformed', { subject: msg.subject, seq: msg.seq, why: e.why });
      return msg.ack();
    }
    try {
      await withConsumerSpan(
        msg.subject,
        msg.headers,
        async () => {
          if (!(await countEvent(aggregates, e))) logger.debug('event already counted', { kind: e.kind, ...idOf(e) });
        },
        { tracer },
      );
    } catch (err) {
      const delayMs = retryDelayMs(msg.deliveryCount);
      logger.warn(`${e.kind} not counted yet: the store failed; redelivering`, {
        err,
        ...idOf(e),
        delivery: msg.deliveryCount,
        retry_in_ms: delayMs,
      });
      return msg.nak(delayMs);
    }
    msg.ack();
  });
}
