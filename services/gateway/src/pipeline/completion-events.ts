import { create, toBinary } from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import { type Bus, SUBJECTS } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { CompletionEventSchema, type FinishReason, type Timings, type Usage } from '@tokenmesh/proto';
import { withProducerSpan } from '@tokenmesh/telemetry';

/** What the gateway knows when a completion ends. */
export interface CompletionRecord {
  readonly requestId: string;
  /** name@version that served it. */
  readonly model: string;
  readonly variant: string;
  readonly finishReason: FinishReason;
  readonly usage: Omit<Usage, '$typeName'>;
  readonly timings: Omit<Timings, '$typeName'>;
}

/** Called once per finished completion; must not throw or block the response. */
export type CompletionSink = (record: CompletionRecord) => void;

/**
 * Publishes each completion on the events stream (msgId = request id, so a retried publish is
 * stored once) with the request's trace context in the message headers. A failed publish is
 * logged; it never fails the request that produced it.
 */
export function completionPublisher(bus: Bus, tracer: Tracer, logger: Logger, now: () => number = Date.now): CompletionSink {
  return (r) => {
    const event = create(CompletionEventSchema, { ...r, usage: { ...r.usage }, timings: { ...r.timings }, finishedAtUnixMs: BigInt(now()) });
    const data = toBinary(CompletionEventSchema, event);
    withProducerSpan(SUBJECTS.completion, (headers) => bus.publishDurable(SUBJECTS.completion, data, { msgId: r.requestId, headers }), { tracer }).catch(
      (err: unknown) => logger.warn('completion event not published', { err, request_id: r.requestId }),
    );
  };
}
