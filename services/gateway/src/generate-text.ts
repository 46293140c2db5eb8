import { Code, type Client } from '@connectrpc/connect';
import { FieldError, validateSampling, type Sampling } from '@tokenmesh/model';
import {
  FinishReason,
  type ChatMessage,
  type GenerationService,
  type SamplingParams,
  type Timings,
  type TokenizerService,
  type Usage,
} from '@tokenmesh/proto';
import { apiError, fromUpstream } from './api-error';
import type { CompletionSink } from './completion-events';
import { anonymous, type Caller, type RateLimiter, type RateLimitHeaders, type ResponseCache } from './edge-policy';
import { StopMatcher } from './stop-matcher';
import { checkModelAccess } from './auth/model-access';

/** The upstream services the gateway calls. */
export interface Upstreams {
  readonly tokenizer: Client<typeof TokenizerService>;
  readonly router: Client<typeof GenerationService>;
  /** Used when a request names no model. */
  readonly defaultModel: string;
  /** Told about every completion that finished (not about rejected or abandoned requests). */
  readonly completions?: CompletionSink;
  /** Requests and tokens per minute per caller; none = unlimited. */
  readonly limiter?: RateLimiter;
  /** Deterministic requests are answered from it when it has them. */
  readonly cache?: ResponseCache;
}

/** A text request as every front end (REST, OpenAI, gRPC, Connect) hands it over. */
export interface TextRequest {
  readonly requestId: string;
  readonly model: string;
  readonly prompt: string;
  readonly messages: readonly Pick<ChatMessage, 'role' | 'content'>[];
  readonly sampling: Omit<Partial<SamplingParams>, '$typeName' | '$unknown'>;
  readonly routingKey: string;
  /** Authenticated caller; anonymous (unknown address) when a front end gives none. */
  readonly caller?: Caller;
  /** Told whether the response came from the cache, before the first event. */
  readonly onCache?: (outcome: 'hit' | 'miss') => void;
  /** Told the caller's rate-limit standing (`x-ratelimit-*`), before the first event. */
  readonly onLimits?: (headers: RateLimitHeaders) => void;
}

export type TextEvent =
  | { readonly type: 'text'; readonly text: string }
  | {
      readonly type: 'done';
      readonly finishReason: FinishReason;
      readonly usage: Omit<Usage, '$typeName'>;
      readonly timings: Omit<Timings, '$typeName'>;
      readonly model: string;
      readonly variant: string;
    };

export const MAX_STOP_STRINGS = 4;

function checkShape(req: TextRequest): void {
  if ((req.prompt === '') === (req.messages.length === 0)) {
    throw req.prompt === '' ? apiError(Code.InvalidArgument, 'prompt', 'must not be empty (or give messages)') : apiError(Code.InvalidArgument, 'messages', 'give either prompt or messages, not both');
  }
  const stop = req.sampling.stop ?? [];
  if (stop.length > MAX_STOP_STRINGS) throw apiError(Code.InvalidArgument, 'stop', `at most ${MAX_STOP_STRINGS} strings, got ${stop.length}`, 'sampling.stop');
  stop.forEach((s, i) => {
    if (s === '') throw apiError(Code.InvalidArgument, `stop[${i}]`, 'must not be empty', `sampling.stop[${i}]`);
  });
}

function validated(req: TextRequest, promptTokens: number, contextLength: number): Sampling {
  const s = req.sampling;
  try {
    return validateSampling(
      { ...s, seed: s.seed, stopTokenIds: s.stopTokenIds, logprobs: s.logprobs },
      // The vocabulary is checked by the worker; any stop_token_ids bound here is the worker's.
      { promptTokens, contextLength, vocabSize: Number.MAX_SAFE_INTEGER },
    );
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    const detail = err.message.slice(err.field.length + 2);
    throw apiError(Code.InvalidArgument, err.field, detail, err.field === 'prompt' ? 'prompt' : `sampling.${err.field}`);
  }
}

/**
 * The gateway's request path: encode (chat template applied by the tokenizer), validate against
 * the model's context, generate through the router, detokenize through the tokenizer's
 * DecodeStream, apply stop strings. Aborting `signal` cancels every upstream call.
 */
export async function* generateText(req: TextRequest, up: Upstreams, signal: AbortSignal): AsyncGenerator<TextEvent> {
  checkShape(req);
  const caller = req.caller ?? anonymous('unknown');
  const model = req.model || up.defaultModel;
  // Before the rate limiter: a forbidden model costs the key nothing.
  checkModelAccess(caller, model);
  const requestLimits = await up.limiter?.admitRequest(caller);
  const started = performance.now();
  const encoded = await up.tokenizer
    .encode({ model, text: req.prompt, messages: req.messages.map((m) => ({ role: m.role, content: m.content })) }, { signal })
    .catch((e: unknown) => Promise.reject(fromUpstream(e)));
  const sampling = validated(req, encoded.tokenIds.length, encoded.contextLength);
  const tokenLimits = await up.limiter?.admitTokens(caller, encoded.tokenIds.length);
  if (requestLimits || tokenLimits) req.onLimits?.({ ...requestLimits, ...tokenLimits });
  const generate = (cancel: AbortSignal = signal) => generated(req, up, cancel, { model, caller, started, promptTokenIds: encoded.tokenIds, sampling });
  const deterministic = sampling.temperature === 0 || req.sampling.seed !== undefined;
  if (!up.cache || !deterministic) {
    req.onCache?.('miss');
    yield* generate();
    return;
  }
  yield* up.cache.through(
    { model, routingKey: req.routingKey, promptTokenIds: encoded.tokenIds, sampling: { ...sampling, stop: [...(req.sampling.stop ?? [])] } },
    generate,
    (outcome) => req.onCache?.(outcome),
    signal,
  );
}

interface Prepared {
  readonly model: string;
  readonly caller: Caller;
  readonly started: number;
  readonly promptTokenIds: readonly number[];
  readonly sampling: Sampling;
}

/** One real generation: router stream → DecodeStream → stop strings → final event. */
async function* generated(req: TextRequest, up: Upstreams, signal: AbortSignal, p: Prepared): AsyncGenerator<TextEvent> {
  const { model, caller, started, sampling } = p;
  const upstream = new AbortController();
  const onAbort = () => upstream.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let last: { finishReason: FinishReason; usage?: Usage | undefined; timings?: Timings | undefined; model: string; variant: string } | undefined;
  const stops = new StopMatcher(req.sampling.stop ?? []);
  let generatedTokens = 0;
  try {
    const tokens = up.router.generate(
      {
        requestId: req.requestId,
        model,
        promptTokenIds: [...p.promptTokenIds],
        routingKey: req.routingKey,
        sampling: { ...sampling, stopTokenIds: [...sampling.stopTokenIds], stop: [] },
      },
      { signal: upstream.signal },
    );
    async function* ids() {
      let first = true;
      for await (const m of tokens) {
        generatedTokens += m.tokenIds.length;
        up.limiter?.charge(caller, m.tokenIds.length);
        if (m.finishReason !== FinishReason.UNSPECIFIED) last = m;
        yield { model: first ? model : '', tokenIds: m.tokenIds };
        first = false;
      }
    }
    for await (const d of up.tokenizer.decodeStream(ids(), { signal: upstream.signal })) {
      const text = stops.push(d.text);
      if (text) yield { type: 'text', text };
      if (stops.done) break;
    }
    const tail = stops.flush();
    if (tail) yield { type: 'text', text: tail };
  } catch (err) {
    if (!stops.done) throw fromUpstream(err);
  } finally {
    signal.removeEventListener('abort', onAbort);
    upstream.abort();
  }
  // A stop string ends the stream before the worker's last message: count what arrived.
  const prompt = p.promptTokenIds.length;
  const usage = last?.usage ?? { promptTokens: prompt, completionTokens: generatedTokens, totalTokens: prompt + generatedTokens };
  const done = {
    type: 'done' as const,
    finishReason: stops.done ? FinishReason.STOP : (last?.finishReason ?? FinishReason.UNSPECIFIED),
    usage: { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, totalTokens: usage.totalTokens },
    timings: { queueMs: last?.timings?.queueMs ?? 0, timeToFirstTokenMs: last?.timings?.timeToFirstTokenMs ?? 0, decodeMs: last?.timings?.decodeMs ?? 0, totalMs: performance.now() - started },
    model: last?.model ?? model,
    variant: last?.variant ?? '',
  };
  up.completions?.({ requestId: req.requestId, model: done.model, variant: done.variant, finishReason: done.finishReason, usage: done.usage, timings: done.timings });
  yield done;
}
