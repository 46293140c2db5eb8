import { parseJsonSchema } from './json-constraint';
import { SchemaError, type Shape } from './json-schema-shape';
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
      const { min, max } = row;
      if (max !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new FieldError(name, `must be an integer in [${min}, ${max}], got ${v}`);
      if (!Number.isInteger(v) || v < min) throw new FieldError(name, `must be an integer >= ${min}, got ${v}`);
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
    case 'json-schema': {
      const text = (input as string | undefined) ?? '';
      if (text !== '') guidedShape(name, text, row.maxBytes);
      return text;
    }
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
  const room = limits.contextLength - limits.promptTokens;
  if (room <= 0) {
    throw new FieldError('prompt', `is ${limits.promptTokens} tokens; the model's context is ${limits.contextLength} tokens`);
  }
  // A schema's document rarely fits the default 16 tokens: guided requests get what fits, as OpenAI's chat does.
  const guided = input.guidedJson !== undefined && input.guidedJson !== '';
  const given = guided && input.maxTokens === undefined ? { ...input, maxTokens: room } : input;
  const out: Record<string, unknown> = {};
  for (const [key, row] of Object.entries(SAMPLING_FIELDS)) out[key] = checked(row, given[key as keyof SamplingInput], limits);
  // One value per row, each of its row's kind: the shape Sampling is derived from.
  const sampling = out as Sampling;
  if (sampling.topLogprobs > 0 && !sampling.logprobs) {
    throw new FieldError(SAMPLING_FIELDS.topLogprobs.name, `needs ${SAMPLING_FIELDS.logprobs.name}: true, got ${sampling.topLogprobs} without it`);
  }
  if (guided) {
    const shortest = guidedShape(SAMPLING_FIELDS.guidedJson.name, sampling.guidedJson, Infinity).minBytes;
    if (sampling.maxTokens < shortest) {
      throw new FieldError(
        SAMPLING_FIELDS.maxTokens.name,
        `must be at least ${shortest} with ${SAMPLING_FIELDS.guidedJson.name}: the schema's shortest document is ${shortest} tokens, got ${sampling.maxTokens}`,
      );
    }
  }
  return sampling;
}

/** The compiled schema of a guided_json value. @throws FieldError naming `field` */
function guidedShape(field: string, text: string, maxBytes: number): Shape {
  if (typeof text !== 'string') throw new FieldError(field, `must be a string of JSON Schema, got ${JSON.stringify(text)}`);
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) throw new FieldError(field, `must be at most ${maxBytes} bytes, got ${bytes}`);
  try {
    return parseJsonSchema(text);
  } catch (err) {
    if (err instanceof SchemaError) throw new FieldError(field, `unsupported schema: ${err.message}`);
    throw new FieldError(field, `must be JSON Schema as JSON text (${(err as Error).message})`);
  }
}
