import { Code } from '@connectrpc/connect';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import { generateText, type Upstreams } from '../../pipeline/generate-text';
import { edgeHooks } from './edge-hooks';
import { bodyFields } from './fields';
import { readJson } from './http-json';
import { openAiOptions } from './openai-request';
import { answerOpenAi } from './openai-response';
import type { RequestContext } from './request-context';
import { samplingFromBody } from './sampling-body';

/**
 * POST /v1/completions in OpenAI's shape: {model?, prompt, max_tokens, temperature, top_p, stop,
 * seed, n: 1, user, stream, stream_options} plus top_k, min_p and repetition_penalty.
 * `stream: true` answers with SSE chunks and `data: [DONE]`.
 */
export async function completionsRoute(
  req: HttpRequest,
  res: HttpResponse,
  { requestId, signal, report }: RequestContext,
  up: Upstreams,
  bodyLimit: number,
): Promise<void> {
  const body = await readJson(req, bodyLimit);
  if (Array.isArray(body['prompt'])) throw apiError(Code.InvalidArgument, 'prompt', 'must be a string (batched prompts and token arrays are not supported)');
  const opts = openAiOptions(body, 'completion');
  const f = bodyFields(body);
  const model = f.string('model') ?? '';
  const events = generateText(
    {
      requestId,
      stream: opts.stream,
      model,
      prompt: f.string('prompt') ?? '',
      messages: [],
      sampling: samplingFromBody(body),
      routingKey: opts.routingKey,
      ...edgeHooks(req, res),
    },
    up,
    signal,
  );
  await answerOpenAi(
    res,
    events,
    { ...opts, requestId, signal, report, model: model || up.defaultModel },
    {
      id: `cmpl-${requestId}`,
      object: 'text_completion',
      chunkObject: 'text_completion',
      choice: (text, finish) => ({ text, index: 0, logprobs: null, finish_reason: finish }),
      delta: (text, finish) => ({ text, index: 0, logprobs: null, finish_reason: finish }),
    },
  );
}
