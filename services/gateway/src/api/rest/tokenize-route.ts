import type { HttpRequest, HttpResponse } from '@tokenmesh/server';
import { Code } from '@connectrpc/connect';
import { apiError, fromUpstream } from '../../edge/api-error';
import type { Upstreams } from '../../pipeline/generate-text';
import { badField, fields } from './fields';
import { readJson, sendJson } from './http-json';
import { chatMessages, renamedParam } from './openai-request';
import type { RequestContext } from './request-context';

/**
 * POST /tokenize — {model?, prompt | messages, add_generation_prompt?} → {tokens, count,
 * max_model_len} (vLLM's shape), through the tokenizer service's Encode: messages are rendered
 * with the model's chat template exactly as /v1/chat/completions renders them, so `count` is the
 * prompt_tokens a completion would report.
 */
export async function tokenizeRoute(req: HttpRequest, res: HttpResponse, { signal }: RequestContext, up: Upstreams, bodyLimit: number): Promise<void> {
  const body = await readJson(req, bodyLimit);
  const hasMessages = body['messages'] !== undefined && body['messages'] !== null;
  const prompt = fields.string(body, 'prompt');
  if ((prompt !== undefined) === hasMessages) throw apiError(Code.InvalidArgument, 'prompt', 'give either prompt or messages, exactly one of them');
  if (prompt === '') throw apiError(Code.InvalidArgument, 'prompt', 'must not be empty');
  const messages = hasMessages ? chatMessages(body) : [];
  const out = await up.tokenizer
    .encode(
      { model: fields.string(body, 'model') || up.defaultModel, text: prompt ?? '', messages, addGenerationPrompt: fields.boolean(body, 'add_generation_prompt') ?? true },
      { signal },
    )
    .catch((e: unknown) => Promise.reject(fromUpstream(e)));
  sendJson(res, 200, { tokens: out.tokenIds, count: out.tokenIds.length, max_model_len: out.contextLength });
}

/** POST /detokenize — {model?, tokens} → {prompt} (vLLM's shape), through the tokenizer service's Decode. */
export async function detokenizeRoute(req: HttpRequest, res: HttpResponse, { signal }: RequestContext, up: Upstreams, bodyLimit: number): Promise<void> {
  const body = await readJson(req, bodyLimit);
  const tokens = body['tokens'];
  if (tokens === undefined || tokens === null) throw apiError(Code.InvalidArgument, 'tokens', 'is required');
  if (!Array.isArray(tokens)) badField('tokens', 'an array of token ids', tokens);
  tokens.forEach((t: unknown, i) => {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 0xffffffff) badField(`tokens[${i}]`, 'a token id (an integer >= 0)', t);
  });
  const out = await up.tokenizer
    .decode({ model: fields.string(body, 'model') || up.defaultModel, tokenIds: tokens as number[], skipSpecialTokens: false }, { signal })
    .catch((e: unknown) => Promise.reject(renamedParam(fromUpstream(e), { token_ids: 'tokens' })));
  sendJson(res, 200, { prompt: out.text });
}
