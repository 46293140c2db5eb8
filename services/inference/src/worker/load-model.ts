import { CausalLm } from '@tokenmesh/model';

import type { WorkerInit } from './protocol';

/**
 * Loads the worker's model with the first execution provider that works, in the configured order
 * (e.g. CUDA, then CPU), so one configuration serves hosts with and without a GPU.
 * @throws Error naming every provider's failure when none loads.
 */
export async function loadModel(init: WorkerInit): Promise<{ lm: CausalLm; provider: string }> {
  const errors: string[] = [];
  for (const provider of init.executionProviders) {
    try {
      const lm = await CausalLm.load(init.modelDir, { intraOpNumThreads: init.intraOpThreads, executionProviders: [provider] });
      return { lm, provider };
    } catch (err) {
      errors.push(`${provider}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no execution provider could load ${init.modelDir}: ${errors.join('; ')}`);
}
