import { randomUUID } from 'node:crypto';

import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { InferenceService, type PredictRequest, type StreamPredictRequest } from '@tokenmesh/proto';

import { modelAllowed } from '../../edge/auth/model-access';
import { callerIn } from '../../edge/auth/request-caller';
import { DEFAULT_REQUEST_TIMEOUT_MS, startDeadline, underDeadline } from '../../edge/deadline';
import { generateText, type TextEvent, type TextRequest, type Upstreams } from '../../pipeline/generate-text';
import { byName, routerCatalog } from '../../pipeline/served-model-catalog';
import type { TokenLogprob } from '../../pipeline/token-logprobs';

function textRequest(req: PredictRequest | StreamPredictRequest, ctx: HandlerContext, stream: boolean): TextRequest {
  return {
    stream,
    requestId: req.requestId || ctx.requestHeader.get('x-request-id') || randomUUID(),
    model: req.model,
    prompt: req.prompt,
    messages: req.messages,
    promptTokenIds: req.promptTokenIds,
    sampling: req.sampling ?? {},
    routingKey: req.routingKey,
    caller: callerIn(ctx),
    onCache: (o) => ctx.responseHeader.set('x-tokenmesh-cache', o),
    onLimits: (headers) => Object.entries(headers).forEach(([name, value]) => ctx.responseHeader.set(name, value)),
  };
}

/**
 * The public InferenceService over gRPC, Connect and gRPC-Web: the same path as the REST API.
 * Errors keep their codes (INVALID_ARGUMENT naming the field, NOT_FOUND for a model).
 */
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

export function inferenceService(up: Upstreams, opts: { readonly requestTimeoutMs?: number } = {}): ServiceImpl<typeof InferenceService> {
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const catalog = up.catalog ?? routerCatalog(up.router);
  // GATEWAY_REQUEST_TIMEOUT_MS under the call's own signal: a shorter caller deadline aborts
  // first (Connect answers it); ours cancels upstream and answers DEADLINE_EXCEEDED.
  const generate = (r: TextRequest, ctx: HandlerContext) => {
    const deadline = startDeadline(timeoutMs, ctx.signal);
    return underDeadline(generateText(r, up, deadline.signal), deadline);
  };
  return {
    async predict(req, ctx) {
      const r = textRequest(req, ctx, false);
      let text = '';
      const logprobs: TokenLogprob[] = [];
      for await (const e of generate(r, ctx)) {
        if (e.type === 'text') {
          text += e.text;
          if (e.logprobs) logprobs.push(...e.logprobs);
        } else return { text, ...finalFields(e, r.requestId), ...protoLogprobs(logprobs) };
      }
      throw new Error('generation ended without a final event');
    },

    async *streamPredict(req, ctx) {
      const r = textRequest(req, ctx, true);
      for await (const e of generate(r, ctx)) {
        if (e.type === 'text') yield { text: e.text, requestId: r.requestId, ...(e.logprobs && protoLogprobs(e.logprobs)) };
        else yield finalFields(e, r.requestId);
      }
    },

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
