import { Code } from '@connectrpc/connect';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import type { Upstreams } from '../../pipeline/generate-text';
import { edgeHooks } from './edge-hooks';
import { bodyFields } from './fields';
import { readJson } from './http-json';
import { CompletionLogprobs } from './openai-logprobs';
import { choiceRequests, MAX_CHOICES, openAiLogprobs, openAiOptions, renamedParam, responseFormat } from './openai-request';
import { answerOpenAi } from './openai-response';
import type { RequestContext } from './request-context';
import { samplingFromBody } from './sampling-body';

/**
 * OpenAI's `prompt`: a string, or an array of strings (one choice per prompt; LangChain always
 * sends an array). Token-id prompts are refused by name.
 * @throws ConnectError (400) naming `prompt` or `prompt[i]` and the limit
 */
function prompts(body: Record<string, unknown>): string[] {
  const p = body['prompt'];
  if (!Array.isArray(p)) return [bodyFields(body).string('prompt') ?? ''];
  if (p.length === 0) throw apiError(Code.InvalidArgument, 'prompt', 'must not be an empty array');
  if (p.length > MAX_CHOICES) throw apiError(Code.InvalidArgument, 'prompt', `at most ${MAX_CHOICES} prompts in one request, got ${p.length}`);
  return p.map((x, i) => {
    if (typeof x === 'string') return x;
    const why = typeof x === 'number' || Array.isArray(x) ? 'token id prompts are not supported, send text' : `got ${JSON.stringify(x)}`;
    throw apiError(Code.InvalidArgument, p.every((y) => typeof y === 'number') ? 'prompt' : `prompt[${i}]`, `must be a string (${why})`);
  });
}

/**
 * POST /v1/completions in OpenAI's shape: {model?, prompt (a string or up to MAX_CHOICES of them),
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
  const texts = prompts(body);
  const opts = openAiOptions(body, 'completion');
  const f = bodyFields(body);
  const model = f.string('model') ?? '';
  const format = responseFormat(body);
  const asked = openAiLogprobs(body, 'completion');
  const sampling = { ...samplingFromBody(body), ...asked, ...(format && { guidedJson: format.guidedJson }) };
  const requests = choiceRequests(
    texts.map((prompt) => ({ requestId, stream: opts.stream, model, prompt, messages: [], sampling, routingKey: opts.routingKey, ...edgeHooks(req, res) })),
    opts.n,
  );
  // OpenAI's echo: each choice's text starts with its prompt (streamed: a first chunk of it).
  const echo = f.boolean('echo') ?? false;
  const promptOf = (index: number) => (echo ? texts[Math.floor(index / opts.n)]! : '');
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
  // A schema's errors point where the caller put it.
  await answered.catch((e: unknown) => Promise.reject(format ? renamedParam(e, { guided_json: format.param }) : e));
}
