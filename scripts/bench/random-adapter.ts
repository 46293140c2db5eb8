/**
 * A PEFT LoRA adapter with random weights for a GPT-2 base of ours (every block's linears), for
 * benchmarks: what an adapter costs does not depend on what it learnt.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { loraModules, type ModelSpec } from '@tokenmesh/model';

import { seeded } from './mesh-engine';

/** safetensors: a little-endian u64 header length, the JSON header, then the tensors' bytes. */
function safetensors(tensors: Record<string, { shape: number[]; data: Float32Array }>): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8, ' '));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([size, json, ...Object.values(tensors).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}

/** Writes adapter `name` (rank `r`, weights from `seed`) for `base` into `parent/name`; returns its directory. */
export function writeRandomAdapter(parent: string, name: string, base: ModelSpec, r: number, seed: number): string {
  const random = seeded(seed);
  const values = (n: number) => Float32Array.from({ length: n }, () => (random() - 0.5) * 0.02);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const m of loraModules(base)) {
    tensors[`base_model.model.${m.name}.lora_A.weight`] = { shape: [r, m.inFeatures], data: values(r * m.inFeatures) };
    tensors[`base_model.model.${m.name}.lora_B.weight`] = { shape: [m.outFeatures, r], data: values(m.outFeatures * r) };
  }
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: base.name,
    r,
    lora_alpha: 2 * r,
    target_modules: ['c_attn', 'c_fc', 'c_proj'],
    fan_in_fan_out: true,
  };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'adapter_model.safetensors'), safetensors(tensors));
  return dir;
}
