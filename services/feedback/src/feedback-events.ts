import { create, toBinary } from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import { type Bus, SUBJECTS } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { FeedbackEventSchema } from '@tokenmesh/proto';
import { withProducerSpan } from '@tokenmesh/telemetry';

import type { StoredFeedback } from './aggregates';

/** Publishes stored feedback on the events stream (msgId = feedback id); failures are logged. */
export function feedbackPublisher(bus: Bus, tracer: Tracer, logger: Logger): (f: StoredFeedback) => void {
  return (f) => {
    const data = toBinary(
      FeedbackEventSchema,
      create(FeedbackEventSchema, {
        feedbackId: f.feedbackId,
        requestId: f.requestId,
        model: f.model,
        variant: f.variant,
        rating: f.rating,
        labels: f.labels,
        receivedAtUnixMs: BigInt(f.receivedAtMs),
      }),
    );
    withProducerSpan(SUBJECTS.feedback, (headers) => bus.publishDurable(SUBJECTS.feedback, data, { msgId: f.feedbackId, headers }), { tracer }).catch(
      (err: unknown) => logger.warn('feedback event not published', { err, feedback_id: f.feedbackId }),
    );
  };
}
