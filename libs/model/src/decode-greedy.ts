import { Tensor } from 'onnxruntime-node';

import { leftPad, positionIds } from './batch-inputs';
import type { CausalLm, KvTensors } from './causal-lm';
import type { DecodeLm } from './decode-lm';
import { argmax, type GreedyOptions, type GreedyResult } from './greedy';
import { copyKvPositions } from './kv-copy';
import { pastNames } from './onnx-io';

/**
 * `greedy` with decode steps on the decode-step export: one prefill pass of `prefill` (the
 * Optimum export), its present copied into a buffer of `max prompt + steps` columns per row
 * (positions from column 0), then `steps - 1` decode passes that read the buffer in place and
 * write each new column. `feeds` go to both passes (a LoRA pair's adapter_index and weights).
 */
export async function greedyDecode(
  prefill: CausalLm,
  decoder: DecodeLm,
  prompts: readonly (readonly number[])[],
  steps: number,
  { feeds }: Pick<GreedyOptions, 'feeds'> = {},
): Promise<GreedyResult> {
  const { spec } = prefill;
  const { padTokenId, numKvHeads: heads, headDim: dim } = spec;
  const rows = prompts.length;
  const { ids, mask } = leftPad(prompts, padTokenId);
  const width = ids[0]!.length;
  const first = await prefill.forward(ids, mask, positionIds(mask), undefined, feeds);
  const capacity = width + steps;
  const past: KvTensors = {};
  for (const name of pastNames(spec)) {
    const data = first.past[name]!.data as Float32Array;
    const buf = new Float32Array(rows * heads * capacity * dim);
    prompts.forEach((p, row) =>
      copyKvPositions({ data, row, width, column: width - p.length }, { data: buf, row, width: capacity, column: 0 }, p.length, heads, dim),
    );
    past[name] = new Tensor('float32', buf, [rows, heads, capacity, dim]);
  }
  const lengths = prompts.map((p) => p.length);
  const tokens: number[][] = prompts.map(() => []);
  const stepLogits: Float32Array[][] = [];
  let logits = prompts.map((_, r) => Float32Array.from(prefill.lastLogits(first, r)));
  for (let step = 0; step < steps; step++) {
    stepLogits.push(logits);
    const next = logits.map(argmax);
    next.forEach((t, r) => tokens[r]!.push(t));
    if (step + 1 === steps) break;
    const out = await decoder.step(
      new Tensor('int64', BigInt64Array.from(next.map(BigInt)), [rows, 1]),
      new Tensor('int64', BigInt64Array.from(lengths.map(BigInt)), [rows, 1]),
      past,
      feeds,
    );
    for (const name of pastNames(spec)) {
      const data = out.newKv[name]!.data as Float32Array;
      const buf = past[name]!.data as Float32Array;
      for (let row = 0; row < rows; row++)
        copyKvPositions({ data, row, width: 1, column: 0 }, { data: buf, row, width: capacity, column: lengths[row]! }, 1, heads, dim);
    }
    lengths.forEach((_, r) => (lengths[r]! += 1));
    const v = spec.vocabSize;
    logits = prompts.map((_, r) => Float32Array.from(out.logits.subarray(r * v, (r + 1) * v)));
  }
  return { tokens, stepLogits };
}
