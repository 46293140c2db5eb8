import type { Sampling } from '@tokenmesh/model';
import { FinishReason } from '@tokenmesh/proto';
import { annotateActiveSpan, ATTR, recordGenerationRequest, recordGenerationResult } from '@tokenmesh/telemetry';

/** The request's facts on the span of the call being served (gRPC server span or REST HTTP span). */
export function recordRequest(r: { requestId: string; model: string; chat: boolean; sampling: Sampling; promptTokens: number }): void {
  const { maxTokens, temperature, topP, topK } = r.sampling;
  recordGenerationRequest({
    operation: r.chat ? 'chat' : 'text_completion',
    requestId: r.requestId,
    model: r.model,
    maxTokens,
    temperature,
    topP,
    topK,
    promptTokens: r.promptTokens,
  });
}

/** Whether the response cache answered it. */
export function recordCacheOutcome(outcome: 'hit' | 'miss'): void {
  annotateActiveSpan({ [ATTR.cacheOutcome]: outcome });
}

/** The final event's facts: model and variant that served it, tokens out, why it ended. */
export function recordDone(done: {
  finishReason: FinishReason;
  usage: { completionTokens: number };
  timings: { timeToFirstTokenMs: number };
  model: string;
  variant: string;
}): void {
  recordGenerationResult(
    {
      responseModel: done.model,
      finishReason: (FinishReason[done.finishReason] ?? 'UNSPECIFIED').toLowerCase(),
      completionTokens: done.usage.completionTokens,
      timeToFirstTokenMs: done.timings.timeToFirstTokenMs,
    },
    done.variant ? { [ATTR.variant]: done.variant } : {},
  );
}
