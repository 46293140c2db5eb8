import { join } from 'node:path';

import {
  CausalLm,
  DECODE_ONNX_FILE,
  DecodeLm,
  hasExport,
  loadLoraAdapter,
  LORA_DECODE_ONNX_FILE,
  LORA_ONNX_FILE,
  type LoraStack,
  stackAdapters,
} from '@tokenmesh/model';

import type { WorkerInit } from './protocol';

/** The base's LoRA export and the adapters stacked for it: rows of any adapter share its passes. */
export interface LoraServing {
  readonly lm: CausalLm;
  readonly stack: LoraStack;
  /** The LoRA decode-step export, loaded when the base decodes with its decode-step export. */
  readonly decoder?: DecodeLm;
}

export interface LoadedWorkerModel {
  readonly lm: CausalLm;
  readonly provider: string;
  readonly lora?: LoraServing;
  /** The decode-step export (no cache copy per step); absent: decode passes use `lm`. */
  readonly decoder?: DecodeLm;
}

type SessionOptions = { intraOpNumThreads: number; executionProviders: string[] };

/**
 * Loads the worker's model with the first execution provider that works, in the configured order
 * (e.g. CUDA, then CPU), so one configuration serves hosts with and without a GPU. With adapters,
 * also the base's LoRA export (same provider) and every adapter, each checked against the base.
 * Decode passes use the decode-step exports when the model has them (both, with adapters: rows
 * of the base and of adapters share one cache layout), else the Optimum export.
 * @throws Error naming every provider's failure when none loads, or the adapter at fault.
 */
export async function loadModel(init: WorkerInit): Promise<LoadedWorkerModel> {
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
    const loaded: DecodeLm[] = [];
    try {
      const adapters = (init.adapterDirs?.length ?? 0) > 0;
      const decode = init.decodeExport && hasExport(lm.spec.dir, DECODE_ONNX_FILE) && (!adapters || hasExport(lm.spec.dir, LORA_DECODE_ONNX_FILE));
      const decoder = decode ? await DecodeLm.load(init.modelDir, options) : undefined;
      if (decoder) loaded.push(decoder);
      if (!adapters) return { lm, provider, decoder };
      const lora = await loadLora(init, lm, options, decode);
      if (lora.decoder) loaded.push(lora.decoder);
      return { lm, provider, lora, decoder };
    } catch (err) {
      await Promise.all([lm.release(), ...loaded.map((d) => d.release())]);
      throw err;
    }
  }
  throw new Error(`no execution provider could load ${init.modelDir}: ${errors.join('; ')}`);
}

async function loadLora(init: WorkerInit, base: CausalLm, options: SessionOptions, decode: boolean): Promise<LoraServing> {
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
  try {
    const decoder = decode ? await DecodeLm.load(init.modelDir, options, LORA_DECODE_ONNX_FILE) : undefined;
    return { lm, stack: stackAdapters(base.spec, adapters), decoder };
  } catch (err) {
    await lm.release();
    throw err;
  }
}
