import type { HttpResponse } from '@tokenmesh/server';

import type { TextEvent } from '../../pipeline/generate-text';
import { openAiFinishReason } from './finish-reason';
import { errorBody, sendJson } from './http-json';
import type { OpenAiOptions } from './openai-request';
import { type OpenAiFormat, openAiUsage } from './openai-response';
import { SseWriter } from './sse';

type Done = Extract<TextEvent, { type: 'done' }>;
type Json = Record<string, unknown>;

/** The usage of several generations as one: OpenAI sums them over the choices. */
function summed(done: readonly Done[]): Done['usage'] {
  const u = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  for (const d of done) {
    u.promptTokens += d.usage.promptTokens;
    u.completionTokens += d.usage.completionTokens;
    u.totalTokens += d.usage.totalTokens;
  }
  return u;
}

/**
 * Answers a completion with several prompts (OpenAI's `prompt: [..]`): choice i is prompt i's
 * generation, all of them running at once (the worker batches them). Every generation's first
 * event is awaited before anything is written, so a refusal of any (validation, rate limit) is
 * the request's JSON error, and the others are cancelled with `cancel`. Streamed, chunks of all
 * choices interleave as their text comes, each with its `index`.
 * `format.choice` / `format.delta` get the choice's index.
 */
export async function answerManyPrompts(
  res: HttpResponse,
  streams: readonly AsyncGenerator<TextEvent>[],
  o: OpenAiOptions & { readonly requestId: string; readonly model: string; readonly signal: AbortSignal; readonly report?: (err: unknown) => void },
  f: Pick<OpenAiFormat, 'id' | 'object' | 'chunkObject'> & {
    choice(index: number, text: string, finish: string | null): Json;
    delta(index: number, text: string, finish: string | null): Json;
  },
  cancel: () => void,
): Promise<void> {
  const created = Math.floor(Date.now() / 1000);
  let firsts: IteratorResult<TextEvent>[];
  try {
    firsts = await Promise.all(streams.map((s) => s.next()));
  } catch (err) {
    cancel();
    throw err;
  }
  if (!o.stream) {
    const texts = streams.map(() => '');
    const done: Done[] = [];
    await Promise.all(
      streams.map(async (s, i) => {
        for (let e = firsts[i]!; !e.done; e = await s.next()) {
          if (e.value.type === 'text') texts[i] += e.value.text;
          else done[i] = e.value;
        }
      }),
    ).catch((err: unknown) => {
      cancel();
      throw err;
    });
    sendJson(res, 200, {
      id: f.id,
      object: f.object,
      created,
      model: done[0]!.model,
      choices: done.map((d, i) => f.choice(i, texts[i]!, openAiFinishReason(d.finishReason))),
      usage: openAiUsage(summed(done)),
    });
    return;
  }
  const sse = new SseWriter(res);
  const usageNull = o.includeUsage ? { usage: null } : {};
  const done: Done[] = [];
  // Every chunk names what serves the request (name@version), as the first answer said it.
  let model = firsts.map((e) => (e.done ? undefined : e.value.model)).find(Boolean) ?? o.model;
  const chunk = (choices: Json[]) => ({ id: f.id, object: f.chunkObject, created, model, choices, ...usageNull });
  sse.open({ 'x-request-id': o.requestId });
  try {
    await Promise.all(
      streams.map(async (s, i) => {
        for (let e = firsts[i]!; !e.done; e = await s.next()) {
          const ev = e.value;
          if (ev.model) model = ev.model;
          if (ev.type === 'text') await sse.send(chunk([f.delta(i, ev.text, null)]));
          else {
            done[i] = ev;
            void sse.send(chunk([f.delta(i, '', openAiFinishReason(ev.finishReason))]));
          }
        }
      }),
    );
    if (o.includeUsage) void sse.send({ ...chunk([]), usage: openAiUsage(summed(done)) });
  } catch (err) {
    cancel();
    if (o.signal.aborted) return;
    o.report?.(err);
    void sse.send(errorBody(err).body);
  }
  sse.done();
}
