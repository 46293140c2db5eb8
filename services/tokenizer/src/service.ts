import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { TokenizerService } from '@tokenmesh/proto';
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

/** TokenizerService: text or chat messages to ids, ids to text, and streaming detokenization. */
export function tokenizerService(repo: TokenizerRepo): ServiceImpl<typeof TokenizerService> {
  return {
    encode(req) {
      const tok = tokenizerFor(repo, req.model);
      if ((req.text === '') === (req.messages.length === 0)) {
        throw new ConnectError('text, messages: exactly one of them must be given', Code.InvalidArgument);
      }
      let prompt = req.text;
      if (req.messages.length > 0) {
        try {
          prompt = tok.renderChat(req.messages, req.addGenerationPrompt ?? true);
        } catch (err) {
          throw new ConnectError((err as Error).message, Code.InvalidArgument);
        }
      }
      return { tokenIds: tok.encode(prompt), prompt, contextLength: tok.spec.contextLength };
    },

    decode(req) {
      const tok = tokenizerFor(repo, req.model);
      checkIds(tok, req.tokenIds);
      return { text: tok.decode(req.tokenIds, req.skipSpecialTokens) };
    },

    async *decodeStream(requests) {
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
        yield { text: decoder!.push(req.tokenIds) };
      }
      const tail = decoder?.flush();
      if (tail) yield { text: tail };
    },
  };
}
