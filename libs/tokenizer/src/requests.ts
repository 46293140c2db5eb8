import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  type DecodeRequest,
  type DecodeResponse,
  DecodeResponseSchema,
  type DecodeStreamRequest,
  type DecodeStreamResponse,
  DecodeStreamResponseSchema,
  type EncodeRequest,
  type EncodeResponse,
  EncodeResponseSchema,
  type TokenBytesRequest,
  type TokenBytesResponse,
  TokenBytesResponseSchema,
} from '@tokenmesh/proto';

import type { ModelTokenizer } from './model-tokenizer';
import type { TokenizerRepo } from './tokenizer-repo';

function tokenizerFor(repo: TokenizerRepo, model: string): ModelTokenizer {
  const tok = repo.resolve(model);
  if (!tok) throw new ConnectError(`model: ${JSON.stringify(model)} has no tokenizer here (known: ${repo.names.join(', ')})`, Code.NotFound);
  return tok;
}

function checkIds(tok: ModelTokenizer, ids: readonly number[]): void {
  const bad = ids.findIndex((id) => id >= tok.spec.vocabSize);
  if (bad >= 0) throw new ConnectError(`token_ids[${bad}]: ${ids[bad]} is outside the vocabulary (0..${tok.spec.vocabSize - 1})`, Code.InvalidArgument);
}

/**
 * TokenizerService's Encode: text or chat messages (rendered with the model's template) to ids;
 * ids already encoded are checked and given back.
 * @throws ConnectError NOT_FOUND for a model without a tokenizer here, INVALID_ARGUMENT naming
 * the field for anything else the request gets wrong.
 */
export function encode(repo: TokenizerRepo, req: EncodeRequest): EncodeResponse {
  const tok = tokenizerFor(repo, req.model);
  const given = [req.text !== '', req.messages.length > 0, req.tokenIds.length > 0].filter(Boolean).length;
  if (given !== 1) throw new ConnectError('text, messages, token_ids: exactly one of them must be given', Code.InvalidArgument);
  if (req.tokenIds.length > 0) {
    checkIds(tok, req.tokenIds);
    return create(EncodeResponseSchema, { tokenIds: [...req.tokenIds], prompt: tok.decode(req.tokenIds), contextLength: tok.spec.contextLength });
  }
  let prompt = req.text;
  if (req.messages.length > 0) {
    try {
      prompt = tok.renderChat(req.messages, req.addGenerationPrompt ?? true);
    } catch (err) {
      throw new ConnectError((err as Error).message, Code.InvalidArgument);
    }
  }
  return create(EncodeResponseSchema, { tokenIds: tok.encode(prompt), prompt, contextLength: tok.spec.contextLength });
}

/** TokenizerService's Decode: ids to text. @throws ConnectError as `encode`; INVALID_ARGUMENT for an id outside the vocabulary. */
export function decode(repo: TokenizerRepo, req: DecodeRequest): DecodeResponse {
  const tok = tokenizerFor(repo, req.model);
  checkIds(tok, req.tokenIds);
  return create(DecodeResponseSchema, { text: tok.decode(req.tokenIds, req.skipSpecialTokens) });
}

/**
 * TokenizerService's DecodeStream: one text delta per message of ids (the first names the
 * model), then the flushed tail if any. @throws ConnectError as `decode`, from the message at fault.
 */
export async function* decodeStream(repo: TokenizerRepo, requests: AsyncIterable<DecodeStreamRequest>): AsyncGenerator<DecodeStreamResponse> {
  let decoder: ReturnType<ModelTokenizer['streamDecoder']> | undefined;
  let tok: ModelTokenizer | undefined;
  for await (const req of requests) {
    if (!tok) {
      if (!req.model) throw new ConnectError('model: required in the first message', Code.InvalidArgument);
      tok = tokenizerFor(repo, req.model);
      decoder = tok.streamDecoder(req.skipSpecialTokens);
    }
    checkIds(tok, req.tokenIds);
    // One answer per message, empty while a character is incomplete: a caller can tell
    // which ids completed which text (the gateway ends stop strings at the right token).
    yield create(DecodeStreamResponseSchema, { text: decoder!.push(req.tokenIds) });
  }
  const tail = decoder?.flush();
  if (tail) yield create(DecodeStreamResponseSchema, { text: tail });
}

/** TokenizerService's TokenBytes: each id's bytes, and whether it is special. @throws ConnectError as `decode` */
export function tokenBytes(repo: TokenizerRepo, req: TokenBytesRequest): TokenBytesResponse {
  const tok = tokenizerFor(repo, req.model);
  checkIds(tok, req.tokenIds);
  const each = req.tokenIds.map((id) => tok.tokenBytes(id));
  return create(TokenBytesResponseSchema, { tokens: each.map((t) => t.bytes), special: each.map((t) => t.special) });
}
