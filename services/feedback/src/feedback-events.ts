import { create, toBinary } from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import { type Outbox, SUBJECTS } from '@tokenmesh/bus';
import { FeedbackEventSchema } from '@tokenmesh/proto';
import { withProducerSpan } from '@tokenmesh/telemetry';

import type { StoredFeedback } from './aggregates';

/** Publishes stored feedback on the events stream through `outbox` (retried until acked; msgId = feedback id). */
export function feedbackPublisher(outbox: Outbox, tracer: Tracer): (f: StoredFeedback) => void {
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
        comment: f.comment,
        receivedAtUnixMs: BigInt(f.receivedAtMs),
      }),
    );
    void withProducerSpan(SUBJECTS.feedback, (headers) => outbox.add(SUBJECTS.feedback, data, f.feedbackId, headers), { tracer });
  };
}
