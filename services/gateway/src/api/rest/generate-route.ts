import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { generateText, type Upstreams } from '../../pipeline/generate-text';
import { edgeHooks } from './edge-hooks';
import { bodyFields } from './fields';
import { openAiFinishReason } from './finish-reason';
import { readJson, sendJson } from './http-json';
import { openAiUsage } from './openai-response';
import type { RequestContext } from './request-context';
import { samplingFromBody } from './sampling-body';

/**
 * POST /generate — the simple API: {prompt, max_tokens, temperature, top_k, top_p, …} →
 * {text, usage, model, request_id, timings, finish_reason}.
 */
export async function generateRoute(
  req: HttpRequest,
  res: HttpResponse,
  { requestId, signal }: RequestContext,
  up: Upstreams,
  bodyLimit: number,
): Promise<void> {
  const body = await readJson(req, bodyLimit);
  const f = bodyFields(body);
  let text = '';
  for await (const e of generateText(
    {
      requestId,
      stream: false,
      model: f.string('model') ?? '',
      prompt: f.string('prompt') ?? '',
      messages: [],
      sampling: samplingFromBody(body),
      routingKey: f.string('routing_key') ?? '',
      ...edgeHooks(req, res),
    },
    up,
    signal,
  )) {
    if (e.type === 'text') text += e.text;
    else {
      sendJson(
        res,
        200,
        {
          text,
          finish_reason: openAiFinishReason(e.finishReason),
          usage: openAiUsage(e.usage),
          model: e.model,
          variant: e.variant,
          request_id: requestId,
          timings: {
            queue_ms: e.timings.queueMs,
            time_to_first_token_ms: e.timings.timeToFirstTokenMs,
            decode_ms: e.timings.decodeMs,
            total_ms: e.timings.totalMs,
          },
        },
        e.variant ? { 'x-tokenmesh-variant': e.variant } : {},
      );
    }
  }
}
