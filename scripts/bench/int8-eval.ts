/**
 * What quantization costs in quality, measured with onnxruntime-node (no Python): held-out loss
 * over the committed held-out sample, and greedy agreement with the fp32 model over the reference
 * prompts. Used by bench:int8, by the quantize phase's metrics step (int8-metrics.ts) and by
 * libs/model/test/int8.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { CausalLm, greedy, loadReference, promptRows } from '@tokenmesh/model';

const ROOT = resolve(__dirname, '../..');
/** Written by scripts/model/quantize.py from the training's held-out split; its `source` says how. */
export const HELDOUT_FILE = join(ROOT, 'models/tinygpt-int8/eval/heldout.json');
const EOT_ID = 256;

/** The held-out windows as token rows: <|endoftext|>, then the text's bytes (a byte is a token). */
export function heldOutRows(file = HELDOUT_FILE): number[][] {
  const { windows } = JSON.parse(readFileSync(file, 'utf8')) as { windows: string[] };
  return windows.map((w) => [EOT_ID, ...Buffer.from(w, 'utf8')]);
}

/** Mean token cross-entropy (nats per token) of every token after the first, one window per pass. */
export async function heldOutLoss(lm: CausalLm, rows: readonly number[][] = heldOutRows()): Promise<number> {
  const v = lm.spec.vocabSize;
  let sum = 0;
  let count = 0;
  for (const row of rows) {
    const ids = row.slice(0, lm.spec.contextLength);
    const out = await lm.forward([ids], [ids.map(() => 1)], [ids.map((_, i) => i)]);
    for (let t = 0; t + 1 < ids.length; t++) {
      const logits = out.logits.subarray(t * v, (t + 1) * v);
      let max = -Infinity;
      for (const x of logits) max = Math.max(max, x);
      let z = 0;
      for (const x of logits) z += Math.exp(x - max);
      sum += max + Math.log(z) - logits[ids[t + 1]!]!;
      count++;
    }
  }
  return sum / count;
}

/** Greedy continuations of every reference case (reference.json's prompts and length). */
export async function referenceGreedy(lm: CausalLm, referenceDir: string): Promise<number[][][]> {
  const ref = await loadReference(referenceDir);
  const out: number[][][] = [];
  for (const c of ref.cases) out.push((await greedy(lm, promptRows(c), ref.new_tokens)).tokens);
  return out;
}

/** Share of tokens equal, position by position, between two sets of continuations of the same shape. */
export function agreement(a: readonly number[][][], b: readonly number[][][]): number {
  let same = 0;
  let total = 0;
  a.forEach((rows, c) =>
    rows.forEach((row, r) =>
      row.forEach((t, i) => {
        total++;
        if (b[c]![r]![i] === t) same++;
      }),
    ),
  );
  return same / total;
}

/** Quality of one fp32 / int8 pair. */
export interface PairQuality {
  readonly heldOutLossFp32: number;
  readonly heldOutLossInt8: number;
  /** int8 greedy tokens equal to fp32 greedy tokens, over the reference prompts. */
  readonly greedyAgreement: number;
  /** fp32 (onnxruntime) greedy tokens equal to the PyTorch reference's; null without a reference.json. */
  readonly fp32ReferenceAgreement: number | null;
  readonly heldOutTokens: number;
}

/**
 * Held-out loss of both, and greedy agreement over `referenceDir`'s reference.json (bench-26m has
 * none of its own: tinygpt's prompts, same byte tokenizer).
 */
export async function pairQuality(
  fp32Dir: string,
  int8Dir: string,
  referenceDir: string,
  ownReference: boolean,
  heldOutFile = HELDOUT_FILE,
): Promise<PairQuality> {
  const rows = heldOutRows(heldOutFile);
  const measure = async (dir: string) => {
    const lm = await CausalLm.load(dir);
    try {
      return { loss: await heldOutLoss(lm, rows), greedy: await referenceGreedy(lm, referenceDir) };
    } finally {
      await lm.release();
    }
  };
  const fp32 = await measure(fp32Dir);
  const int8 = await measure(int8Dir);
  let fp32ReferenceAgreement: number | null = null;
  if (ownReference) {
    const ref = await loadReference(referenceDir);
    fp32ReferenceAgreement = agreement(
      ref.cases.map((c) => c.greedy_ids),
      fp32.greedy,
    );
  }
  return {
    heldOutLossFp32: fp32.loss,
    heldOutLossInt8: int8.loss,
    greedyAgreement: agreement(fp32.greedy, int8.greedy),
    fp32ReferenceAgreement,
    heldOutTokens: rows.reduce((n, r) => n + r.length - 1, 0),
  };
}

/** Fills `metrics` of both model-meta.json files (metrics are not among the checksummed files). */
export function writeMetrics(fp32Dir: string, int8Dir: string, q: PairQuality): void {
  const update = (dir: string, metrics: Record<string, number | null>) => {
    const file = join(dir, 'model-meta.json');
    const meta = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...meta, metrics }, null, 2) + '\n');
  };
  const r = (x: number) => Number(x.toFixed(4));
  update(fp32Dir, { heldOutLoss: r(q.heldOutLossFp32), heldOutLossFp32: r(q.heldOutLossFp32), greedyAgreement: q.fp32ReferenceAgreement });
  update(int8Dir, { heldOutLoss: r(q.heldOutLossInt8), heldOutLossFp32: r(q.heldOutLossFp32), greedyAgreement: r(q.greedyAgreement) });
}
