import { Code } from '@connectrpc/connect';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError, fromUpstream } from '../../edge/api-error';
import type { Upstreams } from '../../pipeline/generate-text';
import { bodyFields, TOKEN_ID } from './fields';
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
  const f = bodyFields(body);
  const hasMessages = f.has('messages');
  const prompt = f.string('prompt');
  if ((prompt !== undefined) === hasMessages) throw apiError(Code.InvalidArgument, 'prompt', 'give either prompt or messages, exactly one of them');
  if (prompt === '') throw apiError(Code.InvalidArgument, 'prompt', 'must not be empty');
  const messages = hasMessages ? chatMessages(body) : [];
  const out = await up.tokenizer
    .encode(
      { model: f.string('model') || up.defaultModel, text: prompt ?? '', messages, addGenerationPrompt: f.boolean('add_generation_prompt') ?? true },
      { signal },
    )
    .catch((e: unknown) => Promise.reject(fromUpstream(e)));
  sendJson(res, 200, { tokens: out.tokenIds, count: out.tokenIds.length, max_model_len: out.contextLength });
}

/** POST /detokenize — {model?, tokens} → {prompt} (vLLM's shape), through the tokenizer service's Decode. */
export async function detokenizeRoute(req: HttpRequest, res: HttpResponse, { signal }: RequestContext, up: Upstreams, bodyLimit: number): Promise<void> {
  const body = await readJson(req, bodyLimit);
  const f = bodyFields(body);
  if (!f.has('tokens')) throw apiError(Code.InvalidArgument, 'tokens', 'is required');
  const tokens = f.list('tokens', { want: 'an array of token ids' })!.map((t) => t.integer(TOKEN_ID)!);
  const out = await up.tokenizer
    .decode({ model: f.string('model') || up.defaultModel, tokenIds: tokens, skipSpecialTokens: false }, { signal })
    .catch((e: unknown) => Promise.reject(renamedParam(fromUpstream(e), { token_ids: 'tokens' })));
  sendJson(res, 200, { prompt: out.text });
}
