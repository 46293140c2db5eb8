import { randomUUID } from 'node:crypto';

import type { MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { InferenceService, type PredictRequest, type StreamPredictRequest, type StreamPredictResponseSchema } from '@tokenmesh/proto';

import { modelAllowed } from '../../edge/auth/model-access';
import { callerIn } from '../../edge/auth/request-caller';
import { DEFAULT_REQUEST_TIMEOUT_MS, startDeadline, underDeadline } from '../../edge/deadline';
import type { Caller } from '../../edge/edge-policy';
import { generateText, type TextEvent, type TextRequest, type Upstreams } from '../../pipeline/generate-text';
import { byName, routerCatalog } from '../../pipeline/served-model-catalog';
import type { TokenLogprob } from '../../pipeline/token-logprobs';

/** What a Predict or StreamPredict call gives the pipeline, from Connect's context or the frame handler's. */
export interface PredictCall {
  readonly signal: AbortSignal;
  readonly requestHeader: Headers;
  readonly responseHeader: Headers;
  readonly caller: Caller;
}

function textRequest(req: PredictRequest | StreamPredictRequest, call: PredictCall, stream: boolean): TextRequest {
  return {
    stream,
    requestId: req.requestId || call.requestHeader.get('x-request-id') || randomUUID(),
    model: req.model,
    prompt: req.prompt,
    messages: req.messages,
    promptTokenIds: req.promptTokenIds,
    sampling: req.sampling ?? {},
    routingKey: req.routingKey,
    caller: call.caller,
    onCache: (o) => call.responseHeader.set('x-tokenmesh-cache', o),
    onLimits: (headers) => Object.entries(headers).forEach(([name, value]) => call.responseHeader.set(name, value)),
  };
}

const connectCall = (ctx: HandlerContext): PredictCall => ({
  signal: ctx.signal,
  requestHeader: ctx.requestHeader,
  responseHeader: ctx.responseHeader,
  caller: callerIn(ctx),
});

/** PredictResponse's logprobs fields: one log-probability per token, and its likeliest tokens when asked. */
function protoLogprobs(tokens: readonly TokenLogprob[]): { logprobs: number[]; topLogprobs: { tokenIds: number[]; logprobs: number[] }[] } {
  return {
    logprobs: tokens.map((t) => t.logprob),
    topLogprobs: tokens.some((t) => t.top)
      ? tokens.map((t) => ({ tokenIds: (t.top ?? []).map((a) => a.id), logprobs: (t.top ?? []).map((a) => a.logprob) }))
      : [],
  };
}

/** What Predict's answer and StreamPredict's last chunk say of the generation. */
function finalFields(e: Extract<TextEvent, { type: 'done' }>, requestId: string) {
  return { finishReason: e.finishReason, usage: e.usage, timings: e.timings, model: e.model, variant: e.variant, workerId: e.workerId ?? '', requestId };
}

/**
 * StreamPredict's responses for one call: the Connect handler's, and the gRPC frame handler's
 * (stream-predict-frames.ts). `caller` is awaited first: the frame handler authenticates there.
 */
export function streamPredictResponses(
  up: Upstreams,
  opts: { readonly requestTimeoutMs?: number } = {},
): (
  req: StreamPredictRequest,
  call: Omit<PredictCall, 'caller'> & { caller: () => Promise<Caller> },
) => AsyncGenerator<MessageInitShape<typeof StreamPredictResponseSchema>> {
  const generate = underRequestTimeout(up, opts);
  return async function* streamPredict(req, call) {
    const r = textRequest(req, { ...call, caller: await call.caller() }, true);
    for await (const e of generate(r, call.signal)) {
      if (e.type === 'text') yield { text: e.text, requestId: r.requestId, ...(e.logprobs && protoLogprobs(e.logprobs)) };
      else yield finalFields(e, r.requestId);
    }
  };
}

/**
 * GATEWAY_REQUEST_TIMEOUT_MS under the call's own signal: a shorter caller deadline aborts first
 * (Connect answers it); ours cancels upstream and answers DEADLINE_EXCEEDED.
 */
function underRequestTimeout(up: Upstreams, opts: { readonly requestTimeoutMs?: number }) {
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return (r: TextRequest, signal: AbortSignal) => {
    const deadline = startDeadline(timeoutMs, signal);
    return underDeadline(generateText(r, up, deadline.signal), deadline);
  };
}

/**
 * The public InferenceService over gRPC, Connect and gRPC-Web: the same path as the REST API.
 * Errors keep their codes (INVALID_ARGUMENT naming the field, NOT_FOUND for a model).
 */
export function inferenceService(up: Upstreams, opts: { readonly requestTimeoutMs?: number } = {}): ServiceImpl<typeof InferenceService> {
  const catalog = up.catalog ?? routerCatalog(up.router);
  const generate = underRequestTimeout(up, opts);
  const streamPredict = streamPredictResponses(up, opts);
  return {
    async predict(req, ctx) {
      const r = textRequest(req, connectCall(ctx), false);
      let text = '';
      const logprobs: TokenLogprob[] = [];
      for await (const e of generate(r, ctx.signal)) {
        if (e.type === 'text') {
          text += e.text;
          if (e.logprobs) logprobs.push(...e.logprobs);
        } else return { text, ...finalFields(e, r.requestId), ...protoLogprobs(logprobs) };
      }
      throw new Error('generation ended without a final event');
    },

    streamPredict: (req, ctx) => streamPredict(req, { ...connectCall(ctx), caller: () => Promise.resolve(callerIn(ctx)) }),

    async listModels(_req, ctx) {
      // Asked now, under the caller's own deadline (no timeout of ours).
      const models = await catalog.listing({ signal: ctx.signal, timeoutMs: undefined });
      // As GET /v1/models: a key limited to some models sees only those versions.
      const allowed = callerIn(ctx).allowedModels;
      const visible = allowed ? models.filter((m) => modelAllowed(allowed, `${m.name}@${m.version}`)) : models;
      return {
        models: [...byName(visible)].map(([name, e]) => ({
          name,
          versions: e.versions.map((v) => v.version),
          contextLength: e.contextLength,
          workers: e.workers,
        })),
      };
    },
  };
}
