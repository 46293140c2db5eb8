import type { TextRequest } from '../../pipeline/generate-text';
import { fields } from './fields';

/** Sampling fields shared by /generate and the OpenAI endpoints (OpenAI names plus extras). */
export function samplingFromBody(body: Record<string, unknown>): TextRequest['sampling'] {
  const seed = fields.integer(body, 'seed');
  return {
    maxTokens: fields.integer(body, 'max_tokens'),
    temperature: fields.number(body, 'temperature'),
    topK: fields.integer(body, 'top_k'),
    topP: fields.number(body, 'top_p'),
    minP: fields.number(body, 'min_p'),
    repetitionPenalty: fields.number(body, 'repetition_penalty'),
    seed: seed === undefined ? undefined : BigInt(seed),
    stop: fields.stringOrList(body, 'stop') ?? [],
  };
}
