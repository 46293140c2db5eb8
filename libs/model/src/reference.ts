import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { CausalLm } from './causal-lm';
import { greedy } from './greedy';

/** One case of `reference.json` (written by scripts/model/reference.py from PyTorch). */
export interface ReferenceCase {
  readonly prompts: string[];
  readonly input_ids: number[][];
  readonly attention_mask: number[][];
  readonly position_ids: number[][];
  readonly first_step_top_ids: number[][];
  readonly first_step_top_logits: number[][];
  readonly greedy_ids: number[][];
  readonly greedy_text: string[];
  readonly min_greedy_margin: number;
}

export interface ReferenceFile {
  readonly model: string;
  readonly generated_by: string;
  readonly top_k: number;
  readonly new_tokens: number;
  readonly eos_token_id: number;
  readonly cases: ReferenceCase[];
}

export async function loadReference(dir: string): Promise<ReferenceFile> {
  return JSON.parse(await readFile(join(dir, 'reference.json'), 'utf8')) as ReferenceFile;
}

/** Unpadded prompt rows of a case (the reference stores them left-padded). */
export function promptRows(c: ReferenceCase): number[][] {
  return c.input_ids.map((row, r) => row.filter((_, i) => c.attention_mask[r]![i] === 1));
}

/** How onnxruntime's decoding of one reference case compares with PyTorch's. */
export interface CaseReport {
  readonly prompts: string[];
  readonly tokens: number[][];
  readonly tokensMatch: boolean;
  /** Largest |ORT − PyTorch| over the reference's top-k first-step logits. */
  readonly maxFirstStepLogitDiff: number;
}

/** Runs every case with the KV cache and compares tokens and first-step logits. */
export async function checkReference(lm: CausalLm, ref: ReferenceFile): Promise<CaseReport[]> {
  const reports: CaseReport[] = [];
  for (const c of ref.cases) {
    const { tokens, stepLogits } = await greedy(lm, promptRows(c), ref.new_tokens);
    let maxDiff = 0;
    c.first_step_top_ids.forEach((ids, r) =>
      ids.forEach((id, k) => {
        maxDiff = Math.max(maxDiff, Math.abs(stepLogits[0]![r]![id]! - c.first_step_top_logits[r]![k]!));
      }),
    );
    reports.push({
      prompts: c.prompts,
      tokens,
      tokensMatch: JSON.stringify(tokens) === JSON.stringify(c.greedy_ids),
      maxFirstStepLogitDiff: maxDiff,
    });
  }
  return reports;
}
