import { fromBinary } from '@bufbuild/protobuf';
import { SUBJECTS } from '@tokenmesh/bus';
import { CompletionEventSchema, FeedbackEventSchema } from '@tokenmesh/proto';

import type { CompletionFacts, StoredFeedback } from './aggregates';

/** What an event on the events stream means for the report. */
export type ReportEvent =
  | { readonly kind: 'completion'; readonly completion: CompletionFacts }
  | { readonly kind: 'feedback'; readonly feedback: StoredFeedback }
  /** Not a report event (another subject). */
  | { readonly kind: 'other' }
  /** A report event no retry can make sense of; `why` names the field. */
  | { readonly kind: 'malformed'; readonly why: string };

/**
 * `rating` is a proto `float`: 0.3 comes back as 0.30000001192…. The shortest decimal that is
 * the same float is what the client sent (ratings are typed by people), so a rebuilt mean equals
 * the one the submission counted.
 */
export function float32ToDecimal(x: number): number {
  for (let digits = 1; digits <= 9; digits++) {
    const d = Number(x.toPrecision(digits));
    if (Math.fround(d) === x) return d;
  }
  return x;
}

function decodeFeedback(data: Uint8Array): ReportEvent {
  const e = fromBinary(FeedbackEventSchema, data);
  if (!e.feedbackId) return { kind: 'malformed', why: 'feedback_id is empty' };
  const rating = float32ToDecimal(e.rating);
  if (!Number.isFinite(rating) || rating < -1 || rating > 1) return { kind: 'malformed', why: `rating ${e.rating} is outside [-1, 1]` };
  return {
    kind: 'feedback',
    feedback: {
      feedbackId: e.feedbackId,
      requestId: e.requestId,
      model: e.model,
      variant: e.variant,
      rating,
      comment: e.comment,
      labels: { ...e.labels },
      receivedAtMs: Number(e.receivedAtUnixMs),
    },
  };
}

function decodeCompletion(data: Uint8Array): ReportEvent {
  const e = fromBinary(CompletionEventSchema, data);
  if (!e.requestId) return { kind: 'malformed', why: 'request_id is empty' };
  return {
    kind: 'completion',
    completion: {
      requestId: e.requestId,
      model: e.model,
      variant: e.variant,
      completionTokens: e.usage?.completionTokens ?? 0,
      totalMs: e.timings?.totalMs ?? 0,
    },
  };
}

/** Decodes a completion or feedback event; never throws. */
export function decodeReportEvent(subject: string, data: Uint8Array): ReportEvent {
  try {
    if (subject === SUBJECTS.completion) return decodeCompletion(data);
    if (subject === SUBJECTS.feedback) return decodeFeedback(data);
    return { kind: 'other' };
  } catch (err) {
    return { kind: 'malformed', why: `cannot decode it: ${(err as Error).message}` };
  }
}

/** The subjects a rebuild replays. */
export const REPORT_SUBJECTS = [SUBJECTS.completion, SUBJECTS.feedback];
