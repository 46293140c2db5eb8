import type { FieldReader } from '@tokenmesh/config';
import { SAMPLING_FIELDS, type SamplingField } from '@tokenmesh/model';

import type { TextRequest } from '../../pipeline/generate-text';
import { bodyFields } from './fields';

/** A row's value from a body, typed as its kind is (ranges are checked later, against the model's context). */
function read(f: FieldReader, row: SamplingField): unknown {
  switch (row.type) {
    case 'max-tokens':
    case 'count':
      return f.integer(row.name);
    case 'real':
      return f.number(row.name);
    case 'seed': {
      const seed = f.integer(row.name);
      return seed === undefined ? undefined : BigInt(seed);
    }
    case 'token-ids':
      return f.list(row.name)?.map((id) => id.integer({ required: true }));
    case 'token-bias': {
      // Keys and ranges are checked with the model's vocabulary (validateSampling); values must be numbers.
      const o = f.object(row.name, { want: 'an object of token id → bias' });
      return o && Object.fromEntries(o.keys().map((k) => [k, o.number(k, { required: true })]));
    }
    case 'flag':
      return f.boolean(row.name);
    case 'json-schema': {
      // vLLM's guided_json: the schema itself, or its JSON text.
      const field = f.field(row.name);
      if (field.absent) return undefined;
      if (typeof field.value === 'object' && !Array.isArray(field.value)) return JSON.stringify(field.value);
      return field.string({ want: 'a JSON Schema (an object, or its JSON text)' });
    }
    default:
      return row satisfies never;
  }
}

/**
 * Sampling fields shared by /generate and the OpenAI endpoints: the rows of SAMPLING_FIELDS that
 * REST bodies carry, under their names (OpenAI's, plus extras such as top_k), and the stop strings.
 */
export function samplingFromBody(body: Record<string, unknown>): TextRequest['sampling'] {
  const f = bodyFields(body);
  const sampling: Record<string, unknown> = {};
  const rows: Readonly<Record<string, SamplingField>> = SAMPLING_FIELDS;
  for (const [key, row] of Object.entries(rows)) if (row.rest !== false) sampling[key] = read(f, row);
  // Each value is its row's kind, the type SamplingParams gives the same field.
  return { ...(sampling as TextRequest['sampling']), stop: f.strings('stop', { orString: true }) ?? [] };
}
