import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { AdapterError, loadLoraAdapter, loadModelConfig, type ModelSpec, type SafeTensor, writeSafeTensors } from '../src';

const MODELS = resolve(__dirname, '../../../models');
const R = 4;

const filled = (shape: [number, number], seed: number): SafeTensor => ({
  shape,
  data: Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => ((i * 7 + seed) % 13) / 100),
});

/** PEFT's tensors for GPT-2 c_attn on every block of `base`. */
function gpt2Attn(base: ModelSpec, rank = R): Record<string, SafeTensor> {
  const out: Record<string, SafeTensor> = {};
  for (let l = 0; l < base.numLayers; l++) {
    out[`base_model.model.transformer.h.${l}.attn.c_attn.lora_A.weight`] = filled([rank, base.hiddenSize], l);
    out[`base_model.model.transformer.h.${l}.attn.c_attn.lora_B.weight`] = filled([3 * base.hiddenSize, rank], l + 1);
  }
  return out;
}

const peft = (extra: Record<string, unknown> = {}) => ({
  peft_type: 'LORA',
  task_type: 'CAUSAL_LM',
  r: R,
  lora_alpha: 16,
  target_modules: ['c_attn'],
  base_model_name_or_path: 'tinygpt',
  fan_in_fan_out: true,
  bias: 'none',
  ...extra,
});

describe('PEFT LoRA adapters', () => {
  let dir: string;
  let tinygpt: ModelSpec;
  let tinyllama: ModelSpec;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lora-'));
    [tinygpt, tinyllama] = await Promise.all([loadModelConfig(join(MODELS, 'tinygpt')), loadModelConfig(join(MODELS, 'tinyllama'))]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function adapter(name: string, config: object | string | undefined, tensors: Record<string, SafeTensor> | Uint8Array | undefined): Promise<string> {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    if (config !== undefined) writeFileSync(join(d, 'adapter_config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    if (tensors !== undefined) writeFileSync(join(d, 'adapter_model.safetensors'), tensors instanceof Uint8Array ? tensors : writeSafeTensors(tensors));
    return d;
  }

  it('loads a GPT-2 c_attn adapter: every block, A [r, in] and B [out, r], scaling alpha / r', async () => {
    const a = await loadLoraAdapter(await adapter('tinygpt-chat', peft(), gpt2Attn(tinygpt)), tinygpt);
    expect(a).toMatchObject({ name: 'tinygpt-chat', base: 'tinygpt', rank: R, scaling: 4, targetModules: ['c_attn'] });
    expect(a.layers.map((l) => [l.target, l.inFeatures, l.outFeatures])).toEqual(
      Array.from({ length: tinygpt.numLayers }, (_, l) => [`${l}.attn.c_attn`, tinygpt.hiddenSize, 3 * tinygpt.hiddenSize]),
    );
    expect(a.layers[1]!.a[0]).toBeCloseTo(0.01, 6);
  });

  it.each(['tinygpt-chat', 'tinygpt-jargon'])('the committed adapter %s (trained by npm run model:build -- lora) loads against tinygpt', async (name) => {
    const a = await loadLoraAdapter(join(MODELS, name), tinygpt);
    expect(a).toMatchObject({ name, base: 'tinygpt' });
    expect(a.layers.length).toBeGreaterThanOrEqual(tinygpt.numLayers);
    // Trained, not initialised: PEFT starts B at zero.
    expect(a.layers.every((l) => l.b.some((v) => v !== 0))).toBe(true);
  });

  it('loads a Llama adapter with grouped-query k/v widths and rsLoRA scaling', async () => {
    const tensors: Record<string, SafeTensor> = {};
    for (let l = 0; l < tinyllama.numLayers; l++) {
      const p = `base_model.model.model.layers.${l}.self_attn`;
      tensors[`${p}.q_proj.lora_A.weight`] = filled([R, tinyllama.hiddenSize], l);
      tensors[`${p}.q_proj.lora_B.weight`] = filled([tinyllama.numHeads * tinyllama.headDim, R], l);
      tensors[`${p}.v_proj.lora_A.weight`] = filled([R, tinyllama.hiddenSize], l);
      tensors[`${p}.v_proj.lora_B.weight`] = filled([tinyllama.numKvHeads * tinyllama.headDim, R], l);
    }
    const d = await adapter(
      'tinyllama-lora',
      peft({ target_modules: ['q_proj', 'v_proj'], base_model_name_or_path: 'models/tinyllama/', use_rslora: true }),
      tensors,
    );
    const a = await loadLoraAdapter(d, tinyllama);
    expect(a.scaling).toBeCloseTo(16 / 2, 6);
    expect(a.layers).toHaveLength(2 * tinyllama.numLayers);
    expect(a.layers.find((l) => l.module === 'self_attn.v_proj')!.outFeatures).toBe(tinyllama.numKvHeads * tinyllama.headDim);
  });

  it.each([
    ['a missing directory', () => join(dir, 'nowhere'), /adapter nowhere: adapter_config.json: not found in/],
    [
      'another base',
      async () => adapter('other-base', peft({ base_model_name_or_path: 'gpt2-medium' }), gpt2Attn(tinygpt)),
      /base_model_name_or_path: is for "gpt2-medium", not the base tinygpt/,
    ],
    ['a rank over the maximum', async () => adapter('big-rank', peft({ r: 128 }), gpt2Attn(tinygpt, 128)), /r: rank 128 is over this worker's maximum of 64/],
    [
      'an unknown target module',
      async () => adapter('bad-module', peft({ target_modules: ['q_proj'] }), gpt2Attn(tinygpt)),
      /target_modules: unknown module q_proj for gpt2 \(known: c_attn, c_proj, c_fc\)/,
    ],
    [
      'a truncated safetensors file',
      async () => adapter('truncated', peft(), writeSafeTensors(gpt2Attn(tinygpt)).slice(0, -100)),
      /adapter_model.safetensors: truncated/,
    ],
    [
      'weights of another width',
      async () => {
        const t = gpt2Attn(tinygpt);
        t['base_model.model.transformer.h.2.attn.c_attn.lora_B.weight'] = filled([3 * 128, R], 0);
        return adapter('wrong-width', peft(), t);
      },
      /h\.2\.attn\.c_attn\.lora_B\.weight has shape \[384, 4\], the base needs \[480, 4\]/,
    ],
    [
      'a block missing',
      async () => {
        const t = gpt2Attn(tinygpt);
        delete t['base_model.model.transformer.h.3.attn.c_attn.lora_A.weight'];
        return adapter('missing-block', peft(), t);
      },
      /h\.3\.attn\.c_attn\.lora_A\.weight is missing/,
    ],
    [
      'tensors for more blocks than the base has',
      async () => {
        const t = gpt2Attn(tinygpt);
        t['base_model.model.transformer.h.9.attn.c_attn.lora_A.weight'] = filled([R, tinygpt.hiddenSize], 0);
        return adapter('extra-block', peft(), t);
      },
      /1 tensors the config and the base do not account for, e.g. base_model.model.transformer.h.9/,
    ],
    ['a config that is not JSON', async () => adapter('bad-json', '{"peft_type":', gpt2Attn(tinygpt)), /adapter_config.json: invalid JSON/],
    ['another PEFT method', async () => adapter('ia3', peft({ peft_type: 'IA3' }), gpt2Attn(tinygpt)), /peft_type: must be "LORA", got "IA3"/],
  ])('refuses %s with an error naming the problem', async (_, make, message) => {
    const d = await make();
    await expect(loadLoraAdapter(d, tinygpt)).rejects.toThrow(AdapterError);
    await expect(loadLoraAdapter(d, tinygpt)).rejects.toThrow(message);
  });
});
