/**
 * Checks every model directory under the given folder: the ONNX inputs/outputs against
 * config.json and, where a reference.json exists, onnxruntime's greedy KV-cache decoding against
 * the PyTorch reference (exact tokens, first-step logits within 1e-4). Exit 1 on any mismatch.
 *   npx tsx scripts/model/verify.ts models
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { CausalLm, checkReference, ioMismatches, loadReference } from '@tokenmesh/model';

const LOGIT_TOLERANCE = 1e-4;

async function verify(dir: string): Promise<boolean> {
  const lm = await CausalLm.load(dir);
  try {
    const problems = ioMismatches(lm.session, lm.spec);
    for (const p of problems) console.error(`${lm.spec.name}: ${p}`);
    let ok = problems.length === 0;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${lm.spec.name}: ONNX inputs and outputs match config.json`);
    if (!existsSync(join(dir, 'reference.json'))) return ok;
    for (const r of await checkReference(lm, await loadReference(dir))) {
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
