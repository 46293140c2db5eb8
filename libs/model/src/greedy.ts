import type { Tensor } from 'onnxruntime-node';

import { leftPad, positionIds } from './batch-inputs';
import type { CausalLm } from './causal-lm';

/** Index of the largest value (first one on ties, as torch.argmax). */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export interface GreedyResult {
  /** Generated ids per row. */
  readonly tokens: number[][];
  /** Last-position logits per step per row (step 0 = after the prompt). */
  readonly stepLogits: Float32Array[][];
}

export interface GreedyOptions {
  /** Feed present back as past (default) or recompute the whole sequence every step. */
  readonly useCache?: boolean;
  /** Further inputs of every forward pass (a LoRA export's adapter_index and stacked weights). */
  readonly feeds?: Record<string, Tensor>;
}

/**
 * Greedy decoding of `steps` tokens for a left-padded batch, EOS not applied: the reference
 * decoder the engine's output is held to.
 */
export async function greedy(
  lm: CausalLm,
  prompts: readonly (readonly number[])[],
  steps: number,
  { useCache = true, feeds }: GreedyOptions = {},
): Promise<GreedyResult> {
  const { ids, mask } = leftPad(prompts, lm.spec.padTokenId);
  let positions = positionIds(mask);
  let result = await lm.forward(ids, mask, positions, undefined, feeds);
  const tokens: number[][] = prompts.map(() => []);
  const stepLogits: Float32Array[][] = [];
  for (let step = 0; step < steps; step++) {
    const last = prompts.map((_, r) => Float32Array.from(lm.lastLogits(result, r)));
    stepLogits.push(last);
    const next = last.map(argmax);
    next.forEach((t, r) => {
      tokens[r]!.push(t);
      ids[r]!.push(t);
      mask[r]!.push(1);
    });
    if (step + 1 === steps) break;
    if (useCache) {
      const nextPositions = positions.map((row) => [row[row.length - 1]! + 1]);
      positions = positions.map((row, r) => [...row, nextPositions[r]![0]!]);
      result = await lm.forward(
        next.map((t) => [t]),
        mask,
        nextPositions,
        result.past,
        feeds,
      );
    } else {
      positions = positionIds(mask);
      result = await lm.forward(ids, mask, positions, undefined, feeds);
    }
  }
  return { tokens, stepLogits };
}
