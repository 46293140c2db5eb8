import { join } from 'node:path';

import { InferenceSession, Tensor } from 'onnxruntime-node';

import { int64Tensor } from './batch-inputs';
import { loadModelConfig, type ModelSpec } from './model-config';
import { pastNames, presentNames } from './onnx-io';

/** Past (input) or present (output) key/value tensors, by ONNX name. */
export type KvTensors = Record<string, Tensor>;

/** Logits of one forward pass, [batch, sequence, vocab] row-major, and the new KV cache. */
export interface ForwardResult {
  readonly logits: Float32Array;
  readonly batch: number;
  readonly sequence: number;
  /** present.* renamed to the past_key_values.* names, ready to feed back. */
  readonly past: KvTensors;
}

/**
 * One ONNX decoder-only model: a session plus its config. `forward` calls onnxruntime's blocking
 * `run()` on the calling thread, so servers must use it from worker threads only.
 */
export class CausalLm {
  private constructor(
    readonly spec: ModelSpec,
    readonly session: InferenceSession,
  ) {}

  /** Loads `<dir>/config.json` and `<dir>/onnx/<file>` (model.onnx). One intra-op thread unless told. */
  static async load(dir: string, options: InferenceSession.SessionOptions = {}, file = 'model.onnx'): Promise<CausalLm> {
    const spec = await loadModelConfig(dir);
    const session = await InferenceSession.create(join(spec.dir, 'onnx', file), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      ...options,
    });
    return new CausalLm(spec, session);
  }

  /** Zero-length past for the first step of `batch` sequences. */
  emptyPast(batch: number): KvTensors {
    const past: KvTensors = {};
    for (const name of pastNames(this.spec)) {
      past[name] = new Tensor('float32', new Float32Array(0), [batch, this.spec.numKvHeads, 0, this.spec.headDim]);
    }
    return past;
  }

  /** Runs new tokens `ids` after `past` (mask covers past + new; positions cover new only). */
  async forward(
    ids: readonly (readonly number[])[],
    mask: readonly (readonly number[])[],
    positions: readonly (readonly number[])[],
    past: KvTensors = this.emptyPast(ids.length),
    feeds: Record<string, Tensor> = {},
  ): Promise<ForwardResult> {
    return this.forwardTensors(int64Tensor(ids), int64Tensor(mask), int64Tensor(positions), past, feeds);
  }

  /**
   * `forward` with the int64 inputs already built ([batch, new], [batch, past + new], [batch, new]);
   * `feeds` are a graph's further inputs (a LoRA export's adapter_index and stacked weights).
   */
  async forwardTensors(
    ids: Tensor,
    mask: Tensor,
    positions: Tensor,
    past: KvTensors = this.emptyPast(ids.dims[0]!),
    feeds: Record<string, Tensor> = {},
  ): Promise<ForwardResult> {
    const out = await this.session.run({ input_ids: ids, attention_mask: mask, position_ids: positions, ...past, ...feeds });
    const next: KvTensors = {};
    const pastKeys = pastNames(this.spec);
    presentNames(this.spec).forEach((name, i) => (next[pastKeys[i]!] = out[name]!));
    const logits = out['logits']!;
    return { logits: logits.data as Float32Array, batch: logits.dims[0]!, sequence: logits.dims[1]!, past: next };
  }

  /** Logits of the last position of row `row`. */
  lastLogits(result: ForwardResult, row: number): Float32Array {
    const v = this.spec.vocabSize;
    const start = (row * result.sequence + result.sequence - 1) * v;
    return result.logits.subarray(start, start + v);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
