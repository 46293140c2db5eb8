import type { HttpResponse } from '@tokenmesh/server';

import { generateText, type TextEvent, type TextRequest, type Upstreams } from '../../pipeline/generate-text';
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

/** How an OpenAI endpoint shapes choice `index` (of several). */
export interface ChoicesFormat extends Pick<OpenAiFormat, 'id' | 'object' | 'chunkObject'> {
  choice(index: number, text: string, finish: string | null): Json;
  delta(index: number, text: string, finish: string | null): Json;
  /** A streamed choice sent before any of its text (chat: the assistant's role). */
  opening?(index: number): Json;
}

/** Choices one request may ask for: prompts × n (each is a generation of its own). */
export const MAX_CHOICES = 16;

/**
 * OpenAI's `n` for one prompt: n requests, choice j's seed (when the request has one) its seed +
 * j mod 2^64, so every choice is reproducible alone and the choices differ.
 */
export function nChoices(base: TextRequest, n: number, first: number): TextRequest[] {
  const seed = base.sampling.seed;
  return Array.from({ length: n }, (_, j) => ({
    ...base,
    requestId: `${base.requestId}-${first + j}`,
    sampling: seed === undefined ? base.sampling : { ...base.sampling, seed: (BigInt(seed) + BigInt(j)) % 2n ** 64n },
  }));
}

type AnswerOptions = OpenAiOptions & {
  readonly requestId: string;
  readonly model: string;
  readonly signal: AbortSignal;
  readonly report?: (err: unknown) => void;
};

/**
 * The generations of several choices (OpenAI's `prompt: [..]`, `n`), choice i from `requests[i]`,
 * all at once (the worker batches them), cancelled together when the caller leaves or any of
 * them fails.
 */
export async function answerChoices(res: HttpResponse, requests: readonly TextRequest[], up: Upstreams, o: AnswerOptions, f: ChoicesFormat): Promise<void> {
  const all = new AbortController();
  const cancel = () => all.abort();
  o.signal.addEventListener('abort', cancel, { once: true });
  try {
    await answerMany(
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

/**
 * Choice i is stream i's generation. Every generation's first event is awaited before anything
 * is written, so a refusal of any (validation, rate limit) is the request's JSON error, and the
 * others are cancelled with `cancel`. Streamed, chunks of all choices interleave as their text
 * comes, each with its `index`; usage (summed over the choices) comes last.
 */
async function answerMany(
  res: HttpResponse,
  streams: readonly AsyncGenerator<TextEvent>[],
  o: AnswerOptions,
  f: ChoicesFormat,
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
  if (f.opening) for (let i = 0; i < streams.length; i++) void sse.send(chunk([f.opening(i)]));
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
