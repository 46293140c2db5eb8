import { type Sampling, SAMPLING_FIELDS, type SamplingField, type SamplingInput } from './sampling-fields';

/**
 * A rejected field: `field` is the request's field name, `detail` says the limit; the message is
 * `<field>: <detail>`. Callers that name the field their own way (gRPC's `sampling.top_p`) use
 * the two parts.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
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

/** One field's value checked against its row, default applied. @throws FieldError */
function checked(row: SamplingField, input: unknown, limits: SamplingLimits): unknown {
  const { name } = row;
  switch (row.type) {
    case 'max-tokens': {
      const room = limits.contextLength - limits.promptTokens;
      const v = (input as number | undefined) ?? Math.min(row.default, room);
      if (!Number.isInteger(v) || v < 1) throw new FieldError(name, `must be an integer >= 1, got ${v}`);
      if (v > room) {
        throw new FieldError(name, `must be at most ${room} (context ${limits.contextLength} - prompt ${limits.promptTokens} tokens), got ${v}`);
      }
      return v;
    }
    case 'count': {
      const v = (input as number | undefined) ?? row.default;
      if (!Number.isInteger(v) || v < row.min) throw new FieldError(name, `must be an integer >= ${row.min}, got ${v}`);
      return v;
    }
    case 'real': {
      const v = (input as number | undefined) ?? row.default;
      if (!Number.isFinite(v)) throw new FieldError(name, `must be a finite number, got ${v}`);
      const { min, max, minOpen = false } = row;
      if ((minOpen ? v <= min : v < min) || v > max) throw new FieldError(name, `must be in ${minOpen ? '(' : '['}${min}, ${max}], got ${v}`);
      return v;
    }
    case 'seed': {
      if (input === undefined) return undefined;
      const v = BigInt(input as bigint | number);
      if (v < 0n || v >= 2n ** 64n) throw new FieldError(name, `must be in [0, 2^64), got ${v}`);
      return v;
    }
    case 'token-ids': {
      const ids = [...((input as readonly number[] | undefined) ?? [])];
      ids.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= limits.vocabSize) {
          throw new FieldError(`${name}[${i}]`, `must be a token id in [0, ${limits.vocabSize}), got ${id}`);
        }
      });
      return ids;
    }
    case 'token-bias': {
      const entries = Object.entries((input as Readonly<Record<string, number>> | undefined) ?? {});
      if (entries.length > row.maxEntries) throw new FieldError(name, `at most ${row.maxEntries} token ids, got ${entries.length}`);
      const out: Record<number, number> = {};
      for (const [key, bias] of entries) {
        const id = Number(key);
        if (!/^\d+$/.test(key) || id >= limits.vocabSize)
          throw new FieldError(name, `keys must be token ids in [0, ${limits.vocabSize}), got ${JSON.stringify(key)}`);
        if (typeof bias !== 'number' || !Number.isFinite(bias) || Math.abs(bias) > row.max) {
          throw new FieldError(`${name}.${key}`, `must be a number in [-${row.max}, ${row.max}], got ${JSON.stringify(bias)}`);
        }
        out[id] = bias;
      }
      return out;
    }
    case 'flag':
      return (input as boolean | undefined) ?? row.default;
    default:
      // A new kind needs its check here (and its reader in the gateway's sampling-body).
      return row satisfies never;
  }
}

/**
 * Applies defaults and checks ranges (SAMPLING_FIELDS); max_tokens must fit in the context after
 * the prompt.
 * @throws FieldError naming the first bad field.
 */
export function validateSampling(input: SamplingInput, limits: SamplingLimits): Sampling {
  if (limits.promptTokens === 0) throw new FieldError('prompt', 'must not be empty');
  if (limits.contextLength - limits.promptTokens <= 0) {
    throw new FieldError('prompt', `is ${limits.promptTokens} tokens; the model's context is ${limits.contextLength} tokens`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, row] of Object.entries(SAMPLING_FIELDS)) out[key] = checked(row, input[key as keyof SamplingInput], limits);
  // One value per row, each of its row's kind: the shape Sampling is derived from.
  return out as Sampling;
}
