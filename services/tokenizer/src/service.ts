import type { ServiceImpl } from '@connectrpc/connect';
import type { TokenizerService } from '@tokenmesh/proto';
import { decode, decodeStream, encode, tokenBytes, type TokenizerRepo } from '@tokenmesh/tokenizer';

/**
 * TokenizerService: text or chat messages to ids, ids to text and bytes, and streaming detokenization.
 * The answers and errors are the library's; the gateway calls the same functions in-process.
 */
export function tokenizerService(repo: TokenizerRepo): ServiceImpl<typeof TokenizerService> {
  return {
    encode: (req) => encode(repo, req),
    decode: (req) => decode(repo, req),
    decodeStream: (requests) => decodeStream(repo, requests),
    tokenBytes: (req) => tokenBytes(repo, req),
  };
}
