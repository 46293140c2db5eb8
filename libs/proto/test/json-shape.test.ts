import { create, fromJson, toJson } from '@bufbuild/protobuf';

import { FinishReason, PredictRequestSchema, PredictResponseSchema } from '../src';

// The Connect protocol's JSON is the proto3 JSON mapping: what curl users type must parse.
describe('public API JSON shape', () => {
  it('accepts the README curl body and snake_case or camelCase sampling fields', () => {
    const a = fromJson(PredictRequestSchema, { prompt: 'In the beginning' });
    expect(a.prompt).toBe('In the beginning');
    expect(a.sampling).toBeUndefined();
    const b = fromJson(PredictRequestSchema, { prompt: 'x', sampling: { max_tokens: 32, topP: 0.9, temperature: 0 } });
    expect(b.sampling?.maxTokens).toBe(32);
    expect(b.sampling?.topP).toBeCloseTo(0.9);
    // temperature 0 (greedy) is distinguishable from unset.
    expect(b.sampling?.temperature).toBe(0);
  });

  it('writes finish reasons as their enum names', () => {
    const json = toJson(PredictResponseSchema, create(PredictResponseSchema, { text: 'hi', finishReason: FinishReason.LENGTH }));
    expect(json).toMatchObject({ text: 'hi', finishReason: 'FINISH_REASON_LENGTH' });
  });
});
