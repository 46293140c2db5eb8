import { randomUUID } from 'node:crypto';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { FinishReason, GenerationService, type GenerateResponse, type GenerateResponseSchema } from '@tokenmesh/proto';
import type { FinishReason as EngineFinish, GenerationEvent } from './engine';
import { QueueDeadlineError, RequestTooLargeError } from './engine-limits';
import type { ModelRepo } from './model-repo';
import { QueueFullError } from './request-queue';
import { validateGenerate } from './validation';

/** Engine errors as the codes callers act on: retry later, fix the request, or give up. */
function toConnectError(err: unknown): unknown {
  if (err instanceof QueueFullError) {
    return new ConnectError(err.message, Code.ResourceExhausted, { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
  }
  if (err instanceof RequestTooLargeError) return new ConnectError(err.message, Code.InvalidArgument);
  if (err instanceof QueueDeadlineError) return new ConnectError(err.message, Code.DeadlineExceeded);
  return err;
}

async function* mapErrors(events: () => AsyncIterable<GenerationEvent>): AsyncIterable<GenerationEvent> {
  try {
    yield* events();
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
 * GenerationService of a worker: validates, then streams one message per generated token and a
 * last message with finish reason, usage and timings. The call's abort signal (client cancel or
 * disconnect) cancels the sequence, which leaves the worker before its next step. A full queue
 * is RESOURCE_EXHAUSTED with a retry-after hint; a deadline that passes in the queue is
 * DEADLINE_EXCEEDED.
 */
export function generationService(repo: ModelRepo, workerId: string): ServiceImpl<typeof GenerationService> {
  return {
    listServedModels() {
      return {
        models: repo.models.map((m) => ({ name: m.entry.name, version: m.entry.version, contextLength: m.spec.contextLength, workers: 1 })),
      };
    },

    async *generate(req, ctx) {
      const v = validateGenerate(req, repo);
      const id = req.requestId || randomUUID();
      const base = { model: v.model.id, workerId } satisfies Partial<GenerateResponse>;
      const timeout = ctx.timeoutMs();
      const events = mapErrors(() =>
        v.model.engine.generate({
          id,
          promptIds: v.promptIds,
          sampling: v.sampling,
          signal: ctx.signal,
          priority: req.priority,
          deadline: timeout === undefined ? undefined : performance.now() + timeout,
        }),
      );
      for await (const e of events) {
        if (e.type === 'token') {
          yield { ...base, tokenIds: [e.tokenId], logprobs: v.sampling.logprobs ? [e.logprob] : [] } satisfies MessageInitShape<typeof GenerateResponseSchema>;
        } else {
          yield {
            ...base,
            finishReason: FINISH[e.reason],
            usage: { promptTokens: e.promptTokens, completionTokens: e.completionTokens, totalTokens: e.promptTokens + e.completionTokens },
            timings: e.timings,
          };
        }
      }
    },
  };
}
