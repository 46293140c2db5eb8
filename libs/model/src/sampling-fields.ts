/**
 * The one table of sampling parameters. The proto message (tokenmesh.common.v1.SamplingParams)
 * is the source of the fields; this table says, per field, its name on the wire (the proto
 * field's name: REST bodies and error messages use it), what values it takes and its default.
 * Validation (validateSampling), the gateway's REST body reading and the worker's parameters
 * (Sampling) are all driven by it: a new parameter is a proto field, a row here and its use in
 * the inference worker's sampler.
 */

export const DEFAULT_MAX_TOKENS = 16;

/** What a field takes; each kind has one check (validateSampling) and one REST reader (gateway). */
export type SamplingKind =
  /** An integer >= 1 that fits in the context after the prompt; by default `default`, or what fits. */
  | { readonly type: 'max-tokens'; readonly default: number }
  /** An integer >= min (and <= max when given). */
  | { readonly type: 'count'; readonly min: number; readonly max?: number; readonly default: number }
  /** A finite number in [min, max], or (min, max] when minOpen. */
  | { readonly type: 'real'; readonly min: number; readonly max: number; readonly minOpen?: boolean; readonly default: number }
  /** In [0, 2^64); absent is a fresh random seed per request. */
  | { readonly type: 'seed' }
  /** Ids in the model's vocabulary; by default none. */
  | { readonly type: 'token-ids' }
  /** Token id → a bias in [-max, max], at most maxEntries ids of the vocabulary; by default none. */
  | { readonly type: 'token-bias'; readonly max: number; readonly maxEntries: number }
  | { readonly type: 'flag'; readonly default: boolean }
  /** JSON Schema text of at most maxBytes, in the subset guided decoding enforces; by default none (''). */
  | { readonly type: 'json-schema'; readonly maxBytes: number };

/** One row of {@link SAMPLING_FIELDS}. */
export type SamplingField = SamplingKind & {
  /** The proto field's name; REST bodies carry the field under it, errors name it. */
  readonly name: string;
  /** false: not read from REST bodies (gRPC and Connect callers only). Default true. */
  readonly rest?: boolean;
};

/**
 * Per SamplingParams field (keyed by its protobuf-es name) its name, kind, limits and default.
 * validateSampling checks the rows in this order and reports the first bad one; the REST reader
 * reads them in it too. The proto's `stop` strings have no row: the gateway applies them to text,
 * the workers never see them.
 */
export const SAMPLING_FIELDS = {
  maxTokens: { name: 'max_tokens', type: 'max-tokens', default: DEFAULT_MAX_TOKENS },
  /** 0 = off. */
  topK: { name: 'top_k', type: 'count', min: 0, default: 0 },
  /** undefined = a fresh random seed per request. */
  seed: { name: 'seed', type: 'seed' },
  stopTokenIds: { name: 'stop_token_ids', type: 'token-ids', rest: false },
  /** 0 = greedy. */
  temperature: { name: 'temperature', type: 'real', min: 0, max: 2, default: 1 },
  topP: { name: 'top_p', type: 'real', min: 0, max: 1, minOpen: true, default: 1 },
  minP: { name: 'min_p', type: 'real', min: 0, max: 1, default: 0 },
  /** 1 = off. */
  repetitionPenalty: { name: 'repetition_penalty', type: 'real', min: 0, max: 10, minOpen: true, default: 1 },
  /** OpenAI's, over the tokens generated so far (not the prompt), as vLLM applies them; 0 = off. */
  presencePenalty: { name: 'presence_penalty', type: 'real', min: -2, max: 2, default: 0 },
  frequencyPenalty: { name: 'frequency_penalty', type: 'real', min: -2, max: 2, default: 0 },
  /** OpenAI's; -100 and 100 ban and force a token in practice. */
  logitBias: { name: 'logit_bias', type: 'token-bias', max: 100, maxEntries: 1024 },
  // REST bodies' `logprobs` is OpenAI's (a count on completions, a flag with top_logprobs on chat), read by the OpenAI endpoints.
  logprobs: { name: 'logprobs', type: 'flag', default: false, rest: false },
  /** With logprobs, the alternatives per position (OpenAI's top_logprobs); REST reads OpenAI's fields into it. */
  topLogprobs: { name: 'top_logprobs', type: 'count', min: 0, max: 20, default: 0, rest: false },
  /** vLLM's name on REST; OpenAI's response_format is read into it. With it, max_tokens defaults to what fits. */
  guidedJson: { name: 'guided_json', type: 'json-schema', maxBytes: 64 * 1024 },
} as const satisfies Readonly<Record<string, SamplingField>>;

type Fields = typeof SAMPLING_FIELDS;

/** A validated value of each kind. */
interface Values {
  'max-tokens': number;
  count: number;
  real: number;
  seed: bigint | undefined;
  'token-ids': readonly number[];
  /** Token id (as an object key: structured-clone and JSON safe) → bias. */
  'token-bias': Readonly<Record<number, number>>;
  flag: boolean;
  'json-schema': string;
}

/** What a caller may give for each kind (a seed also as a number). */
interface Inputs extends Omit<Values, 'seed'> {
  seed: bigint | number;
}

/**
 * Sampling parameters as clients send them, every field optional: a SamplingParams message is
 * one. Gateway (HTTP 400) and workers (INVALID_ARGUMENT) validate them alike, so both reject the
 * same values with the same message naming the field and the limit.
 */
export type SamplingInput = { [K in keyof Fields]?: Inputs[Fields[K]['type']] | undefined };

/** Validated sampling settings as the engine uses them: every field set, defaults applied. */
export type Sampling = { readonly [K in keyof Fields]: Values[Fields[K]['type']] };
