import { create } from '@bufbuild/protobuf';
import type { CallOptions, Client } from '@connectrpc/connect';
import {
  DecodeRequestSchema,
  type DecodeStreamRequest,
  DecodeStreamRequestSchema,
  type DecodeStreamResponse,
  EncodeRequestSchema,
  TokenBytesRequestSchema,
  type TokenizerService,
} from '@tokenmesh/proto';
import { decode, decodeStream, encode, tokenBytes, type TokenizerRepo } from '@tokenmesh/tokenizer';

import type { StreamingDecoder } from './generate-text';

type Tokenizer = Client<typeof TokenizerService>;
type StreamInit = Parameters<Tokenizer['decodeStream']>[0] extends AsyncIterable<infer T> ? T : never;

/**
 * The tokenizer service's own code (@tokenmesh/tokenizer), run in the gateway for models whose
 * tokenizer files it has (GATEWAY_LOCAL_TOKENIZERS), the remote service for the rest. Encode and
 * DecodeStream are two round trips on every request's path to its first token — on a small
 * machine each hop is a process switch — and a cache hit needs only the Encode; byte-level
 * tokenization and chat templates cost microseconds, so they can share the gateway's event loop.
 * Same code, same answers and errors as the service.
 */
export function localFirstTokenizer(remote: Tokenizer, repo: TokenizerRepo): Tokenizer {
  const knows = (model: string) => model !== '' && repo.resolve(model) !== undefined;
  return {
    async encode(init, opts) {
      const req = create(EncodeRequestSchema, init);
      if (!knows(req.model)) return remote.encode(init, opts);
      return encode(repo, req);
    },
    async decode(init, opts) {
      const req = create(DecodeRequestSchema, init);
      if (!knows(req.model)) return remote.decode(init, opts);
      return decode(repo, req);
    },
    async tokenBytes(init, opts) {
      const req = create(TokenBytesRequestSchema, init);
      if (!knows(req.model)) return remote.tokenBytes(init, opts);
      return tokenBytes(repo, req);
    },
    decodeStream(inputs: AsyncIterable<StreamInit>, opts?: CallOptions): AsyncIterable<DecodeStreamResponse> {
      return localFirstDecodeStream(inputs, opts, remote, repo, knows);
    },
  } as Tokenizer;
}

/**
 * Detokenizers for the models whose files the gateway has: a generated stream is decoded in
 * this process, without a DecodeStream call and its per-message cost.
 */
export function localDecoders(repo: TokenizerRepo): (model: string) => StreamingDecoder | undefined {
  return (model) => (model === '' ? undefined : repo.resolve(model)?.streamDecoder(false));
}

async function* localFirstDecodeStream(
  inputs: AsyncIterable<StreamInit>,
  opts: CallOptions | undefined,
  remote: Tokenizer,
  repo: TokenizerRepo,
  knows: (model: string) => boolean,
): AsyncGenerator<DecodeStreamResponse> {
  const it = inputs[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  async function* all(): AsyncGenerator<StreamInit> {
    yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      opts?.signal?.throwIfAborted();
      yield r.value;
    }
  }
  if (!knows(head.model ?? '')) {
    yield* remote.decodeStream(all(), opts);
    return;
  }
  async function* messages(): AsyncGenerator<DecodeStreamRequest> {
    for await (const m of all()) yield create(DecodeStreamRequestSchema, m);
  }
  yield* decodeStream(repo, messages());
}
