import { create, toBinary } from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import { type Bus, Outbox, SUBJECTS } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { createCounter, createGauge, type Registry } from '@tokenmesh/metrics';
import { FeedbackEventSchema } from '@tokenmesh/proto';
import { withProducerSpan } from '@tokenmesh/telemetry';

import type { StoredFeedback } from './aggregates';

/**
 * The service's outbox for feedback events, with `tokenmesh_outbox_depth` and
 * `tokenmesh_outbox_shed_total{subject}` (the gateway declares the same for completions).
 */
export function eventOutbox(bus: Bus, metrics: Registry, logger: Logger): Outbox {
  const depth = createGauge(metrics, { name: 'outbox_depth', help: 'Events waiting for the events stream to ack them' });
  const shed = createCounter(metrics, { name: 'outbox_shed_total', help: 'Events refused because the outbox was full', labelNames: ['subject'] });
  return new Outbox(bus, { logger, onDepth: (n) => depth.set(n), onShed: (subject) => shed.inc({ subject }) });
}

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
