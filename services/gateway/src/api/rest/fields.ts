import { Code } from '@connectrpc/connect';
import { FieldReader, type Problem, Problems } from '@tokenmesh/config';

import { apiError } from '../../edge/api-error';

/** The first problem ends the request: a 400 naming the field, "<field>: must be <want>, got <value>". */
function reject(p: Problem): never {
  throw apiError(Code.InvalidArgument, p.path === '' ? null : p.path, p.text);
}

/**
 * A JSON request body's fields, typed and optional (null is absent, as OpenAI's clients send
 * it); the first wrong one is a 400 naming it (ConnectError INVALID_ARGUMENT, see apiError).
 */
export function bodyFields(body: Readonly<Record<string, unknown>>): FieldReader {
  // Not `finite`: JSON reads 1e999 as Infinity, and the sampling checks name its range.
  return new FieldReader(body, { problems: new Problems(reject), finite: false });
}

/** The rule of a token id in a body (token prompts, /detokenize): the vocabulary is the tokenizer's check. */
export const TOKEN_ID = { min: 0, max: 0xffffffff, want: 'a token id (an integer >= 0)', required: true } as const;
