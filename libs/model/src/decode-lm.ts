import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { InferenceSession, type Tensor } from 'onnxruntime-node';

import type { KvTensors } from './causal-lm';
import { loadModelConfig, type ModelSpec } from './model-config';
import { pastNames } from './onnx-io';

/** The decode-step export (scripts/model/decode_export.py) beside model.onnx, and its LoRA twin. */
export const DECODE_ONNX_FILE = 'model_decode.onnx';
export const LORA_DECODE_ONNX_FILE = 'model_lora_decode.onnx';

/** `new_key_values.{i}.key/.value` output names, in the same order as {@link pastNames}. */
export function newKvNames(spec: Pick<ModelSpec, 'numLayers'>): string[] {
  return pastNames(spec).map((n) => n.replace('past_key_values.', 'new_key_values.'));
}

/** Whether `<dir>/onnx/<file>` exists. */
export function hasExport(dir: string, file: string): boolean {
  return existsSync(join(dir, 'onnx', file));
}

/** One decode step: logits [rows, 1, vocab] and each row's new keys and values [rows, heads, 1, dim]. */
export interface DecodeResult {
  readonly logits: Float32Array;
  /** By past_key_values.* name. */
  readonly newKv: KvTensors;
}

/**
 * A decode-step session: one new token per row over a KV buffer the caller owns
 * ([rows, heads, capacity, dim], each row's positions from column 0), read in place, never copied.
 * `positions` [rows, 1] is both the new token's position and the row's cached positions; the
 * caller writes the returned keys and values at that column. Blocking `run()`: worker threads only.
 */
export class DecodeLm {
  private readonly past: string[];
  private readonly fresh: string[];

  private constructor(
    readonly spec: ModelSpec,
    readonly session: InferenceSession,
  ) {
    this.past = pastNames(spec);
    this.fresh = newKvNames(spec);
  }

  static async load(dir: string, options: InferenceSession.SessionOptions = {}, file = DECODE_ONNX_FILE): Promise<DecodeLm> {
    const spec = await loadModelConfig(dir);
    const session = await InferenceSession.create(join(spec.dir, 'onnx', file), { intraOpNumThreads: 1, interOpNumThreads: 1, ...options });
    const missing = [
      ...['input_ids', 'position_ids', ...pastNames(spec)].filter((n) => !session.inputNames.includes(n)).map((n) => `input ${n}`),
      ...newKvNames(spec)
        .filter((n) => !session.outputNames.includes(n))
        .map((n) => `output ${n}`),
    ];
    if (missing.length > 0) {
      await session.release();
      throw new Error(`${join(spec.dir, 'onnx', file)} is not a decode-step export: no ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}`);
    }
    return new DecodeLm(spec, session);
  }

  async step(ids: Tensor, positions: Tensor, past: KvTensors, feeds: Record<string, Tensor> = {}): Promise<DecodeResult> {
    const out = await this.session.run({ input_ids: ids, position_ids: positions, ...past, ...feeds });
    const newKv: KvTensors = {};
    this.fresh.forEach((name, i) => (newKv[this.past[i]!] = out[name]!));
    return { logits: out['logits']!.data as Float32Array, newKv };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
