import { type Client, Code, ConnectError } from '@connectrpc/connect';
import { FieldError, type Sampling, validateSampling } from '@tokenmesh/model';
import {
  type ChatMessage,
  FinishReason,
  type GenerateResponse,
  type GenerationService,
  type SamplingParams,
  type Timings,
  type TokenizerService,
  type Usage,
} from '@tokenmesh/proto';

import { apiError, fromUpstream, restError } from '../edge/api-error';
import { checkModelAccess } from '../edge/auth/model-access';
import type { EdgeAdmission } from '../edge/edge-admission';
import { anonymous, type Caller, type RateLimiter, type RateLimitHeaders, type ResponseCache } from '../edge/edge-policy';
import type { SaturationGate } from '../edge/saturation-gate';
import type { CompletionRecord, CompletionSink } from './completion-events';
import { recordCacheOutcome, recordDone, recordRequest } from './generation-attributes';
import type { ServedModelCatalog } from './served-model-catalog';
import { StopMatcher } from './stop-matcher';
import { TokenBytesCache, type TokenLogprob, type WorkerLogprob } from './token-logprobs';

/** The upstream services the gateway calls. */
export interface Upstreams {
  readonly tokenizer: Client<typeof TokenizerService>;
  readonly router: Client<typeof GenerationService>;
  /** Used when a request names no model. */
  readonly defaultModel: string;
  /** What `router` serves, shared by readiness, the cache and the model lists; default: a catalog of its own over `router`. */
  readonly catalog?: ServedModelCatalog;
  /** Told about every completion that finished (not about rejected or abandoned requests). */
  readonly completions?: CompletionSink;
  /**
   * Told about every answer the response cache gave (its own request id, the entry's model and
   * variant): not a generation, so no completion event, but feedback may name it.
   */
  readonly answeredFromCache?: (r: Pick<CompletionRecord, 'requestId' | 'model' | 'variant'>) => void;
  /** Requests and tokens per minute per caller; none = unlimited. */
  readonly limiter?: RateLimiter;
  /** Deterministic requests are answered from it when it has them. */
  readonly cache?: ResponseCache;
  /**
   * Requests with an Idempotency-Key (sampled or not) go through it instead: a retry with the
   * same key, by the same caller, is answered by the first try's generation, which finishes
   * even when its caller left (GATEWAY_IDEMPOTENCY_TTL_S).
   */
  readonly replays?: ResponseCache;
  /** Refuses at once, before any per-request work, while a model's workers were just found full. */
  readonly saturation?: SaturationGate;
  /** Refuses at once, before any per-request work, what is past the capacity the router reports. */
  readonly admission?: EdgeAdmission;
  /**
   * A detokenizer run in this process for models whose tokenizer files the gateway has
   * (GATEWAY_LOCAL_TOKENIZERS); undefined for the others, which go through the tokenizer's
   * DecodeStream.
   */
  readonly localDecoder?: (model: string) => StreamingDecoder | undefined;
}

/** Incremental detokenization of one stream: text completed by each push, never half a character. */
export interface StreamingDecoder {
  push(ids: readonly number[]): string;
  /** What is left at the end (an incomplete character as U+FFFD). */
  flush(): string;
}

/**
 * With stop strings and no streaming reader, the worker sends tokens in groups of this many:
 * few messages, and at most this many tokens generated past a stop string before the gateway
 * cancels the rest.
 */
export const STOP_CHECK_TOKENS = 8;

/** A text request as every front end (REST, OpenAI, gRPC, Connect) hands it over. */
export interface TextRequest {
  readonly requestId: string;
  readonly model: string;
  readonly prompt: string;
  readonly messages: readonly Pick<ChatMessage, 'role' | 'content'>[];
  /** A prompt already in token ids (OpenAI's token prompts): instead of `prompt` and `messages`. */
  readonly promptTokenIds?: readonly number[];
  /** One of the n choices of a prompt: the group its calls share (one worker, one prefill) and how many they are. */
  readonly choiceGroup?: { readonly id: string; readonly size: number };
  /** Where REST callers put those ids (`prompt`, or `prompt[2]` of several); errors name it. Default `prompt`. */
  readonly promptTokenIdsParam?: string;
  readonly sampling: Omit<Partial<SamplingParams>, '$typeName' | '$unknown'>;
  readonly routingKey: string;
  /** The workers' queue priority (lower runs first; 0, interactive, by default): batch lines ask for a later place. */
  readonly priority?: number;
  /** Authenticated caller; anonymous (unknown address) when a front end gives none. */
  readonly caller?: Caller;
  /** Told whether the response came from the cache, before the first event. */
  readonly onCache?: (outcome: 'hit' | 'miss') => void;
  /** Told the caller's rate-limit standing (`x-ratelimit-*`), before the first event. */
  readonly onLimits?: (headers: RateLimitHeaders) => void;
  /**
   * The client's Idempotency-Key (one per choice): tries with the same key share one generation
   * (`Upstreams.replays`). Scoped by the caller: another key's equal value is another request.
   */
  readonly idempotencyKey?: string;
  /**
   * false: the caller answers only once the generation is over (a non-streamed REST answer,
   * Predict), so the worker may send the tokens in as few messages as stop strings allow.
   * Default true.
   */
  readonly stream?: boolean;
}

export type TextEvent =
  /**
   * `model`: what serves it (name@version), once the first upstream message said (absent in older
   * cache entries). `logprobs`: with sampling.logprobs, one per completion token this text
   * completes (a token of an unfinished character is counted with the text that finishes it),
   * with its bytes and, with sampling.top_logprobs, the likeliest tokens at its position.
   */
  | { readonly type: 'text'; readonly text: string; readonly model?: string; readonly logprobs?: TokenLogprob[] }
  | {
      readonly type: 'done';
      readonly finishReason: FinishReason;
      readonly usage: Omit<Usage, '$typeName'>;
      readonly timings: Omit<Timings, '$typeName'>;
      readonly model: string;
      readonly variant: string;
      /** The inference worker that generated it (absent in older cache entries). */
      readonly workerId?: string;
    };

export const MAX_STOP_STRINGS = 4;

function checkShape(req: TextRequest): void {
  const ids = req.promptTokenIds?.length ?? 0;
  if (ids > 0 && (req.prompt !== '' || req.messages.length > 0)) {
    throw apiError(Code.InvalidArgument, 'prompt_token_ids', 'give either prompt_token_ids or prompt / messages, not both');
  }
  if (ids === 0 && (req.prompt === '') === (req.messages.length === 0)) {
    throw req.prompt === ''
      ? apiError(Code.InvalidArgument, 'prompt', 'must not be empty (or give messages)')
      : apiError(Code.InvalidArgument, 'messages', 'give either prompt or messages, not both');
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
    throw apiError(Code.InvalidArgument, err.field, err.detail, err.field === 'prompt' ? 'prompt' : `sampling.${err.field}`);
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
  up.saturation?.admit(model, req.priority ?? 0);
  const release = up.admission?.admit(model);
  // A caller that leaves gives its place back at once, not when the generator is next resumed
  // (its worker slot is freed by the same cancellation, and may be first otherwise).
  if (release) signal.addEventListener('abort', release, { once: true });
  try {
    await up.admission?.turn();
    yield* admitted(req, up, signal, caller, model, release);
  } finally {
    if (release) signal.removeEventListener('abort', release);
    release?.();
  }
}

/** The tokenizer names token prompts `token_ids`; callers gave them as REST's `prompt` or gRPC's `prompt_token_ids`. */
function promptIdsError(err: ConnectError, restParam: string): ConnectError {
  const { param, message } = restError(err);
  const m = param === null ? null : /^token_ids(.*)$/.exec(param);
  if (!m) return err;
  const detail = message.slice(param!.length + 2);
  return apiError(err.code, `${restParam}${m[1]}`, detail, `prompt_token_ids${m[1]}`);
}

/**
 * The model whose tokenizer and chat template a request for `model` uses: a LoRA adapter's base
 * (the router's list names it `parent`), else the model itself.
 */
async function textModel(up: Upstreams, model: string): Promise<string> {
  if (!up.catalog) return model;
  const name = model.split('@')[0];
  // The readiness poll keeps `known` fresh; a name it lacks (a model just added) asks once per TTL.
  const known = up.catalog.known?.find((m) => m.name === name);
  const served = known ?? (await up.catalog.models().catch(() => [])).find((m) => m.name === name);
  return served?.parent || model;
}

/** generateText past the edge's admission: `release` gives its place back early when no worker will be used (a cache hit). */
async function* admitted(req: TextRequest, up: Upstreams, signal: AbortSignal, caller: Caller, model: string, release?: () => void): AsyncGenerator<TextEvent> {
  const requestLimits = await up.limiter?.admitRequest(caller);
  const started = performance.now();
  const text = await textModel(up, model);
  const encoded = await up.tokenizer
    .encode(
      { model: text, text: req.prompt, messages: req.messages.map((m) => ({ role: m.role, content: m.content })), tokenIds: [...(req.promptTokenIds ?? [])] },
      { signal },
    )
    .catch((e: unknown) => Promise.reject(promptIdsError(fromUpstream(e), req.promptTokenIdsParam ?? 'prompt')));
  const sampling = validated(req, encoded.tokenIds.length, encoded.contextLength);
  recordRequest({ requestId: req.requestId, model, chat: req.messages.length > 0, sampling, promptTokens: encoded.tokenIds.length });
  const tokenLimits = await up.limiter?.admitTokens(caller, encoded.tokenIds.length);
  if (requestLimits || tokenLimits) req.onLimits?.({ ...requestLimits, ...tokenLimits });
  const generate = (cancel: AbortSignal, whole: boolean) =>
    generated(req, up, cancel, { model, text, caller, started, promptTokenIds: encoded.tokenIds, sampling, whole });
  const deterministic = sampling.temperature === 0 || req.sampling.seed !== undefined;
  const idempotent = req.idempotencyKey !== undefined && up.replays !== undefined;
  const cache = idempotent ? up.replays : deterministic ? up.cache : undefined;
  if (!cache) {
    req.onCache?.('miss');
    yield* generate(signal, req.stream === false);
    return;
  }
  let hit = false;
  const events = cache.through(
    {
      model,
      routingKey: req.routingKey,
      promptTokenIds: encoded.tokenIds,
      sampling: { ...sampling, stop: [...(req.sampling.stop ?? [])] },
      ...(idempotent && { idempotencyKey: `${caller.keyName}\n${req.idempotencyKey}` }),
    },
    // A cached generation may be tailed live by streamed requests: its tokens come as they are made.
    // Another try of an idempotent request is almost always as streamed as the first.
    (cancel = signal) => generate(cancel, idempotent && req.stream === false),
    (outcome) => {
      recordCacheOutcome(outcome);
      hit = outcome === 'hit';
      if (hit) release?.();
      req.onCache?.(outcome);
    },
    signal,
  );
  // A hit's last event comes from the cache, not from `generated`.
  for await (const e of events) {
    if (e.type === 'done') {
      recordDone(e);
      if (hit) up.answeredFromCache?.({ requestId: req.requestId, model: e.model, variant: e.variant });
    }
    yield e;
  }
}

interface Prepared {
  readonly model: string;
  /** The model whose tokenizer decodes the text (`textModel`). */
  readonly text: string;
  readonly caller: Caller;
  readonly started: number;
  readonly promptTokenIds: readonly number[];
  readonly sampling: Sampling;
  /** Nobody reads the text before the end: tokens may come in few messages. */
  readonly whole: boolean;
}

type Generated = Pick<GenerateResponse, 'tokenIds' | 'logprobs' | 'topLogprobs' | 'finishReason' | 'usage' | 'timings' | 'model' | 'variant' | 'workerId'>;
type TextOut = { readonly type: 'text'; readonly text: string; readonly model?: string; readonly logprobs?: TokenLogprob[] };

/** Token bytes per tokenizer client (one per gateway): logprobs show each token's bytes. */
const tokenBytesCaches = new WeakMap<Upstreams['tokenizer'], TokenBytesCache>();
function tokenBytes(up: Upstreams): TokenBytesCache {
  let c = tokenBytesCaches.get(up.tokenizer);
  if (!c) tokenBytesCaches.set(up.tokenizer, (c = new TokenBytesCache(up.tokenizer)));
  return c;
}

/** Why a generation's upstream calls are cancelled once it is over (shared: no DOMException per request). */
const GENERATION_ENDED = new ConnectError('the generation ended', Code.Canceled);

/** One real generation: router stream → detokenize → stop strings → final event. */
async function* generated(req: TextRequest, up: Upstreams, signal: AbortSignal, p: Prepared): AsyncGenerator<TextEvent> {
  const { model, caller, started, sampling } = p;
  const upstream = new AbortController();
  const onAbort = () => upstream.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const stopStrings = req.sampling.stop ?? [];
  const stops = new StopMatcher(stopStrings);
  // Tokens that count: up to the one that completed a stop string, or all that arrived.
  const counted = { tokens: 0 };
  let last: Generated | undefined;
  // What serves it, from the first message: every chunk of a stream names it, not only the last.
  let served: { model: string } | undefined;
  // With logprobs: what the worker sent, in token order, and those of tokens whose text is not out yet.
  const withLogprobs = sampling.logprobs;
  const received: WorkerLogprob[] = [];
  let pending: WorkerLogprob[] = [];
  // Awaited only when asked for: a generation without logprobs pays no await per message.
  const logprobs = async (): Promise<{ logprobs: TokenLogprob[] }> => {
    const out = pending;
    pending = [];
    return { logprobs: await tokenBytes(up).resolve(p.text, out, upstream.signal) };
  };
  try {
    const tokens = up.router.generate(
      {
        requestId: req.requestId,
        model,
        promptTokenIds: [...p.promptTokenIds],
        routingKey: req.routingKey,
        priority: req.priority ?? 0,
        sampling: { ...sampling, stopTokenIds: [...sampling.stopTokenIds], stop: [] },
        minTokensPerMessage: p.whole ? (stopStrings.length === 0 ? sampling.maxTokens : STOP_CHECK_TOKENS) : 0,
        choiceGroup: req.choiceGroup?.id ?? '',
        choiceGroupSize: req.choiceGroup?.size ?? 0,
      },
      { signal: upstream.signal },
    );
    const onMessage = (m: Generated) => {
      if (!served && m.model) served = { model: m.model };
      if (withLogprobs) m.logprobs.forEach((logprob, i) => received.push({ id: m.tokenIds[i]!, logprob, top: m.topLogprobs[i] }));
      if (m.finishReason !== FinishReason.UNSPECIFIED) last = m;
    };
    const decoder = up.localDecoder?.(p.text);
    const texts = decoder
      ? decodedLocally(tokens, decoder, stops, counted, onMessage)
      : decodedRemotely(tokens, up, p.text, stops, counted, onMessage, upstream.signal);
    for await (const t of texts) {
      up.limiter?.charge(caller, t.tokens);
      if (withLogprobs) pending.push(...received.splice(0, t.tokens));
      if (t.text) yield { type: 'text', text: t.text, ...served, ...(withLogprobs && (await logprobs())) } satisfies TextOut;
      if (stops.done) break;
    }
    const tail = stops.flush();
    if (tail || pending.length > 0) yield { type: 'text', text: tail, ...served, ...(withLogprobs && (await logprobs())) } satisfies TextOut;
  } catch (err) {
    if (!stops.done) {
      up.saturation?.observe(model, err, req.priority ?? 0);
      throw fromUpstream(err);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    upstream.abort(GENERATION_ENDED);
  }
  // A stop string ends the stream before the worker's last message: count what it used.
  const prompt = p.promptTokenIds.length;
  const usage = stops.done || !last?.usage ? { promptTokens: prompt, completionTokens: counted.tokens, totalTokens: prompt + counted.tokens } : last.usage;
  const done = {
    type: 'done' as const,
    finishReason: stops.done ? FinishReason.STOP : (last?.finishReason ?? FinishReason.UNSPECIFIED),
    usage: { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, totalTokens: usage.totalTokens },
    timings: {
      queueMs: last?.timings?.queueMs ?? 0,
      timeToFirstTokenMs: last?.timings?.timeToFirstTokenMs ?? 0,
      decodeMs: last?.timings?.decodeMs ?? 0,
      totalMs: performance.now() - started,
    },
    model: last?.model ?? model,
    variant: last?.variant ?? '',
    workerId: last?.workerId ?? '',
  };
  recordDone(done);
  up.completions?.({
    requestId: req.requestId,
    model: done.model,
    variant: done.variant,
    finishReason: done.finishReason,
    usage: done.usage,
    timings: done.timings,
  });
  yield done;
}

/** Text released by one upstream message, and the tokens of it that count. */
interface Released {
  readonly text: string;
  readonly tokens: number;
}

/**
 * Detokenizes in this process, one message (however many tokens it carries) at a time. With stop
 * strings each token's text goes through the matcher on its own, so the tokens counted end at
 * the one that completed the stop string, wherever the message boundaries fall.
 */
async function* decodedLocally(
  messages: AsyncIterable<Generated>,
  decoder: StreamingDecoder,
  stops: StopMatcher,
  counted: { tokens: number },
  onMessage: (m: Generated) => void,
): AsyncGenerator<Released> {
  for await (const m of messages) {
    onMessage(m);
    let text = '';
    let tokens = 0;
    if (stops.active) {
      for (const id of m.tokenIds) {
        tokens++;
        text += stops.push(decoder.push([id]));
        if (stops.done) break;
      }
    } else {
      tokens = m.tokenIds.length;
      text = decoder.push(m.tokenIds);
    }
    counted.tokens += tokens;
    yield { text, tokens };
    if (stops.done) return;
  }
  yield { text: stops.push(decoder.flush()), tokens: 0 };
}

/**
 * Detokenizes through the tokenizer service's DecodeStream, which answers every message in order.
 * With stop strings each token goes in a message of its own, so the tokens counted end at the one
 * that completed the stop string, as when decoding locally.
 */
async function* decodedRemotely(
  messages: AsyncIterable<Generated>,
  up: Upstreams,
  model: string,
  stops: StopMatcher,
  counted: { tokens: number },
  onMessage: (m: Generated) => void,
  signal: AbortSignal,
): AsyncGenerator<Released> {
  const sent: number[] = [];
  async function* ids() {
    let first = true;
    for await (const m of messages) {
      onMessage(m);
      const groups = stops.active ? m.tokenIds.map((id) => [id]) : m.tokenIds.length > 0 ? [m.tokenIds] : [];
      for (const tokenIds of groups) {
        sent.push(tokenIds.length);
        yield { model: first ? model : '', tokenIds };
        first = false;
      }
    }
  }
  for await (const d of up.tokenizer.decodeStream(ids(), { signal })) {
    const tokens = sent.shift() ?? 0;
    counted.tokens += tokens;
    yield { text: stops.push(d.text), tokens };
    if (stops.done) return;
  }
}
