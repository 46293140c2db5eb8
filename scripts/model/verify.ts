/**
 * Checks every model directory under the given folder: the ONNX inputs/outputs against
 * config.json and, where a reference.json exists, onnxruntime's greedy KV-cache decoding against
 * the PyTorch reference (exact tokens, first-step logits within 1e-4). Exit 1 on any mismatch.
 * A quantized directory (model-meta.json with a `quantization`, e.g. models/tinygpt-int8) cannot
 * match the fp32 reference exactly: its token agreement and logit difference are reported, and it
 * fails only on wrong inputs/outputs, wrong shapes or non-finite logits.
 *   npx tsx scripts/model/verify.ts models
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { CausalLm, checkReference, ioMismatches, loadReference } from '@tokenmesh/model';

import { agreement } from '../bench/int8-eval';

const LOGIT_TOLERANCE = 1e-4;

/** Whether the directory's model-meta.json says its weights are quantized. */
function quantized(dir: string): boolean {
  const file = join(dir, 'model-meta.json');
  return existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { quantization?: unknown }).quantization != null;
}

async function verify(dir: string): Promise<boolean> {
  const lm = await CausalLm.load(dir);
  try {
    const problems = ioMismatches(lm.session, lm.spec);
    for (const p of problems) console.error(`${lm.spec.name}: ${p}`);
    let ok = problems.length === 0;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${lm.spec.name}: ONNX inputs and outputs match config.json`);
    if (!existsSync(join(dir, 'reference.json'))) return ok;
    const ref = await loadReference(dir);
    const approximate = quantized(dir);
    for (const [i, r] of (await checkReference(lm, ref)).entries()) {
      const shape = JSON.stringify(r.tokens.map((t) => t.length)) === JSON.stringify(ref.cases[i]!.greedy_ids.map((t) => t.length));
      if (approximate) {
        const good = shape && Number.isFinite(r.maxFirstStepLogitDiff);
        ok &&= good;
        console.log(
          `${good ? 'ok  ' : 'FAIL'} ${lm.spec.name} (quantized) ${JSON.stringify(r.prompts)}: ` +
            `${(agreement([ref.cases[i]!.greedy_ids], [r.tokens]) * 100).toFixed(0)}% of tokens equal the fp32 reference's, ` +
            `first-step logit diff ${r.maxFirstStepLogitDiff.toExponential(2)}${shape ? '' : ', WRONG SHAPE'}`,
        );
        continue;
      }
      const good = r.tokensMatch && r.maxFirstStepLogitDiff <= LOGIT_TOLERANCE;
      ok &&= good;
      console.log(
        `${good ? 'ok  ' : 'FAIL'} ${lm.spec.name} ${JSON.stringify(r.prompts)}: tokens ${r.tokensMatch ? 'equal' : 'DIFFER'}, ` +
          `first-step logit diff ${r.maxFirstStepLogitDiff.toExponential(2)}`,
      );
    }
    return ok;
  } finally {
    await lm.release();
  }
}

async function main(): Promise<void> {
  const root = resolve(process.argv[2] ?? 'models');
  const dirs = readdirSync(root)
    .map((d) => join(root, d))
    .filter((d) => existsSync(join(d, 'config.json')));
  if (dirs.length === 0) throw new Error(`no model directory (with a config.json) under ${root}`);
  let ok = true;
  for (const dir of dirs) ok = (await verify(dir)) && ok;
  if (!ok) process.exit(1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
