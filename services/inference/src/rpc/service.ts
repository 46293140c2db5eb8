import { randomUUID } from 'node:crypto';

import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { FinishReason, type GenerateRequest, type GenerateResponseSchema, type GenerationService } from '@tokenmesh/proto';
import { ATTR, recordGenerationRequest, recordGenerationResult } from '@tokenmesh/telemetry';

import type { FinishReason as EngineFinish } from '../engine/engine';
import { QueueDeadlineError, RequestTooLargeError } from '../engine/engine-limits';
import { QueueFullError } from '../engine/request-queue';
import type { ModelRepo } from '../models/model-repo';
import { ChoiceGate } from './choice-gate';
import { validateGenerate } from './validation';

/**
 * The worker's GenerationService; its Generate needs only the call's signal and deadline of its
 * context, so gRPC callers' calls can be served past Connect too (grpcStreamHandler).
 */
export type GenerationImpl = Omit<ServiceImpl<typeof GenerationService>, 'generate'> & {
  generate(req: GenerateRequest, ctx: Pick<HandlerContext, 'signal' | 'timeoutMs'>): AsyncGenerator<MessageInitShape<typeof GenerateResponseSchema>>;
};

/** Engine errors as the codes callers act on: retry later, fix the request, or give up. */
function toConnectError(err: unknown): unknown {
  if (err instanceof QueueFullError) {
    return new ConnectError(err.message, Code.ResourceExhausted, { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
  }
  if (err instanceof RequestTooLargeError) return new ConnectError(err.message, Code.InvalidArgument);
  if (err instanceof QueueDeadlineError) return new ConnectError(err.message, Code.DeadlineExceeded);
  return err;
}

/** The engine's stream with its errors as Connect errors; `open` may throw (a full queue). */
async function* mapErrors<T>(open: () => AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* open();
  } catch (err) {
    throw toConnectError(err);
  }
}

const FINISH: Record<EngineFinish, FinishReason> = {
  length: FinishReason.LENGTH,
  eos: FinishReason.EOS,
  stop: FinishReason.STOP,
  cancelled: FinishReason.CANCELLED,
};

/**
 * GenerationService of a worker: validates, then streams the generated tokens and a last message
 * with finish reason, usage and timings. Every token that is ready when the stream is read goes
 * out in one message, so a reader that fell behind (a busy event loop, a slow network) pays per
 * message, not per token; `min_tokens_per_message` holds tokens back for callers that want fewer
 * messages still. The call's abort signal (client cancel or disconnect) cancels the sequence,
 * which leaves the worker before its next step. A full queue is RESOURCE_EXHAUSTED with a
 * retry-after hint; a deadline that passes in the queue is DEADLINE_EXCEEDED.
 */
export function generationService(
  repo: ModelRepo,
  workerId: string,
  opts: { readonly holdMs?: () => number; readonly choiceWaitMs?: number } = {},
): GenerationImpl {
  const choices = new ChoiceGate(opts.choiceWaitMs);
  return {
    listServedModels() {
      return {
        models: repo.models.map((m) => ({
          name: m.entry.name,
          version: m.entry.version,
          contextLength: m.spec.contextLength,
          workers: 1,
          capacity: m.engine.capacity,
          parent: m.adapter?.parent ?? '',
          digest: m.digest,
        })),
      };
    },

    async *generate(req, ctx) {
      const v = validateGenerate(req, repo);
      // The n choices of a prompt start together, so the worker prefills it once for them all.
      await choices.arrive(req.choiceGroup, req.choiceGroupSize, ctx.signal);
      // Counted from here (queued included): an unload of its adapter waits for this stream.
      const leave = v.model.streams.enter();
      try {
        const id = req.requestId || randomUUID();
        const timeout = ctx.timeoutMs();
        const hold = Math.max(1, req.minTokensPerMessage);
        const withLogprobs = v.sampling.logprobs;
        const { maxTokens, temperature, topP, topK } = v.sampling;
        recordGenerationRequest(
          { model: req.model || v.model.id, requestId: id, maxTokens, temperature, topP, topK, promptTokens: v.promptIds.length },
          { [ATTR.worker]: workerId, [ATTR.priority]: req.priority },
        );
        let tokenIds: number[] = [];
        let logprobs: number[] = [];
        let topLogprobs: { tokenIds: number[]; logprobs: number[] }[] = [];
        const withTop = v.sampling.topLogprobs > 0;
        const batches = mapErrors(() =>
          v.model.engine
            .generate({
              id,
              promptIds: v.promptIds,
              sampling: v.sampling,
              signal: ctx.signal,
              priority: req.priority,
              deadline: timeout === undefined ? undefined : performance.now() + timeout,
              adapter: v.model.adapter?.slot,
            })
            // Held tokens need no wake-up each: the consumer is woken when a message's worth is ready.
            .batches(opts.holdMs, hold),
        );
        for await (const events of batches) {
          for (const e of events) {
            if (e.type === 'token') {
              tokenIds.push(e.tokenId);
              if (withLogprobs) logprobs.push(e.logprob);
              if (withTop) topLogprobs.push({ tokenIds: e.top?.ids ?? [], logprobs: e.top?.logprobs ?? [] });
              continue;
            }
            recordGenerationResult(
              { responseModel: v.model.id, finishReason: e.reason, completionTokens: e.completionTokens, timeToFirstTokenMs: e.timings.timeToFirstTokenMs },
              { [ATTR.queueWaitMs]: e.timings.queueMs, [ATTR.batchSize]: e.batchSize },
            );
            yield {
              model: v.model.id,
              workerId,
              tokenIds,
              logprobs,
              ...(withTop && { topLogprobs }),
              finishReason: FINISH[e.reason],
              usage: { promptTokens: e.promptTokens, completionTokens: e.completionTokens, totalTokens: e.promptTokens + e.completionTokens },
              timings: e.timings,
            } satisfies MessageInitShape<typeof GenerateResponseSchema>;
            return;
          }
          if (tokenIds.length < hold) continue;
          yield { model: v.model.id, workerId, tokenIds, logprobs, ...(withTop && { topLogprobs }) } satisfies MessageInitShape<typeof GenerateResponseSchema>;
          tokenIds = [];
          logprobs = [];
          if (withTop) topLogprobs = [];
        }
      } finally {
        leave();
      }
    },
  };
}
