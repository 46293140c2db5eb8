import { create, toBinary } from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import { type Outbox, SUBJECTS } from '@tokenmesh/bus';
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
 * Publishes each completion on the events stream through `outbox` (retried until acked;
 * msgId = request id, so a retry that did land is stored once) with the request's trace
 * context in the message headers. It never fails the request that produced it.
 */
export function completionPublisher(outbox: Outbox, tracer: Tracer, now: () => number = Date.now): CompletionSink {
  return (r) => {
    const event = create(CompletionEventSchema, { ...r, usage: { ...r.usage }, timings: { ...r.timings }, finishedAtUnixMs: BigInt(now()) });
    const data = toBinary(CompletionEventSchema, event);
    // The span marks the hand-over to the outbox; its context travels with the event.
    void withProducerSpan(SUBJECTS.completion, (headers) => outbox.add(SUBJECTS.completion, data, r.requestId, headers), { tracer });
  };
}
