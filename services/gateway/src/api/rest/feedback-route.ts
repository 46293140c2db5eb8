import { type Client, Code } from '@connectrpc/connect';
import type { FeedbackService } from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError, fromUpstream } from '../../edge/api-error';
import { bodyFields } from './fields';
import { readJson, sendJson } from './http-json';
import type { RequestContext } from './request-context';

/** POST /feedback — {request_id, rating (-1..1), comment?, model?, variant?, labels?} → {feedback_id}. */
export async function feedbackRoute(
  req: HttpRequest,
  res: HttpResponse,
  { signal }: RequestContext,
  feedback: Client<typeof FeedbackService>,
  bodyLimit: number,
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
  const out = await feedback
    .submitFeedback(
      {
        requestId,
        rating,
        comment: f.string('comment') ?? '',
        model: f.string('model') ?? '',
        variant: f.string('variant') ?? '',
        labels: labels as Record<string, string>,
      },
      { signal },
    )
    .catch((e: unknown) => Promise.reject(fromUpstream(e)));
  sendJson(res, 200, { feedback_id: out.feedbackId });
}
