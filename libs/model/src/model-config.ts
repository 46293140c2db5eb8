import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

/**
 * What the serving path needs to know about a decoder-only model, read from the Hugging Face
 * `config.json` (and `generation_config.json`) of an Optimum export. GPT-2 style names
 * (`n_layer`, `n_head`, …) and Llama style names (`num_hidden_layers`, `num_key_value_heads`, …)
 * are both understood, so GPT-2, Llama, Qwen2, Mistral and SmolLM exports load alike.
 */
export interface ModelSpec {
  /** Directory name: how clients address the model. */
  readonly name: string;
  readonly dir: string;
  /** `model_type` from config.json, e.g. `gpt2`, `llama`. */
  readonly modelType: string;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Heads in past/present tensors: `num_key_value_heads` (grouped-query attention) or numHeads. */
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Width of the residual stream (`hidden_size` / `n_embd`). */
  readonly hiddenSize: number;
  /** Width of the MLP's inner layer (`intermediate_size` / `n_inner`, GPT-2's default 4 × hidden). */
  readonly intermediateSize: number;
  readonly vocabSize: number;
  /** Longest prompt + generation the model accepts, in tokens. */
  readonly contextLength: number;
  /** Token ids that end a generation (generation_config.json wins over config.json). */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  /** Id used for left padding in batches; any id works because padded positions are masked. */
  readonly padTokenId: number;
}

type Json = Record<string, unknown>;

function pick(cfg: Json, keys: readonly string[]): unknown {
  for (const k of keys) if (cfg[k] !== undefined && cfg[k] !== null) return cfg[k];
  return undefined;
}

function positiveInt(cfg: Json, keys: readonly string[], source: string, fallback?: number): number {
  const v = pick(cfg, keys) ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${source}: "${keys.join('" or "')}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function tokenIds(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

/**
 * Validates a parsed config.json. `source` names the file in error messages.
 * @throws Error naming the field, the file and the value found.
 */
export function parseModelConfig(config: Json, generation: Json, dir: string, source = join(dir, 'config.json')): ModelSpec {
  const modelType = config['model_type'];
  if (typeof modelType !== 'string' || modelType === '') {
    throw new Error(`${source}: "model_type" must be a non-empty string, got ${JSON.stringify(modelType)}`);
  }
  const numLayers = positiveInt(config, ['num_hidden_layers', 'n_layer'], source);
  const numHeads = positiveInt(config, ['num_attention_heads', 'n_head'], source);
  const numKvHeads = positiveInt(config, ['num_key_value_heads'], source, numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new Error(`${source}: "num_attention_heads" (${numHeads}) must be a multiple of "num_key_value_heads" (${numKvHeads})`);
  }
  const hidden = positiveInt(config, ['hidden_size', 'n_embd'], source);
  const headDim = positiveInt(config, ['head_dim'], source, Math.floor(hidden / numHeads));
  const intermediateSize = positiveInt(config, ['intermediate_size', 'n_inner'], source, 4 * hidden);
  const vocabSize = positiveInt(config, ['vocab_size'], source);
  const contextLength = positiveInt(config, ['max_position_embeddings', 'n_positions', 'n_ctx'], source);
  const eos = tokenIds(generation['eos_token_id'] ?? config['eos_token_id']);
  if (eos.length === 0) throw new Error(`${source}: "eos_token_id" is missing (config.json or generation_config.json)`);
  for (const id of eos) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`${source}: "eos_token_id" ${id} is outside the vocabulary (0..${vocabSize - 1})`);
    }
  }
  const bos = tokenIds(generation['bos_token_id'] ?? config['bos_token_id'])[0];
  const pad = tokenIds(generation['pad_token_id'] ?? config['pad_token_id'])[0] ?? eos[0]!;
  return {
    name: basename(resolve(dir)),
    dir: resolve(dir),
    modelType,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    hiddenSize: hidden,
    intermediateSize,
    vocabSize,
    contextLength,
    eosTokenIds: eos,
    bosTokenId: bos,
    padTokenId: pad,
  };
}

async function readJson(path: string, required: boolean): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`${path}: cannot read model file (${(err as Error).message})`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (err) {
    throw new Error(`${path}: invalid JSON (${(err as Error).message})`);
  }
}

/** Reads and validates `config.json` and the optional `generation_config.json` of a model directory. */
export async function loadModelConfig(dir: string): Promise<ModelSpec> {
  const [config, generation] = await Promise.all([readJson(join(dir, 'config.json'), true), readJson(join(dir, 'generation_config.json'), false)]);
  return parseModelConfig(config, generation, dir);
}
