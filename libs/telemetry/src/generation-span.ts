import { type Attributes, trace } from '@opentelemetry/api';

import { ATTR } from './attributes';

/** What a generation asked for, as the GenAI conventions name it. */
export interface GenerationRequestFacts {
  /** `text_completion` or `chat` (gen_ai.operation.name). */
  readonly operation?: string;
  readonly model: string;
  readonly requestId?: string;
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topP: number;
  readonly topK: number;
  readonly promptTokens: number;
}

/** How it ended. `finishReason` is the engine's word (length, eos, stop, cancelled). */
export interface GenerationResultFacts {
  readonly responseModel?: string;
  readonly finishReason: string;
  readonly completionTokens: number;
  readonly timeToFirstTokenMs?: number;
}

/**
 * Domain attributes on the span of the call being served (the RPC server span, or the HTTP
 * server span of a REST request), so a trace says which model, how many tokens in and out and
 * why it stopped, in `gen_ai.*` terms, next to our own (`extra`: worker, variant, cache outcome,
 * queue wait, batch size). No span, no cost: nothing is recorded where tracing is off.
 */
export function recordGenerationRequest(facts: GenerationRequestFacts, extra: Attributes = {}): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.setAttributes({
    ...(facts.operation ? { [ATTR.operation]: facts.operation } : {}),
    ...(facts.requestId ? { [ATTR.requestId]: facts.requestId } : {}),
    [ATTR.model]: facts.model,
    [ATTR.maxTokens]: facts.maxTokens,
    [ATTR.temperature]: facts.temperature,
    [ATTR.topP]: facts.topP,
    [ATTR.topK]: facts.topK,
    [ATTR.promptTokens]: facts.promptTokens,
    ...extra,
  });
}

/** More attributes on the span of the call being served (e.g. a cache outcome); none without a recording span. */
export function annotateActiveSpan(attrs: Attributes): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.setAttributes(attrs);
}

/** The result's attributes on the active span; see `recordGenerationRequest`. */
export function recordGenerationResult(facts: GenerationResultFacts, extra: Attributes = {}): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.setAttributes({
    ...(facts.responseModel ? { [ATTR.responseModel]: facts.responseModel } : {}),
    [ATTR.finishReasons]: [facts.finishReason],
    [ATTR.completionTokens]: facts.completionTokens,
    ...(facts.timeToFirstTokenMs !== undefined ? { [ATTR.timeToFirstTokenMs]: facts.timeToFirstTokenMs } : {}),
    ...extra,
  });
}
