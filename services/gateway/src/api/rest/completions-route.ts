import { Code } from '@connectrpc/connect';
import type { Field } from '@tokenmesh/config';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import type { Upstreams } from '../../pipeline/generate-text';
import { edgeHooks } from './edge-hooks';
import { bodyFields, TOKEN_ID } from './fields';
import { readJson } from './http-json';
import { CompletionLogprobs } from './openai-logprobs';
import { choiceRequests, MAX_CHOICES, openAiLogprobs, openAiOptions, renamedParam, responseFormat } from './openai-request';
import { answerOpenAi } from './openai-response';
import type { RequestContext } from './request-context';
import { samplingFromBody } from './sampling-body';

/** One prompt of a completions request: text, or token ids (OpenAI's token prompts). */
type Prompt = { readonly text: string } | { readonly ids: readonly number[]; readonly param: string };

/** Token ids of a prompt: a non-empty list of ids, each checked as a body's token ids are. */
function tokenIds(items: readonly Field[], param: string): number[] {
  if (items.length === 0) throw apiError(Code.InvalidArgument, param, 'must not be an empty array of token ids');
  return items.map((t) => t.integer(TOKEN_ID)!);
}

/**
 * OpenAI's `prompt`: a string, an array of strings, an array of token ids, or an array of arrays
 * of token ids (one choice per prompt; LangChain always sends an array of strings).
 * @throws ConnectError (400) naming `prompt`, `prompt[i]` or `prompt[i][j]` and the limit
 */
function prompts(body: Record<string, unknown>): Prompt[] {
  const f = bodyFields(body);
  if (!Array.isArray(body['prompt'])) return [{ text: f.string('prompt') ?? '' }];
  const items = f.list('prompt')!;
  if (items.length === 0) throw apiError(Code.InvalidArgument, 'prompt', 'must not be an empty array');
  if (items.every((x) => typeof x.value === 'number')) return [{ ids: tokenIds(items, 'prompt'), param: 'prompt' }];
  if (items.length > MAX_CHOICES) throw apiError(Code.InvalidArgument, 'prompt', `at most ${MAX_CHOICES} prompts in one request, got ${items.length}`);
  const kind = typeof items[0]!.value === 'string' ? 'string' : 'ids';
  return items.map((x, i) => {
    if (kind === 'string') return { text: x.string({ want: 'a string, as prompt[0] is', required: true })! };
    return { ids: tokenIds(x.list({ want: 'an array of token ids, as prompt[0] is', required: true })!, `prompt[${i}]`), param: `prompt[${i}]` };
  });
}

/**
 * POST /v1/completions in OpenAI's shape: {model?, prompt (a string, token ids, or up to MAX_CHOICES of either),
 * max_tokens, temperature, top_p, stop, seed, n (choices per prompt), echo, user, stream, stream_options} plus top_k,
 * min_p, repetition_penalty and response_format / guided_json (vLLM's extensions). `stream: true` answers with SSE chunks and `data: [DONE]`.
 */
export async function completionsRoute(
  req: HttpRequest,
  res: HttpResponse,
  { requestId, signal, report }: RequestContext,
  up: Upstreams,
  bodyLimit: number,
): Promise<void> {
  const body = await readJson(req, bodyLimit);
  const given = prompts(body);
  const opts = openAiOptions(body, 'completion');
  const f = bodyFields(body);
  const model = f.string('model') ?? '';
  const format = responseFormat(body);
  const asked = openAiLogprobs(body, 'completion');
  const sampling = { ...samplingFromBody(body), ...asked, ...(format && { guidedJson: format.guidedJson }) };
  const requests = choiceRequests(
    given.map((p) => ({
      requestId,
      stream: opts.stream,
      model,
      prompt: 'text' in p ? p.text : '',
      messages: [],
      ...('ids' in p && { promptTokenIds: p.ids, promptTokenIdsParam: p.param }),
      sampling,
      routingKey: opts.routingKey,
      ...edgeHooks(req, res),
    })),
    opts.n,
  );
  // OpenAI's echo: each choice's text starts with its prompt (streamed: a first chunk of it).
  const echo = f.boolean('echo') ?? false;
  // The echoed text is the request's: a token prompt's text would need a decode the answer does not wait for.
  if (echo && given.some((p) => 'ids' in p)) throw apiError(Code.InvalidArgument, 'echo', 'is not supported with token-id prompts (send the prompt as text)');
  const promptOf = (index: number) => {
    const p = given[Math.floor(index / opts.n)]!;
    return echo && 'text' in p ? p.text : '';
  };
  // Each choice's logprobs continue its text offsets from chunk to chunk (after an echoed prompt).
  const offsets = new Map<number, CompletionLogprobs>();
  const logprobsOf = (index: number, tokens: Parameters<CompletionLogprobs['next']>[0] | undefined) => {
    if (!asked.logprobs) return null;
    let o = offsets.get(index);
    if (!o) offsets.set(index, (o = new CompletionLogprobs(promptOf(index).length)));
    return o.next(tokens ?? []);
  };
  const answered = answerOpenAi(
    res,
    requests,
    up,
    { ...opts, requestId, signal, report, model: model || up.defaultModel },
    {
      id: `cmpl-${requestId}`,
      object: 'text_completion',
      chunkObject: 'text_completion',
      ...(echo && { opening: (index: number) => ({ text: promptOf(index), index, logprobs: null, finish_reason: null }) }),
      choice: (index, text, finish, tokens) => ({ text: promptOf(index) + text, index, logprobs: logprobsOf(index, tokens), finish_reason: finish }),
      delta: (index, text, finish, tokens) => ({ text, index, logprobs: finish === null ? logprobsOf(index, tokens) : null, finish_reason: finish }),
    },
  );
  // Errors name the caller's fields: a schema where it was put, the alternatives' count as `logprobs`.
  const renames = { top_logprobs: 'logprobs', ...(format && { guided_json: format.param }) };
  await answered.catch((e: unknown) => Promise.reject(renamedParam(e, renames)));
}
