import { join } from 'node:path';

import { CausalLm, loadLoraAdapter, LORA_ONNX_FILE, type LoraStack, stackAdapters } from '@tokenmesh/model';

import type { WorkerInit } from './protocol';

/** The base's LoRA export and the adapters stacked for it: rows of any adapter share its passes. */
export interface LoraServing {
  readonly lm: CausalLm;
  readonly stack: LoraStack;
}

/**
 * Loads the worker's model with the first execution provider that works, in the configured order
 * (e.g. CUDA, then CPU), so one configuration serves hosts with and without a GPU. With adapters,
 * also the base's LoRA export (same provider) and every adapter, each checked against the base.
 * @throws Error naming every provider's failure when none loads, or the adapter at fault.
 */
export async function loadModel(init: WorkerInit): Promise<{ lm: CausalLm; provider: string; lora?: LoraServing }> {
  const errors: string[] = [];
  for (const provider of init.executionProviders) {
    const options = { intraOpNumThreads: init.intraOpThreads, executionProviders: [provider] };
    let lm: CausalLm;
    try {
      lm = await CausalLm.load(init.modelDir, options);
    } catch (err) {
      errors.push(`${provider}: ${(err as Error).message}`);
      continue;
    }
    if (!init.adapterDirs?.length) return { lm, provider };
    try {
      return { lm, provider, lora: await loadLora(init, lm, options) };
    } catch (err) {
      await lm.release();
      throw err;
    }
  }
  throw new Error(`no execution provider could load ${init.modelDir}: ${errors.join('; ')}`);
}

async function loadLora(init: WorkerInit, base: CausalLm, options: { intraOpNumThreads: number; executionProviders: string[] }): Promise<LoraServing> {
  // Every adapter is checked before the export is loaded: a bad one names itself, not the session.
  const adapters = [];
  for (const dir of init.adapterDirs!) adapters.push(await loadLoraAdapter(dir, base.spec));
  let lm: CausalLm;
  try {
    lm = await CausalLm.load(init.modelDir, options, LORA_ONNX_FILE);
  } catch (err) {
    const names = adapters.map((a) => a.name).join(', ');
    throw new Error(
      `${base.spec.name} has no usable LoRA export ${join(base.spec.dir, 'onnx', LORA_ONNX_FILE)} for its adapters ${names} (npm run model:build -- lora-export): ${(err as Error).message}`,
    );
  }
  return { lm, stack: stackAdapters(base.spec, adapters) };
}
