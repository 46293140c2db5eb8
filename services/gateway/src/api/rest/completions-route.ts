import { Code } from '@connectrpc/connect';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import { generateText, type Upstreams } from '../../pipeline/generate-text';
import { edgeHooks } from './edge-hooks';
import { bodyFields } from './fields';
import { readJson } from './http-json';
import { answerChoices, MAX_CHOICES, nChoices } from './many-choices';
import { openAiOptions } from './openai-request';
import { answerOpenAi } from './openai-response';
import type { RequestContext } from './request-context';
import { samplingFromBody } from './sampling-body';

/** Prompts one completion request may carry (OpenAI's `prompt` array): each is a generation of its own. */
const MAX_PROMPTS = MAX_CHOICES;

/**
 * OpenAI's `prompt`: a string, or an array of strings (one choice per prompt; LangChain always
 * sends an array). Token-id prompts are refused by name.
 * @throws ConnectError (400) naming `prompt` or `prompt[i]` and the limit
 */
function prompts(body: Record<string, unknown>): string[] {
  const p = body['prompt'];
  if (!Array.isArray(p)) return [bodyFields(body).string('prompt') ?? ''];
  if (p.length === 0) throw apiError(Code.InvalidArgument, 'prompt', 'must not be an empty array');
  if (p.length > MAX_PROMPTS) throw apiError(Code.InvalidArgument, 'prompt', `at most ${MAX_PROMPTS} prompts in one request, got ${p.length}`);
  return p.map((x, i) => {
    if (typeof x === 'string') return x;
    const why = typeof x === 'number' || Array.isArray(x) ? 'token id prompts are not supported, send text' : `got ${JSON.stringify(x)}`;
    throw apiError(Code.InvalidArgument, p.every((y) => typeof y === 'number') ? 'prompt' : `prompt[${i}]`, `must be a string (${why})`);
  });
}

/**
 * POST /v1/completions in OpenAI's shape: {model?, prompt (a string or up to MAX_PROMPTS of them),
 * max_tokens, temperature, top_p, stop, seed, n (choices per prompt), echo, user, stream, stream_options} plus top_k,
 * min_p and repetition_penalty. `stream: true` answers with SSE chunks and `data: [DONE]`.
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
  const request = (prompt: string, id: string) => ({
    requestId: id,
    stream: opts.stream,
    model,
    prompt,
    messages: [],
    sampling: samplingFromBody(body),
    routingKey: opts.routingKey,
    ...edgeHooks(req, res),
  });
  const answer = { ...opts, requestId, signal, report, model: model || up.defaultModel };
  const format = { id: `cmpl-${requestId}`, object: 'text_completion', chunkObject: 'text_completion' };
  // OpenAI's echo: each choice's text starts with its prompt (streamed: a first chunk of it).
  const echo = f.boolean('echo') ?? false;
  const promptOf = (index: number) => (echo ? texts[Math.floor(index / opts.n)]! : '');
  const opening = echo ? (index: number) => ({ text: promptOf(index), index, logprobs: null, finish_reason: null }) : undefined;
  if (texts.length === 1 && opts.n === 1) {
    await answerOpenAi(res, generateText(request(texts[0]!, requestId), up, signal), answer, {
      ...format,
      ...(opening && { opening: opening(0) }),
      choice: (text, finish) => ({ text: promptOf(0) + text, index: 0, logprobs: null, finish_reason: finish }),
      delta: (text, finish) => ({ text, index: 0, logprobs: null, finish_reason: finish }),
    });
    return;
  }
  if (texts.length * opts.n > MAX_CHOICES) {
    throw apiError(Code.InvalidArgument, 'n', `prompts × n must be at most ${MAX_CHOICES}, got ${texts.length} × ${opts.n}`);
  }
  // OpenAI's order: the n choices of prompt 0, then those of prompt 1, ...
  const requests = texts.flatMap((t, i) => nChoices(request(t, requestId), opts.n, i * opts.n));
  await answerChoices(res, requests, up, answer, {
    ...format,
    ...(opening && { opening }),
    choice: (index, text, finish) => ({ text: promptOf(index) + text, index, logprobs: null, finish_reason: finish }),
    delta: (index, text, finish) => ({ text, index, logprobs: null, finish_reason: finish }),
  });
}
