import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import type { TextRequest, Upstreams } from '../../pipeline/generate-text';
import { edgeHooks } from './edge-hooks';
import { bodyFields } from './fields';
import { readJson } from './http-json';
import { chatLogprobs } from './openai-logprobs';
import { chatMessages, choiceRequests, openAiLogprobs, openAiOptions, renamedParam, responseFormat } from './openai-request';
import { answerOpenAi } from './openai-response';
import type { RequestContext } from './request-context';
import { samplingFromBody } from './sampling-body';

/**
 * POST /v1/chat/completions in OpenAI's shape: {model?, messages, max_completion_tokens (or the
 * older max_tokens), temperature, top_p, stop, seed, n (choices), user, stream, stream_options} plus
 * top_k, min_p, repetition_penalty and response_format (text, json_object, json_schema: guided
 * decoding). The tokenizer renders the messages with the model's chat template. Streams
 * `chat.completion.chunk`s: the assistant's role first, then content deltas.
 */
export async function chatCompletionsRoute(
  req: HttpRequest,
  res: HttpResponse,
  { requestId, signal, report }: RequestContext,
  up: Upstreams,
  bodyLimit: number,
): Promise<void> {
  const body = await readJson(req, bodyLimit);
  const messages = chatMessages(body);
  const opts = openAiOptions(body, 'chat');
  const f = bodyFields(body);
  const model = f.string('model') ?? '';
  // max_completion_tokens replaced max_tokens in OpenAI's chat API; the newer name wins (as vLLM).
  const completionTokens = f.integer('max_completion_tokens');
  const format = responseFormat(body);
  const asked = openAiLogprobs(body, 'chat');
  const sampling = { ...samplingFromBody(body), ...asked, ...(format && { guidedJson: format.guidedJson }) };
  // Without logprobs OpenAI's field is null; with them, the tokens of that choice or delta.
  const logprobsOf = (tokens: Parameters<typeof chatLogprobs>[0] | undefined) => (asked.logprobs ? chatLogprobs(tokens ?? []) : null);
  const request: TextRequest = {
    requestId,
    stream: opts.stream,
    model,
    prompt: '',
    messages,
    sampling: completionTokens === undefined ? sampling : { ...sampling, maxTokens: completionTokens },
    routingKey: opts.routingKey,
    ...edgeHooks(req, res),
  };
  const answered = answerOpenAi(
    res,
    choiceRequests([request], opts.n),
    up,
    { ...opts, requestId, signal, report, model: model || up.defaultModel },
    {
      id: `chatcmpl-${requestId}`,
      object: 'chat.completion',
      chunkObject: 'chat.completion.chunk',
      opening: (index) => ({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }),
      choice: (index, content, finish, tokens) => ({ index, message: { role: 'assistant', content }, logprobs: logprobsOf(tokens), finish_reason: finish }),
      delta: (index, content, finish, tokens) => ({
        index,
        delta: finish === null ? { content } : {},
        logprobs: finish === null ? logprobsOf(tokens) : null,
        finish_reason: finish,
      }),
    },
  );
  // Errors name the fields of this request: the rendered chat is its messages.
  const renames: Record<string, string> = {
    prompt: 'messages',
    ...(completionTokens !== undefined && { max_tokens: 'max_completion_tokens' }),
    ...(format && { guided_json: format.param }),
  };
  await answered.catch((e: unknown) => Promise.reject(renamedParam(e, renames)));
}
