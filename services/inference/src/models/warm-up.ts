import { validateSampling } from '@tokenmesh/model';

import type { LoadedModel, ModelRepo } from './model-repo';

/**
 * One short generation per model and worker thread, so the first real request does not pay for onnxruntime's
 * lazy initialisation; the worker reports NOT_SERVING until this is done.
 */
export async function warmUp(repo: ModelRepo): Promise<void> {
  for (const m of repo.models) await warmUpModel(m);
}

/** The warm-up of one model, in each of its worker threads: a run-time load announces it only after this. */
export async function warmUpModel(m: LoadedModel): Promise<void> {
  const promptIds = [m.spec.bosTokenId ?? m.spec.padTokenId];
  const sampling = validateSampling({ maxTokens: 2, temperature: 0 }, { promptTokens: 1, contextLength: m.spec.contextLength, vocabSize: m.spec.vocabSize });
  for (const [i, engine] of m.engine.engines.entries()) {
    for await (const _ of engine.generate({ id: `warm-up-${m.id}-${i}`, promptIds, sampling })) void _;
  }
}
