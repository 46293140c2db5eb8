/**
 * bench:lora section 3: what a decode step of the LoRA export costs by the number of slots it is
 * given (the worker gives a pass only the slots its rows use), against the plain decode step:
 * batch 32, a cache of 96 columns, random rank-8 weights on every block's linears, rows spread over
 * the slots. The three sessions run in turn step by step, so the machine's noise falls on all alike.
 */
import { join } from 'node:path';

import { DECODE_ONNX_FILE, loadModelConfig, LORA_DECODE_ONNX_FILE, loraModules, pastNames } from '@tokenmesh/model';
import { InferenceSession, Tensor } from 'onnxruntime-node';

import { quantile, round } from './stats';

const BATCH = 32;
const COLUMNS = 96;
const RANK = 8;
const STEPS = 400;

export interface SlotStep {
  readonly slots: number;
  readonly plainMs: number;
  readonly loraMs: number;
  /** Plain step time / LoRA step time: the LoRA pass's speed as a share of the base's. */
  readonly speed: number;
}

const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => (Math.random() - 0.5) * scale);

export async function loraSlotSteps(dir: string, slotCounts: readonly number[]): Promise<SlotStep[]> {
  const spec = await loadModelConfig(dir);
  const options: InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const plain = await InferenceSession.create(join(dir, 'onnx', DECODE_ONNX_FILE), options);
  const lora = await InferenceSession.create(join(dir, 'onnx', LORA_DECODE_ONNX_FILE), options);
  try {
    const base: Record<string, Tensor> = {
      input_ids: new Tensor(
        'int64',
        BigInt64Array.from({ length: BATCH }, (_, r) => BigInt(40 + r)),
        [BATCH, 1],
      ),
      position_ids: new Tensor(
        'int64',
        BigInt64Array.from({ length: BATCH }, () => BigInt(COLUMNS - 8)),
        [BATCH, 1],
      ),
    };
    for (const name of pastNames(spec)) {
      base[name] = new Tensor('float32', random(BATCH * spec.numKvHeads * COLUMNS * spec.headDim, 0.2), [BATCH, spec.numKvHeads, COLUMNS, spec.headDim]);
    }
    const out: SlotStep[] = [];
    for (const slots of slotCounts) {
      const feeds: Record<string, Tensor> = {
        ...base,
        adapter_index: new Tensor(
          'int64',
          BigInt64Array.from({ length: BATCH }, (_, r) => BigInt(r % slots)),
          [BATCH],
        ),
      };
      for (const m of loraModules(spec)) {
        feeds[`lora_A.${m.name}`] = new Tensor('float32', random(slots * RANK * m.inFeatures, 0.02), [slots, RANK, m.inFeatures]);
        feeds[`lora_B.${m.name}`] = new Tensor('float32', random(slots * RANK * m.outFeatures, 0.02), [slots, RANK, m.outFeatures]);
      }
      const plainFeeds = Object.fromEntries(plain.inputNames.map((n) => [n, feeds[n]!]));
      for (let i = 0; i < 20; i++) {
        await plain.run(plainFeeds);
        await lora.run(feeds);
      }
      const times = { plain: [] as number[], lora: [] as number[] };
      for (let i = 0; i < STEPS; i++) {
        let t = performance.now();
        await plain.run(plainFeeds);
        times.plain.push(performance.now() - t);
        t = performance.now();
        await lora.run(feeds);
        times.lora.push(performance.now() - t);
      }
      const plainMs = quantile(times.plain, 0.5);
      const loraMs = quantile(times.lora, 0.5);
      out.push({ slots, plainMs: round(plainMs, 3), loraMs: round(loraMs, 3), speed: round(plainMs / loraMs, 2) });
      console.log(`decode step, ${slots} slots: plain ${round(plainMs, 3)} ms, LoRA ${round(loraMs, 3)} ms`);
    }
    return out;
  } finally {
    await plain.release();
    await lora.release();
  }
}
