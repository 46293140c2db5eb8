import { join } from 'node:path';

import {
  CausalLm,
  DECODE_ONNX_FILE,
  DecodeLm,
  hasExport,
  loadLoraAdapter,
  LORA_DECODE_ONNX_FILE,
  LORA_ONNX_FILE,
  type LoraAdapter,
  type LoraStack,
} from '@tokenmesh/model';

import type { WorkerInit } from './protocol';

/** The base's LoRA exports: rows of any adapter share their passes. */
export interface LoraSessions {
  readonly lm: CausalLm;
  /** The LoRA decode-step export, loaded when the base decodes with its decode-step export. */
  readonly decoder?: DecodeLm;
}

/** The LoRA exports and the adapters stacked for them. */
export interface LoraServing extends LoraSessions {
  readonly stack: LoraStack;
}

export interface LoadedWorkerModel {
  readonly lm: CausalLm;
  readonly provider: string;
  /** The decode-step export (no cache copy per step); absent: decode passes use `lm`. */
  readonly decoder?: DecodeLm;
  /** The adapters of WorkerInit.adapterDirs, checked against the base, in slot order. */
  readonly adapters: readonly LoraAdapter[];
  /** The LoRA exports, loaded at start when there are adapters, else by `loadLora` at the first run-time load. */
  readonly lora?: LoraSessions;
  /** Loads the LoRA exports that fit how this base decodes. @throws Error naming the export that is missing or broken */
  loadLora(): Promise<LoraSessions>;
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
      const dirs = init.adapterDirs ?? [];
      const decode = init.decodeExport && hasExport(lm.spec.dir, DECODE_ONNX_FILE) && (dirs.length === 0 || hasExport(lm.spec.dir, LORA_DECODE_ONNX_FILE));
      const decoder = decode ? await DecodeLm.load(init.modelDir, options) : undefined;
      if (decoder) loaded.push(decoder);
      const loadLora = () => loadLoraSessions(init, lm, options, decode);
      if (dirs.length === 0) return { lm, provider, decoder, adapters: [], loadLora };
      // Every adapter is checked before the export is loaded: a bad one names itself, not the session.
      const adapters: LoraAdapter[] = [];
      for (const dir of dirs) adapters.push(await loadLoraAdapter(dir, lm.spec));
      const lora = await loadLora().catch((err: unknown) => {
        throw new Error(`${(err as Error).message} (needed by its adapters ${adapters.map((a) => a.name).join(', ')})`);
      });
      return { lm, provider, decoder, adapters, lora, loadLora };
    } catch (err) {
      await Promise.all([lm.release(), ...loaded.map((d) => d.release())]);
      throw err;
    }
  }
  throw new Error(`no execution provider could load ${init.modelDir}: ${errors.join('; ')}`);
}

async function loadLoraSessions(init: WorkerInit, base: CausalLm, options: SessionOptions, decode: boolean): Promise<LoraSessions> {
  const missing = (file: string, why: string) =>
    new Error(`${base.spec.name} has no usable LoRA export ${join(base.spec.dir, 'onnx', file)} (npm run model:build -- lora-export): ${why}`);
  let lm: CausalLm;
  try {
    lm = await CausalLm.load(init.modelDir, options, LORA_ONNX_FILE);
  } catch (err) {
    throw missing(LORA_ONNX_FILE, (err as Error).message);
  }
  try {
    if (!decode) return { lm };
    // This base decodes with its decode-step export: adapter rows share that cache layout.
    if (!hasExport(base.spec.dir, LORA_DECODE_ONNX_FILE))
      throw missing(LORA_DECODE_ONNX_FILE, 'the base decodes with its decode-step export (INFERENCE_DECODE_EXPORT=false decodes without)');
    return { lm, decoder: await DecodeLm.load(init.modelDir, options, LORA_DECODE_ONNX_FILE) };
  } catch (err) {
    await lm.release();
    throw err;
  }
}
