import { type Client, Code } from '@connectrpc/connect';
import type { FeedbackService } from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import { submitCheckedFeedback } from '../../pipeline/checked-feedback';
import type { IssuedRequests } from '../../pipeline/issued-requests';
import { bodyFields } from './fields';
import { readJson, sendJson } from './http-json';
import type { RequestContext } from './request-context';

/**
 * POST /feedback — {request_id, rating (-1..1), comment?, model?, variant?, labels?} → {feedback_id}.
 * With `issued`, only for completions the gateway issued (submitCheckedFeedback).
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
  const labels = body['labels'] ?? {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
    throw apiError(Code.InvalidArgument, 'labels', 'must be an object of strings');
  }
  const feedbackId = await submitCheckedFeedback(
    feedback,
    issued,
    {
      requestId: f.string('request_id') ?? '',
      rating: body['rating'],
      comment: f.string('comment') ?? '',
      model: f.string('model') ?? '',
      variant: f.string('variant') ?? '',
      labels: labels as Record<string, string>,
    },
    signal,
  );
  sendJson(res, 200, { feedback_id: feedbackId });
}
