import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import type { ModelSpec } from './model-config';
import { parseSafeTensors, type SafeTensor } from './safetensors';

/** The low-rank update of one weight of the base: W x + scaling · B (A x). */
export interface LoraLayer {
  /** `<layer>.<module>`, e.g. `3.attn.c_attn`. */
  readonly target: string;
  readonly layer: number;
  /** The module's name in the base, e.g. `attn.c_attn`, `self_attn.q_proj`. */
  readonly module: string;
  /** [r, in], row-major. */
  readonly a: Float32Array;
  /** [out, r], row-major. */
  readonly b: Float32Array;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** A PEFT LoRA adapter, checked against the base it applies to. */
export interface LoraAdapter {
  /** Directory name: how clients address it. */
  readonly name: string;
  readonly dir: string;
  /** The base model's name (`base_model_name_or_path`'s last part). */
  readonly base: string;
  readonly rank: number;
  /** lora_alpha / r (or / √r with `use_rslora`). */
  readonly scaling: number;
  /** Module names as adapter_config.json lists them, e.g. `c_attn`. */
  readonly targetModules: readonly string[];
  readonly layers: readonly LoraLayer[];
}

/** Why an adapter was refused; `field` names the file or key at fault. */
export class AdapterError extends Error {
  constructor(
    readonly adapter: string,
    readonly field: string,
    readonly detail: string,
  ) {
    super(`adapter ${adapter}: ${field}: ${detail}`);
    this.name = 'AdapterError';
  }
}

/** A LoRA-able module of an architecture: its path in a block and its (in, out) widths. */
interface ModuleShape {
  readonly path: string;
  readonly shape: (s: ModelSpec) => readonly [number, number];
}

const GPT2: Record<string, ModuleShape[]> = {
  c_attn: [{ path: 'attn.c_attn', shape: (s) => [s.hiddenSize, 3 * s.hiddenSize] }],
  c_proj: [
    { path: 'attn.c_proj', shape: (s) => [s.hiddenSize, s.hiddenSize] },
    { path: 'mlp.c_proj', shape: (s) => [s.intermediateSize, s.hiddenSize] },
  ],
  c_fc: [{ path: 'mlp.c_fc', shape: (s) => [s.hiddenSize, s.intermediateSize] }],
};

const LLAMA: Record<string, ModuleShape[]> = {
  q_proj: [{ path: 'self_attn.q_proj', shape: (s) => [s.hiddenSize, s.numHeads * s.headDim] }],
  k_proj: [{ path: 'self_attn.k_proj', shape: (s) => [s.hiddenSize, s.numKvHeads * s.headDim] }],
  v_proj: [{ path: 'self_attn.v_proj', shape: (s) => [s.hiddenSize, s.numKvHeads * s.headDim] }],
  o_proj: [{ path: 'self_attn.o_proj', shape: (s) => [s.numHeads * s.headDim, s.hiddenSize] }],
  gate_proj: [{ path: 'mlp.gate_proj', shape: (s) => [s.hiddenSize, s.intermediateSize] }],
  up_proj: [{ path: 'mlp.up_proj', shape: (s) => [s.hiddenSize, s.intermediateSize] }],
  down_proj: [{ path: 'mlp.down_proj', shape: (s) => [s.intermediateSize, s.hiddenSize] }],
};

/** Where each architecture keeps its blocks in PEFT's key names, and what can be adapted. */
const ARCHITECTURES: Record<string, { readonly blocks: string; readonly modules: Record<string, ModuleShape[]> }> = {
  gpt2: { blocks: 'base_model.model.transformer.h', modules: GPT2 },
  llama: { blocks: 'base_model.model.model.layers', modules: LLAMA },
};

/** One LoRA-able linear of a base, as a LoRA export's inputs name it (`lora_A.<name>`, `lora_B.<name>`). */
export interface LoraModule {
  /** PEFT's key without `base_model.model.` and `.lora_A.weight`, e.g. `transformer.h.3.attn.c_attn`. */
  readonly name: string;
  /** `<layer>.<module>`, as `LoraLayer.target`. */
  readonly target: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** Every LoRA-able linear of `base`, block by block, in the architecture's module order. */
export function loraModules(base: ModelSpec): LoraModule[] {
  const arch = ARCHITECTURES[base.modelType];
  if (!arch) return [];
  const paths = [...new Map(Object.values(arch.modules).flatMap((ms) => ms.map((m) => [m.path, m] as const))).values()];
  const out: LoraModule[] = [];
  for (let layer = 0; layer < base.numLayers; layer++) {
    for (const m of paths) {
      const [inFeatures, outFeatures] = m.shape(base);
      out.push({ name: `${arch.blocks.replace(/^base_model\.model\./, '')}.${layer}.${m.path}`, target: `${layer}.${m.path}`, inFeatures, outFeatures });
    }
  }
  return out;
}

type Json = Record<string, unknown>;

/** adapter_config.json's fields, validated. */
function readConfig(name: string, cfg: Json, base: ModelSpec, maxRank: number) {
  const field = (f: string) => `adapter_config.json: ${f}`;
  if (cfg['peft_type'] !== 'LORA') throw new AdapterError(name, field('peft_type'), `must be "LORA", got ${JSON.stringify(cfg['peft_type'])}`);
  const rank = cfg['r'];
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1)
    throw new AdapterError(name, field('r'), `must be a positive integer, got ${JSON.stringify(rank)}`);
  if (rank > maxRank) throw new AdapterError(name, field('r'), `rank ${rank} is over this worker's maximum of ${maxRank}`);
  const alpha = cfg['lora_alpha'] ?? rank;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new AdapterError(name, field('lora_alpha'), `must be a number, got ${JSON.stringify(alpha)}`);
  const baseRef = cfg['base_model_name_or_path'];
  if (typeof baseRef !== 'string' || basename(baseRef.replace(/\/+$/, '')) !== base.name) {
    throw new AdapterError(name, field('base_model_name_or_path'), `is for ${JSON.stringify(baseRef)}, not the base ${base.name}`);
  }
  const arch = ARCHITECTURES[base.modelType];
  if (!arch)
    throw new AdapterError(name, 'base', `LoRA is not supported for model_type ${base.modelType} (supported: ${Object.keys(ARCHITECTURES).join(', ')})`);
  const raw = cfg['target_modules'];
  const targets = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string')) {
    throw new AdapterError(name, field('target_modules'), `must be a non-empty list of module names, got ${JSON.stringify(raw)}`);
  }
  for (const t of targets as string[]) {
    if (!arch.modules[t])
      throw new AdapterError(name, field('target_modules'), `unknown module ${t} for ${base.modelType} (known: ${Object.keys(arch.modules).join(', ')})`);
  }
  if (cfg['bias'] !== undefined && cfg['bias'] !== 'none')
    throw new AdapterError(name, field('bias'), `only "none" is supported, got ${JSON.stringify(cfg['bias'])}`);
  const scaling = cfg['use_rslora'] === true ? alpha / Math.sqrt(rank) : alpha / rank;
  return { rank, scaling, baseRef, arch, targets: targets as string[] };
}

function tensor(name: string, tensors: ReadonlyMap<string, SafeTensor>, key: string, shape: readonly [number, number]): Float32Array {
  const t = tensors.get(key);
  if (!t) throw new AdapterError(name, 'adapter_model.safetensors', `${key} is missing`);
  if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
    throw new AdapterError(name, 'adapter_model.safetensors', `${key} has shape [${t.shape.join(', ')}], the base needs [${shape.join(', ')}]`);
  }
  return t.data;
}

/**
 * Parses a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) as a whole, and
 * checks it against `base`: the base it names, its architecture, target modules the architecture
 * has, a rank within `maxRank`, and for every block and target an A of [r, in] and a B of
 * [out, r] with the base's widths; a tensor for a layer or module the config does not list is
 * refused too (an adapter for another base). Nothing is half-loaded: any problem throws.
 * @throws AdapterError naming the adapter, the file or key, and the problem
 */
export function parseLoraAdapter(name: string, dir: string, config: Json, weights: Uint8Array, base: ModelSpec, maxRank = 64): LoraAdapter {
  const { rank, scaling, baseRef, arch, targets } = readConfig(name, config, base, maxRank);
  let parsed;
  try {
    parsed = parseSafeTensors(weights, 'adapter_model.safetensors');
  } catch (err) {
    throw new AdapterError(name, 'adapter_model.safetensors', (err as Error).message.replace(/^adapter_model\.safetensors: /, ''));
  }
  const layers: LoraLayer[] = [];
  const used = new Set<string>();
  for (let layer = 0; layer < base.numLayers; layer++) {
    for (const t of targets) {
      for (const m of arch.modules[t]!) {
        const [inFeatures, outFeatures] = m.shape(base);
        const prefix = `${arch.blocks}.${layer}.${m.path}`;
        const a = tensor(name, parsed.tensors, `${prefix}.lora_A.weight`, [rank, inFeatures]);
        const b = tensor(name, parsed.tensors, `${prefix}.lora_B.weight`, [outFeatures, rank]);
        used.add(`${prefix}.lora_A.weight`).add(`${prefix}.lora_B.weight`);
        layers.push({ target: `${layer}.${m.path}`, layer, module: m.path, a, b, inFeatures, outFeatures });
      }
    }
  }
  const extra = [...parsed.tensors.keys()].filter((k) => !used.has(k));
  if (extra.length > 0) {
    throw new AdapterError(name, 'adapter_model.safetensors', `${extra.length} tensors the config and the base do not account for, e.g. ${extra[0]}`);
  }
  return { name, dir: resolve(dir), base: basename(baseRef.replace(/\/+$/, '')), rank, scaling, targetModules: targets, layers };
}

/** One file of the adapter in `dir`. @throws AdapterError naming it when missing or unreadable */
async function readAdapterFile(name: string, dir: string, file: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AdapterError(name, file, code === 'ENOENT' ? `not found in ${resolve(dir)}` : `cannot be read (${(err as Error).message})`);
  }
}

/** The adapter in `dir`'s name (its directory's) and its adapter_config.json, unchecked. @throws AdapterError */
export async function readAdapterConfig(dir: string): Promise<{ name: string; config: Json; base: string }> {
  const name = basename(resolve(dir));
  const text = await readAdapterFile(name, dir, 'adapter_config.json');
  let config: unknown;
  try {
    config = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new AdapterError(name, 'adapter_config.json', `invalid JSON (${(err as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new AdapterError(name, 'adapter_config.json', 'not a JSON object');
  const ref = (config as Json)['base_model_name_or_path'];
  return { name, config: config as Json, base: typeof ref === 'string' ? basename(ref.replace(/\/+$/, '')) : '' };
}

/** Reads and checks the adapter in `dir` (its name: the directory's). @throws AdapterError */
export async function loadLoraAdapter(dir: string, base: ModelSpec, maxRank = 64): Promise<LoraAdapter> {
  // allSettled, not all: a directory missing both files names the config first, whichever read fails first.
  const [configRead, weightsRead] = await Promise.allSettled([
    readAdapterConfig(dir),
    readAdapterFile(basename(resolve(dir)), dir, 'adapter_model.safetensors'),
  ]);
  if (configRead.status === 'rejected') throw configRead.reason;
  if (weightsRead.status === 'rejected') throw weightsRead.reason;
  const { name, config } = configRead.value;
  const weights = weightsRead.value;
  return parseLoraAdapter(name, dir, config, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), base, maxRank);
}
