import { randomUUID } from 'node:crypto';

import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { FeedbackService, type SubmitFeedbackRequest } from '@tokenmesh/proto';

import type { FeedbackAggregates, StoredFeedback } from './aggregates';
import { float32ToDecimal } from './stream-events';

export const MAX_COMMENT_CHARS = 4096;
export const MAX_LABELS = 32;

function invalid(field: string, detail: string): ConnectError {
  return new ConnectError(`${field}: ${detail}`, Code.InvalidArgument);
}

function validate(req: SubmitFeedbackRequest): void {
  if (!req.requestId) throw invalid('request_id', 'is required (the request_id of the completion)');
  if (!Number.isFinite(req.rating) || req.rating < -1 || req.rating > 1) throw invalid('rating', `must be in [-1, 1], got ${req.rating}`);
  if (req.comment.length > MAX_COMMENT_CHARS) throw invalid('comment', `must be at most ${MAX_COMMENT_CHARS} characters, got ${req.comment.length}`);
  if (Object.keys(req.labels).length > MAX_LABELS) throw invalid('labels', `at most ${MAX_LABELS} labels`);
}

export interface FeedbackServiceOptions {
  /** Told about each stored feedback (it goes out as an event); must not throw. */
  readonly onFeedback?: (f: StoredFeedback) => void;
  readonly now?: () => number;
}

/** FeedbackService: validated feedback into the store; reports from the running totals. */
export function feedbackService(
  aggregates: FeedbackAggregates,
  { onFeedback, now = Date.now }: FeedbackServiceOptions = {},
): ServiceImpl<typeof FeedbackService> {
  return {
    async submitFeedback(req) {
      validate(req);
      const feedbackId = randomUUID();
      const stored: StoredFeedback = {
        feedbackId,
        requestId: req.requestId,
        model: req.model,
        variant: req.variant,
        // A proto float: counted as the decimal the client sent, as a rebuild from its event counts it.
        rating: float32ToDecimal(req.rating),
        comment: req.comment,
        labels: { ...req.labels },
        receivedAtMs: now(),
      };
      await aggregates.record(stored);
      onFeedback?.(stored);
      return { feedbackId };
    },

    async getReport(req) {
      const totals = await aggregates.totals(req.model || undefined);
      return {
        variants: totals.map((t) => ({
          model: t.model,
          variant: t.variant,
          completions: BigInt(t.completions),
          completionTokens: BigInt(t.completionTokens),
          latencyP50Ms: t.latencyP50Ms,
          latencyP99Ms: t.latencyP99Ms,
          feedbackCount: BigInt(t.feedbackCount),
          meanRating: t.meanRating,
        })),
      };
    },
  };
}
