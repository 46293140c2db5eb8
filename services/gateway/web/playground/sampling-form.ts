import type { MessageInitShape } from '@bufbuild/protobuf';
import type { SamplingParamsSchema } from '@tokenmesh/proto';

/** The sampling controls' values as typed (empty = the serving default). */
export interface SamplingFields {
  readonly temperature: string;
  readonly topP: string;
  readonly topK: string;
  readonly maxTokens: string;
  readonly seed: string;
  readonly stop: string;
}

export type Sampling = MessageInitShape<typeof SamplingParamsSchema>;

/** A control's value the page refuses before sending (the gateway checks the ranges again). */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function number(field: string, text: string, integer: boolean): number | undefined {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new FieldError(field, `must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * SamplingParams from the controls. Only what is a number (or an integer) is checked here; ranges
 * are the gateway's to check, so the page shows the same message any client would get.
 */
export function samplingFrom(f: SamplingFields): Sampling {
  const out: Sampling = {};
  const temperature = number('Temperature', f.temperature, false);
  const topP = number('Top-p', f.topP, false);
  const topK = number('Top-k', f.topK, true);
  const maxTokens = number('Max tokens', f.maxTokens, true);
  const seed = number('Seed', f.seed, true);
  if (temperature !== undefined) out.temperature = temperature;
  if (topP !== undefined) out.topP = topP;
  if (topK !== undefined) out.topK = topK;
  if (maxTokens !== undefined) out.maxTokens = maxTokens;
  if (seed !== undefined) out.seed = BigInt(seed);
  const stop = f.stop.split('\n').filter((s) => s !== '');
  if (stop.length > 0) out.stop = stop;
  return out;
}
