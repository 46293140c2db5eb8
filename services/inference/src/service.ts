import { randomUUID } from 'node:crypto';
import type { ServiceImpl } from '@connectrpc/connect';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { FinishReason, GenerationService, type GenerateResponse, type GenerateResponseSchema } from '@tokenmesh/proto';
import type { FinishReason as EngineFinish } from './engine';
import type { ModelRepo } from './model-repo';
import { validateGenerate } from './validation';

const FINISH: Record<EngineFinish, FinishReason> = {
  length: FinishReason.LENGTH,
  eos: FinishReason.EOS,
  stop: FinishReason.STOP,
  cancelled: FinishReason.CANCELLED,
};

/**
 * GenerationService of a worker: validates, then streams one message per generated token and a
 * last message with finish reason, usage and timings. The call's abort signal (client cancel or
 * disconnect) cancels the sequence, which leaves the worker before its next step.
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
      for await (const e of v.model.engine.generate({ id, promptIds: v.promptIds, sampling: v.sampling, signal: ctx.signal })) {
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
