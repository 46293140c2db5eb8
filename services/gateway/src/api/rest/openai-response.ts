import type { HttpResponse } from '@tokenmesh/server';

import type { TextEvent } from '../../pipeline/generate-text';
import { openAiFinishReason } from './finish-reason';
import { errorBody, sendJson } from './http-json';
import type { OpenAiOptions } from './openai-request';
import { SseWriter } from './sse';

type Json = Record<string, unknown>;
type Done = Extract<TextEvent, { type: 'done' }>;

/** How one OpenAI endpoint shapes its answers (the legacy completions or chat). */
export interface OpenAiFormat {
  /** e.g. `cmpl-<request id>`, `chatcmpl-<request id>`. */
  readonly id: string;
  /** `text_completion` / `chat.completion`. */
  readonly object: string;
  /** `text_completion` / `chat.completion.chunk`. */
  readonly chunkObject: string;
  /** The one choice of a non-streamed answer. */
  choice(text: string, finishReason: string | null): Json;
  /** A streamed choice: a text delta (finish null) or the last one (text '', finish set). */
  delta(text: string, finishReason: string | null): Json;
  /** A streamed choice sent before any text (chat: the assistant's role). */
  readonly opening?: Json;
}

/** OpenAI's usage object. */
export function openAiUsage(u: Done['usage']): Json {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
}

/**
 * Answers an OpenAI request from the pipeline's events: one JSON body, or SSE chunks ending with
 * `data: [DONE]`. The first event is awaited before anything is written, so every validation
 * error (the pipeline checks before the worker is called) is a plain JSON error with its status;
 * a failure after the headers is reported as a last event, as OpenAI's streams do.
 * With `includeUsage` every chunk carries `usage: null` and a last chunk has `choices: []` and the
 * usage; without it no chunk has a usage field (OpenAI's semantics).
 */
export async function answerOpenAi(
  res: HttpResponse,
  events: AsyncGenerator<TextEvent>,
  o: OpenAiOptions & { readonly requestId: string; readonly model: string; readonly signal: AbortSignal; readonly report?: (err: unknown) => void },
  f: OpenAiFormat,
): Promise<void> {
  const created = Math.floor(Date.now() / 1000);
  const first = await events.next();
  if (!o.stream) {
    let text = '';
    for (let e = first; !e.done; e = await events.next()) {
      const ev = e.value;
      if (ev.type === 'text') text += ev.text;
      else
        sendJson(res, 200, {
          id: f.id,
          object: f.object,
          created,
          model: ev.model,
          choices: [f.choice(text, openAiFinishReason(ev.finishReason))],
          usage: openAiUsage(ev.usage),
        });
    }
    return;
  }
  const sse = new SseWriter(res);
  const usageNull = o.includeUsage ? { usage: null } : {};
  // Every chunk names what serves the request (name@version), as the first answer said it.
  let model = (!first.done && first.value.model) || o.model;
  const chunk = (choices: Json[]) => ({ id: f.id, object: f.chunkObject, created, model, choices, ...usageNull });
  sse.open({ 'x-request-id': o.requestId });
  if (f.opening) void sse.send(chunk([f.opening]));
  try {
    for (let e = first; !e.done; e = await events.next()) {
      const ev = e.value;
      if (ev.model) model = ev.model;
      if (ev.type === 'text') await sse.send(chunk([f.delta(ev.text, null)]));
      else {
        void sse.send(chunk([f.delta('', openAiFinishReason(ev.finishReason))]));
        if (o.includeUsage) void sse.send({ ...chunk([]), usage: openAiUsage(ev.usage) });
      }
    }
  } catch (err) {
    if (o.signal.aborted) return;
    o.report?.(err);
    void sse.send(errorBody(err).body);
  }
  sse.done();
}
