import { create, toBinary } from '@bufbuild/protobuf';
import { SUBJECTS } from '@tokenmesh/bus';
import { FeedbackEventSchema } from '@tokenmesh/proto';

import { decodeReportEvent, float32ToDecimal } from '../src/stream-events';

const feedbackEvent = (rating: number, feedbackId = 'f1') =>
  toBinary(
    FeedbackEventSchema,
    create(FeedbackEventSchema, { feedbackId, requestId: 'r1', model: 'm', variant: 'v', rating, labels: { a: 'b' }, receivedAtUnixMs: 1000n }),
  );

describe('events as the report reads them', () => {
  it.each([0.3, -0.7, 0.25, 1, -1, 0, 0.123])('a rating of %p comes back from the proto float as the decimal sent', (rating) => {
    expect(float32ToDecimal(Math.fround(rating))).toBe(rating);
    expect(decodeReportEvent(SUBJECTS.feedback, feedbackEvent(rating))).toEqual({
      kind: 'feedback',
      feedback: { feedbackId: 'f1', requestId: 'r1', model: 'm', variant: 'v', rating, comment: '', labels: { a: 'b' }, receivedAtMs: 1000 },
    });
  });

  it('leaves a double that is no float as it is', () => {
    expect(float32ToDecimal(0.3)).toBe(0.3);
  });

  it('names what is wrong with a malformed event and ignores other subjects', () => {
    expect(decodeReportEvent(SUBJECTS.feedback, feedbackEvent(0.5, ''))).toEqual({ kind: 'malformed', why: 'feedback_id is empty' });
    expect(decodeReportEvent(SUBJECTS.feedback, feedbackEvent(2))).toEqual({ kind: 'malformed', why: 'rating 2 is outside [-1, 1]' });
    expect(decodeReportEvent(SUBJECTS.completion, new Uint8Array([1, 2]))).toMatchObject({
      kind: 'malformed',
      why: expect.stringContaining('cannot decode it'),
    });
    expect(decodeReportEvent('tokenmesh.events.other', new Uint8Array([1]))).toEqual({ kind: 'other' });
  });
});
