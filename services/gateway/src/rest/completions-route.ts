import type { HttpRequest, HttpResponse } from '@tokenmesh/server';
import { Code } from '@connectrpc/connect';
import { apiError } from '../api-error';
import { generateText, type Upstreams } from '../generate-text';
import { callerOf } from '../auth/request-caller';
import { fields } from './fields';
import { openAiFinishReason } from './finish-reason';
import { errorBody, readJson, sendJson } from './http-json';
import { requestContext } from './request-context';
import { samplingFromBody } from './sampling-body';
import { SseWriter } from './sse';

/** POST /v1/completions in OpenAI's shape; `stream: true` answers with SSE chunks and `data: [DONE]`. */
export async function completionsRoute(req: HttpRequest, res: HttpResponse, up: Upstreams, bodyLimit: number): Promise<void> {
  const { requestId, signal } = requestContext(req, res);
  const body = await readJson(req, bodyLimit);
  if (Array.isArray(body['prompt'])) throw apiError(Code.InvalidArgument, 'prompt', 'must be a string (batched prompts are not supported)');
  const n = fields.integer(body, 'n') ?? 1;
  if (n !== 1) throw apiError(Code.InvalidArgument, 'n', `only 1 is supported, got ${n}`);
  const stream = fields.boolean(body, 'stream') ?? false;
  const events = generateText(
    { requestId, model: fields.string(body, 'model') ?? '', prompt: fields.string(body, 'prompt') ?? '', messages: [], sampling: samplingFromBody(body), routingKey: fields.string(body, 'user') ?? '', caller: callerOf(req), onCache: (o) => res.setHeader('x-tokenmesh-cache', o) },
    up,
    signal,
  );
  const id = `cmpl-${requestId}`;
  const created = Math.floor(Date.now() / 1000);
  // The first event proves the request valid (errors before it are plain JSON errors, not SSE).
  const first = await events.next();
  const chunk = (model: string, text: string, finish: string | null) => ({
    id,
    object: 'text_completion',
    created,
    model,
    choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
  });
  if (stream) {
    const sse = new SseWriter(res);
    sse.open({ 'x-request-id': requestId });
    const model = fields.string(body, 'model') ?? up.defaultModel;
    try {
      for (let e = first; !e.done; e = await events.next()) {
        const ev = e.value;
        if (ev.type === 'text') sse.send(chunk(model, ev.text, null));
        else sse.send({ ...chunk(ev.model, '', openAiFinishReason(ev.finishReason)), usage: usage(ev.usage) });
      }
    } catch (err) {
      // Headers are gone: report the failure as a last event, as OpenAI's streams do.
      if (signal.aborted) return;
      sse.send(errorBody(err).body);
    }
    sse.done();
    return;
  }
  let text = '';
  for (let e = first; !e.done; e = await events.next()) {
    const ev = e.value;
    if (ev.type === 'text') text += ev.text;
    else sendJson(res, 200, { ...chunk(ev.model, text, openAiFinishReason(ev.finishReason)), usage: usage(ev.usage) });
  }
}

function usage(u: { promptTokens: number; completionTokens: number; totalTokens: number }) {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
}
