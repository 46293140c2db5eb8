import { Tensor } from 'onnxruntime-node';

import { type LoraAdapter, loraModules } from './lora-adapter';
import type { ModelSpec } from './model-config';

/** The LoRA export of a base, beside `onnx/model.onnx` (scripts/model/lora_export.py). */
export const LORA_ONNX_FILE = 'model_lora.onnx';

/** The stacked LoRA inputs of a LoRA export: slot 0 is the base (zeros), slot k the k-th adapter. */
export interface LoraStack {
  readonly slots: number;
  readonly rank: number;
  /** `lora_A.<module>` [slots, rank, in] and `lora_B.<module>` [slots, rank, out] (PEFT's B
   * transposed: the export multiplies by it without a transpose per step), float32. */
  readonly feeds: Record<string, Tensor>;
}

/**
 * Stacks `adapters` (each already checked against `base`) into a LoRA export's inputs: the k-th
 * in slot k + 1 (a hole, an adapter unloaded at run time, stays zeros), padded with zeros to the
 * largest rank, its scaling folded into B, and zeros for a module it does not target. Rows pick
 * their slot with `adapter_index`.
 */
export function stackAdapters(base: ModelSpec, adapters: readonly (LoraAdapter | undefined)[]): LoraStack {
  const slots = adapters.length + 1;
  const rank = Math.max(1, ...adapters.map((a) => a?.rank ?? 1));
  const feeds: Record<string, Tensor> = {};
  for (const m of loraModules(base)) {
    const a = new Float32Array(slots * rank * m.inFeatures);
    const b = new Float32Array(slots * rank * m.outFeatures);
    adapters.forEach((adapter, i) => {
      const layer = adapter?.layers.find((l) => l.target === m.target);
      if (!adapter || !layer) return;
      const slot = i + 1;
      // A [r, in] is a prefix of the slot's [rank, in] rows.
      a.set(layer.a, slot * rank * m.inFeatures);
      for (let k = 0; k < adapter.rank; k++) {
        const row = (slot * rank + k) * m.outFeatures;
        for (let o = 0; o < m.outFeatures; o++) b[row + o] = layer.b[o * adapter.rank + k]! * adapter.scaling;
      }
    });
    feeds[`lora_A.${m.name}`] = new Tensor('float32', a, [slots, rank, m.inFeatures]);
    feeds[`lora_B.${m.name}`] = new Tensor('float32', b, [slots, rank, m.outFeatures]);
  }
  return { slots, rank, feeds };
}

/** `adapter_index` for a batch: each row's slot (0 = no adapter). */
export function adapterIndex(slots: readonly number[]): Tensor {
  return new Tensor('int64', BigInt64Array.from(slots, BigInt), [slots.length]);
}
