import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { agreement, heldOutLoss, heldOutRows, referenceGreedy } from '../../../scripts/bench/int8-eval';
import { CausalLm, DecodeLm, greedy, greedyDecode, loadReference, promptRows } from '../src';
import { modelDir } from './committed-models';

const FP32 = modelDir('tinygpt');
const INT8 = modelDir('tinygpt-int8');
const onnxFiles = (dir: string) => readdirSync(join(dir, 'onnx')).filter((f) => f.endsWith('.onnx'));

describe('tinygpt-int8: the committed int8 variant of tinygpt (scripts/model/quantize.py)', () => {
  it('has every onnx file of tinygpt, each at most 35% of its fp32 size', () => {
    expect(onnxFiles(INT8).sort()).toEqual(onnxFiles(FP32).sort());
    for (const f of onnxFiles(FP32)) {
      const ratio = statSync(join(INT8, 'onnx', f)).size / statSync(join(FP32, 'onnx', f)).size;
      expect([f, ratio <= 0.35]).toEqual([f, true]);
    }
  });

  it('loses at most 3% of held-out loss against fp32 (mean token cross-entropy over the committed held-out sample)', async () => {
    const rows = heldOutRows();
    const loss: Record<string, number> = {};
    for (const [name, dir] of [
      ['fp32', FP32],
      ['int8', INT8],
    ] as const) {
      const lm = await CausalLm.load(dir);
      try {
        loss[name] = await heldOutLoss(lm, rows);
      } finally {
        await lm.release();
      }
    }
    const change = loss['int8']! / loss['fp32']! - 1;
    console.log(
      `held-out loss over ${rows.length} windows: fp32 ${loss['fp32']!.toFixed(4)}, int8 ${loss['int8']!.toFixed(4)} nats/byte (${(change * 100).toFixed(2)}%)`,
    );
    expect(Number.isFinite(loss['int8'])).toBe(true);
    expect(change).toBeLessThanOrEqual(0.03);
  });

  it('decodes the same tokens through its decode-step export as through its Optimum export (the engine’s two paths)', async () => {
    const plain = await CausalLm.load(INT8);
    const decoder = await DecodeLm.load(INT8);
    try {
      const ref = await loadReference(INT8);
      for (const c of ref.cases) {
        const prompts = promptRows(c);
        const viaDecode = await greedyDecode(plain, decoder, prompts, ref.new_tokens);
        const viaOptimum = await greedy(plain, prompts, ref.new_tokens);
        expect(viaDecode.tokens).toEqual(viaOptimum.tokens);
      }
      // Quantized, not broken: most greedy tokens are still the fp32 model's.
      const fp32 = await CausalLm.load(FP32);
      try {
        const share = agreement(await referenceGreedy(fp32, FP32), await referenceGreedy(plain, INT8));
        console.log(`greedy agreement with fp32 over the reference prompts: ${(share * 100).toFixed(1)}%`);
        expect(share).toBeGreaterThanOrEqual(0.5);
      } finally {
        await fp32.release();
      }
    } finally {
      await plain.release();
      await decoder.release();
    }
  });

  it('model-meta.json of both versions lists every onnx file with its exact sha256 and size', () => {
    for (const [dir, version] of [
      [FP32, '1'],
      [INT8, 'int8'],
    ] as const) {
      const meta = JSON.parse(readFileSync(join(dir, 'model-meta.json'), 'utf8')) as {
        version: string;
        quantization: unknown;
        files: Record<string, { sha256: string; bytes: number }>;
      };
      expect(meta.version).toBe(version);
      expect(meta.quantization === null).toBe(version === '1');
      expect(Object.keys(meta.files).sort()).toEqual(onnxFiles(dir).map((f) => `onnx/${f}`));
      for (const [f, { sha256, bytes }] of Object.entries(meta.files)) {
        const data = readFileSync(join(dir, f));
        expect([f, createHash('sha256').update(data).digest('hex'), data.length]).toEqual([f, sha256, bytes]);
      }
    }
  });
});
