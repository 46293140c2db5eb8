import { type Client, Code } from '@connectrpc/connect';
import type { FeedbackService } from '@tokenmesh/proto';

import { apiError, fromUpstream } from '../edge/api-error';
import type { IssuedRequest, IssuedRequests } from './issued-requests';

/** Feedback on one completion, as REST's `/feedback` body or Connect's SubmitFeedbackRequest gives it. */
export interface FeedbackInput {
  readonly requestId: string;
  /** The rating as given: anything but a number in [-1, 1] is refused naming `rating`. */
  readonly rating: unknown;
  readonly comment: string;
  readonly model: string;
  readonly variant: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The served model and variant of `requestId`: 404 naming request_id when the gateway did not issue it. */
async function issuedRequest(issued: IssuedRequests, requestId: string): Promise<IssuedRequest> {
  const found = await issued.lookup(requestId).catch((err: unknown) => {
    throw apiError(Code.Unavailable, null, `feedback cannot be checked now (the store is unavailable: ${(err as Error).message})`);
  });
  if (!found) throw apiError(Code.NotFound, 'request_id', `${JSON.stringify(requestId)} is not a completion this gateway issued (or it is too old)`);
  return found;
}

/**
 * Checks feedback and passes it to the feedback service; resolves with its feedback id. With
 * `issued`, only for completions the gateway issued, and model and variant come from the
 * completion: naming another model or variant is INVALID_ARGUMENT naming the field. One path for
 * REST and Connect, so a browser's thumbs-up is held to the same rules as a POST /feedback.
 */
export async function submitCheckedFeedback(
  feedback: Client<typeof FeedbackService>,
  issued: IssuedRequests | undefined,
  input: FeedbackInput,
  signal: AbortSignal,
): Promise<string> {
  const { requestId, rating } = input;
  if (!requestId) throw apiError(Code.InvalidArgument, 'request_id', 'is required (the request_id of the completion)');
  if (typeof rating !== 'number' || !(rating >= -1 && rating <= 1))
    throw apiError(Code.InvalidArgument, 'rating', `must be a number in [-1, 1], got ${JSON.stringify(rating)}`);
  let { model, variant } = input;
  if (issued) {
    const served = await issuedRequest(issued, requestId);
    if (model && model !== served.model)
      throw apiError(Code.InvalidArgument, 'model', `request ${requestId} was served by ${served.model}, not ${JSON.stringify(model)}`);
    if (variant && variant !== served.variant)
      throw apiError(Code.InvalidArgument, 'variant', `request ${requestId} was served by variant ${served.variant}, not ${JSON.stringify(variant)}`);
    ({ model, variant } = served);
  }
  const out = await feedback
    .submitFeedback({ requestId, rating, comment: input.comment, model, variant, labels: { ...input.labels } }, { signal })
    .catch((e: unknown) => Promise.reject(fromUpstream(e)));
  return out.feedbackId;
}
