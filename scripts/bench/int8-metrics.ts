/**
 * The quantize phase's last step (scripts/model/build.sh runs it after scripts/model/quantize.py):
 * measures held-out loss and greedy agreement of each fp32 / int8 pair with onnxruntime-node and
 * writes them into both model-meta.json files.
 *   node --require tsx/cjs scripts/bench/int8-metrics.ts [MODELS_DIR]   (default: models)
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { pairQuality, writeMetrics } from './int8-eval';

export interface Int8Pair {
  readonly name: string;
  readonly fp32: string;
  readonly int8: string;
  /** Where the reference prompts come from: the model's own reference.json, else tinygpt's (same tokenizer). */
  readonly reference: string;
  readonly heldOut: string;
}

/** The pairs the quantize phase writes under `models`: tinygpt and, when built, bench-26m. */
export function int8Pairs(models = resolve(__dirname, '../../models')): Int8Pair[] {
  return ['tinygpt', 'bench-26m']
    .map((name) => ({ name, fp32: join(models, name), int8: join(models, `${name}-int8`) }))
    .filter((p) => existsSync(join(p.int8, 'onnx', 'model.onnx')))
    .map((p) => ({
      ...p,
      reference: existsSync(join(p.fp32, 'reference.json')) ? p.fp32 : join(models, 'tinygpt'),
      heldOut: join(models, 'tinygpt-int8', 'eval', 'heldout.json'),
    }));
}

async function main(): Promise<void> {
  const pairs = int8Pairs(process.argv[2] ? resolve(process.argv[2]) : undefined);
  if (pairs.length === 0) throw new Error('no int8 model directory: run `npm run model:build -- quantize` first');
  for (const p of pairs) {
    const q = await pairQuality(p.fp32, p.int8, p.reference, p.reference === p.fp32, p.heldOut);
    writeMetrics(p.fp32, p.int8, q);
    console.log(`${p.name}: ${JSON.stringify(q)}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
