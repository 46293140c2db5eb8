import { Tensor } from 'onnxruntime-node';

import { adapterIndex, type LoraStack } from './lora-stack';

/** Compacted stacks kept per stack: the sets of adapters batches mix are few; past this, start over. */
const MAX_SETS = 32;

/**
 * A LoRA export's inputs for one pass, holding only the adapter slots its rows use. The export runs
 * every slot it is given for every row (two dense GEMMs per linear, other slots' columns masked),
 * so a pass costs what the slots it mixes cost, not what every loaded adapter would (bench:lora
 * section 3: tinygpt's decode step at batch 32 runs at 0.88 of the base's speed with one slot, 0.8
 * with five, 0.63 with seventeen). Slot 0 (no adapter, zeros) is never given: its rows get an
 * index past the given slots, which the export's mask turns into no update at all.
 */
export class LoraPassFeeds {
  private readonly bySet = new Map<string, Record<string, Tensor>>();

  constructor(private readonly stack: LoraStack) {}

  /** `adapter_index` (renumbered into the compacted stack) and the stacked weights for rows in `slots`. */
  feeds(slots: readonly number[]): Record<string, Tensor> {
    const used = [...new Set(slots)].filter((s) => s !== 0).sort((a, b) => a - b);
    const position = new Map(used.map((s, i) => [s, i]));
    const index = adapterIndex(slots.map((s) => position.get(s) ?? used.length));
    const key = used.join(',');
    let weights = this.bySet.get(key);
    if (!weights) {
      if (this.bySet.size >= MAX_SETS) this.bySet.clear();
      weights = compact(this.stack, used);
      this.bySet.set(key, weights);
    }
    return { adapter_index: index, ...weights };
  }
}

/** The stack's tensors with only slots `used`, in that order. */
function compact(stack: LoraStack, used: readonly number[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(stack.feeds)) {
    const per = t.dims.slice(1).reduce((n, d) => n * d, 1);
    const src = t.data as Float32Array;
    const dst = new Float32Array(used.length * per);
    used.forEach((slot, i) => dst.set(src.subarray(slot * per, (slot + 1) * per), i * per));
    out[name] = new Tensor('float32', dst, [used.length, ...t.dims.slice(1)]);
  }
  return out;
}
