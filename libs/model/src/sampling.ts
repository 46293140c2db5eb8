/**
 * Sampling parameters as clients send them (every field optional) and as the engine uses them
 * (validated, defaults applied). Gateway (HTTP 400) and workers (INVALID_ARGUMENT) share this so
 * both reject the same values with the same message naming the field and the limit.
 */
export interface SamplingInput {
  maxTokens?: number | undefined;
  temperature?: number | undefined;
  topK?: number | undefined;
  topP?: number | undefined;
  minP?: number | undefined;
  repetitionPenalty?: number | undefined;
  seed?: bigint | number | undefined;
  stopTokenIds?: readonly number[] | undefined;
  logprobs?: boolean | undefined;
}

/** Validated sampling settings: every field set. */
export interface Sampling {
  readonly maxTokens: number;
  /** 0 = greedy. */
  readonly temperature: number;
  /** 0 = off. */
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  /** 1 = off. */
  readonly repetitionPenalty: number;
  /** undefined = a fresh random seed per request. */
  readonly seed: bigint | undefined;
  readonly stopTokenIds: readonly number[];
  readonly logprobs: boolean;
}

export const DEFAULT_MAX_TOKENS = 16;

/** A rejected field: `field` is the request's field name, `message` says the limit. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'FieldError';
  }
}

export interface SamplingLimits {
  /** Tokens the prompt already uses. */
  promptTokens: number;
  /** The model's context length. */
  contextLength: number;
  vocabSize: number;
}

function finite(field: string, v: number, lo: number, hi: number, loOpen = false): number {
  if (!Number.isFinite(v)) throw new FieldError(field, `must be a finite number, got ${v}`);
  if ((loOpen ? v <= lo : v < lo) || v > hi) {
    throw new FieldError(field, `must be in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${v}`);
  }
  return v;
}

/**
 * Applies defaults and checks ranges; max_tokens must fit in the context after the prompt.
 * @throws FieldError naming the first bad field.
 */
export function validateSampling(input: SamplingInput, limits: SamplingLimits): Sampling {
  const room = limits.contextLength - limits.promptTokens;
  if (limits.promptTokens === 0) throw new FieldError('prompt', 'must not be empty');
  if (room <= 0) {
    throw new FieldError('prompt', `is ${limits.promptTokens} tokens; the model's context is ${limits.contextLength} tokens`);
  }
  const maxTokens = input.maxTokens ?? Math.min(DEFAULT_MAX_TOKENS, room);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new FieldError('max_tokens', `must be an integer >= 1, got ${maxTokens}`);
  if (maxTokens > room) {
    throw new FieldError(
      'max_tokens',
      `must be at most ${room} (context ${limits.contextLength} - prompt ${limits.promptTokens} tokens), got ${maxTokens}`,
    );
  }
  const topK = input.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw new FieldError('top_k', `must be an integer >= 0, got ${topK}`);
  const seed = input.seed === undefined ? undefined : BigInt(input.seed);
  if (seed !== undefined && (seed < 0n || seed >= 2n ** 64n)) throw new FieldError('seed', `must be in [0, 2^64), got ${seed}`);
  const stopTokenIds = [...(input.stopTokenIds ?? [])];
  stopTokenIds.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= limits.vocabSize) {
      throw new FieldError(`stop_token_ids[${i}]`, `must be a token id in [0, ${limits.vocabSize}), got ${id}`);
    }
  });
  return {
    maxTokens,
    temperature: finite('temperature', input.temperature ?? 1, 0, 2),
    topK,
    topP: finite('top_p', input.topP ?? 1, 0, 1, true),
    minP: finite('min_p', input.minP ?? 0, 0, 1),
    repetitionPenalty: finite('repetition_penalty', input.repetitionPenalty ?? 1, 0, 10, true),
    seed,
    stopTokenIds,
    logprobs: input.logprobs ?? false,
  };
}
