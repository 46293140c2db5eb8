import { type Client, Code } from '@connectrpc/connect';
import type { FeedbackService } from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError, fromUpstream } from '../../edge/api-error';
import type { IssuedRequest, IssuedRequests } from '../../pipeline/issued-requests';
import { bodyFields } from './fields';
import { readJson, sendJson } from './http-json';
import type { RequestContext } from './request-context';

/** The served model and variant of `requestId`: 404 naming request_id when the gateway did not issue it. */
async function issuedRequest(issued: IssuedRequests, requestId: string): Promise<IssuedRequest> {
  const found = await issued.lookup(requestId).catch((err: unknown) => {
    throw apiError(Code.Unavailable, null, `feedback cannot be checked now (the store is unavailable: ${(err as Error).message})`);
  });
  if (!found) throw apiError(Code.NotFound, 'request_id', `${JSON.stringify(requestId)} is not a completion this gateway issued (or it is too old)`);
  return found;
}

/**
 * POST /feedback — {request_id, rating (-1..1), comment?, model?, variant?, labels?} → {feedback_id}.
 * With `issued`, only for completions the gateway issued, and model and variant come from the
 * completion: a body naming another model or variant is a 400 naming the field.
 */
export async function feedbackRoute(
  req: HttpRequest,
  res: HttpResponse,
  { signal }: RequestContext,
  feedback: Client<typeof FeedbackService>,
  bodyLimit: number,
  issued?: IssuedRequests,
): Promise<void> {
  const body = await readJson(req, bodyLimit);
  const f = bodyFields(body);
  const requestId = f.string('request_id');
  if (!requestId) throw apiError(Code.InvalidArgument, 'request_id', 'is required (the request_id of the completion)');
  const rating = f.number('rating');
  if (rating === undefined || !(rating >= -1 && rating <= 1))
    throw apiError(Code.InvalidArgument, 'rating', `must be a number in [-1, 1], got ${JSON.stringify(body['rating'])}`);
  const labels = body['labels'] ?? {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
    throw apiError(Code.InvalidArgument, 'labels', 'must be an object of strings');
  }
  let model = f.string('model') ?? '';
  let variant = f.string('variant') ?? '';
  if (issued) {
    const served = await issuedRequest(issued, requestId);
    if (model && model !== served.model)
      throw apiError(Code.InvalidArgument, 'model', `request ${requestId} was served by ${served.model}, not ${JSON.stringify(model)}`);
    if (variant && variant !== served.variant)
      throw apiError(Code.InvalidArgument, 'variant', `request ${requestId} was served by variant ${served.variant}, not ${JSON.stringify(variant)}`);
    ({ model, variant } = served);
  }
  const out = await feedback
    .submitFeedback(
      {
        requestId,
        rating,
        comment: f.string('comment') ?? '',
        model,
        variant,
        labels: labels as Record<string, string>,
      },
      { signal },
    )
    .catch((e: unknown) => Promise.reject(fromUpstream(e)));
  sendJson(res, 200, { feedback_id: out.feedbackId });
}
