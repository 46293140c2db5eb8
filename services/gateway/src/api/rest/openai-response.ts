import type { HttpResponse } from '@tokenmesh/server';

import { generateText, type TextEvent, type TextRequest, type Upstreams } from '../../pipeline/generate-text';
import type { TokenLogprob } from '../../pipeline/token-logprobs';
import { openAiFinishReason } from './finish-reason';
import { errorBody, sendJson } from './http-json';
import type { OpenAiOptions } from './openai-request';
import { SseWriter } from './sse';

type Json = Record<string, unknown>;
type Done = Extract<TextEvent, { type: 'done' }>;

/** How one OpenAI endpoint shapes its answers (the legacy completions or chat), choice by index. */
export interface OpenAiFormat {
  /** e.g. `cmpl-<request id>`, `chatcmpl-<request id>`. */
  readonly id: string;
  /** `text_completion` / `chat.completion`. */
  readonly object: string;
  /** `text_completion` / `chat.completion.chunk`. */
  readonly chunkObject: string;
  /** Choice `index` of a non-streamed answer; `logprobs` when the request asked for them. */
  choice(index: number, text: string, finishReason: string | null, logprobs?: readonly TokenLogprob[]): Json;
  /** A streamed choice: a text delta (finish null) or its last one (text '', finish set); `logprobs`: the delta's tokens'. */
  delta(index: number, text: string, finishReason: string | null, logprobs?: readonly TokenLogprob[]): Json;
  /** A streamed choice sent before any of its text (chat: the assistant's role; completions: the echoed prompt). */
  opening?(index: number): Json;
}

/** OpenAI's usage object. */
export function openAiUsage(u: Done['usage']): Json {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
}

/** The usage of several generations as one: OpenAI sums it over the choices. */
function summed(done: readonly Done[]): Done['usage'] {
  const u = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  for (const d of done) {
    u.promptTokens += d.usage.promptTokens;
    u.completionTokens += d.usage.completionTokens;
    u.totalTokens += d.usage.totalTokens;
  }
  return u;
}

type AnswerOptions = OpenAiOptions & {
  readonly requestId: string;
  readonly model: string;
  readonly signal: AbortSignal;
  readonly report?: (err: unknown) => void;
};

/**
 * Answers an OpenAI request, choice i generated from `requests[i]` (one, or several for prompt
 * arrays and `n`, all at once: the worker batches them): one JSON body, or SSE chunks ending
 * with `data: [DONE]`, the choices' chunks interleaved as their text comes, each with its index.
 * Every generation's first event is awaited before anything is written, so every validation
 * error (the pipeline checks before the worker is called) is a plain JSON error with its status;
 * a failure after the headers is reported as a last event, as OpenAI's streams do. A failure of
 * one cancels the others, as the caller leaving cancels all.
 * With `includeUsage` every chunk carries `usage: null` and a last chunk has `choices: []` and the
 * usage (summed over the choices); without it no chunk has a usage field (OpenAI's semantics).
 */
export async function answerOpenAi(res: HttpResponse, requests: readonly TextRequest[], up: Upstreams, o: AnswerOptions, f: OpenAiFormat): Promise<void> {
  if (requests.length === 1) return answer(res, [generateText(requests[0]!, up, o.signal)], o, f, () => {});
  const all = new AbortController();
  const cancel = () => all.abort();
  o.signal.addEventListener('abort', cancel, { once: true });
  try {
    await answer(
      res,
      requests.map((r) => generateText(r, up, all.signal)),
      o,
      f,
      cancel,
    );
  } finally {
    o.signal.removeEventListener('abort', cancel);
  }
}

async function answer(res: HttpResponse, streams: readonly AsyncGenerator<TextEvent>[], o: AnswerOptions, f: OpenAiFormat, cancel: () => void): Promise<void> {
  const created = Math.floor(Date.now() / 1000);
  const each = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (err) {
      cancel();
      throw err;
    }
  };
  const firsts = await each(Promise.all(streams.map((s) => s.next())));
  const done: Done[] = [];
  if (!o.stream) {
    const texts = streams.map(() => '');
    const logprobs: (TokenLogprob[] | undefined)[] = streams.map(() => undefined);
    await each(
      Promise.all(
        streams.map(async (s, i) => {
          for (let e = firsts[i]!; !e.done; e = await s.next()) {
            if (e.value.type === 'text') {
              texts[i] += e.value.text;
              if (e.value.logprobs) (logprobs[i] ??= []).push(...e.value.logprobs);
            } else done[i] = e.value;
          }
        }),
      ),
    );
    sendJson(res, 200, {
      id: f.id,
      object: f.object,
      created,
      model: done[0]!.model,
      choices: done.map((d, i) => f.choice(i, texts[i]!, openAiFinishReason(d.finishReason), logprobs[i])),
      usage: openAiUsage(summed(done)),
    });
    return;
  }
  const sse = new SseWriter(res);
  const usageNull = o.includeUsage ? { usage: null } : {};
  // Every chunk names what serves the request (name@version), as the first answer said it.
  let model = firsts.map((e) => (e.done ? undefined : e.value.model)).find(Boolean) ?? o.model;
  const chunk = (choices: Json[]) => ({ id: f.id, object: f.chunkObject, created, model, choices, ...usageNull });
  sse.open({ 'x-request-id': o.requestId });
  if (f.opening) for (let i = 0; i < streams.length; i++) void sse.send(chunk([f.opening(i)]));
  try {
    await Promise.all(
      streams.map(async (s, i) => {
        for (let e = firsts[i]!; !e.done; e = await s.next()) {
          const ev = e.value;
          if (ev.model) model = ev.model;
          if (ev.type === 'text') {
            // No empty deltas: a text event without text (logprobs of tokens that show nothing) makes no chunk.
            if (ev.text === '' && !ev.logprobs?.some((t) => !t.special)) continue;
            await sse.send(chunk([f.delta(i, ev.text, null, ev.logprobs)]));
          } else {
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
