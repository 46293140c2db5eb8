import { FieldError, validateSampling } from '../src';

const limits = { promptTokens: 10, contextLength: 512, vocabSize: 257 };

describe('validateSampling', () => {
  it('applies defaults', () => {
    expect(validateSampling({}, limits)).toEqual({
      maxTokens: 16,
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      repetitionPenalty: 1,
      presencePenalty: 0,
      frequencyPenalty: 0,
      logitBias: {},
      seed: undefined,
      stopTokenIds: [],
      logprobs: false,
      guidedJson: '',
      topLogprobs: 0,
    });
    // The default shrinks to what fits in the context.
    expect(validateSampling({}, { ...limits, promptTokens: 505 }).maxTokens).toBe(7);
  });

  it('keeps temperature 0 (greedy) and takes the whole remaining context', () => {
    const s = validateSampling({ temperature: 0, maxTokens: 502, seed: 7 }, limits);
    expect(s).toMatchObject({ temperature: 0, maxTokens: 502, seed: 7n });
  });

  it.each([
    [{ maxTokens: 0 }, 'max_tokens', 'must be an integer >= 1, got 0'],
    [{ maxTokens: 503 }, 'max_tokens', 'must be at most 502 (context 512 - prompt 10 tokens), got 503'],
    [{ maxTokens: 1.5 }, 'max_tokens', 'must be an integer >= 1'],
    [{ temperature: -0.1 }, 'temperature', 'must be in [0, 2], got -0.1'],
    [{ temperature: NaN }, 'temperature', 'must be a finite number, got NaN'],
    [{ topP: 0 }, 'top_p', 'must be in (0, 1], got 0'],
    [{ topP: 1.01 }, 'top_p', 'must be in (0, 1], got 1.01'],
    [{ topK: -1 }, 'top_k', 'must be an integer >= 0, got -1'],
    [{ minP: 2 }, 'min_p', 'must be in [0, 1], got 2'],
    [{ repetitionPenalty: 0 }, 'repetition_penalty', 'must be in (0, 10], got 0'],
    [{ seed: -1 }, 'seed', 'must be in [0, 2^64), got -1'],
    [{ stopTokenIds: [1, 300] }, 'stop_token_ids[1]', 'must be a token id in [0, 257), got 300'],
    [{ topLogprobs: 21, logprobs: true }, 'top_logprobs', 'must be an integer in [0, 20], got 21'],
    [{ topLogprobs: 2 }, 'top_logprobs', 'needs logprobs: true, got 2 without it'],
    [{ guidedJson: '{"type": "object"' }, 'guided_json', 'must be JSON Schema as JSON text'],
    [{ guidedJson: JSON.stringify({ description: 'x'.repeat(65_536) }) }, 'guided_json', 'must be at most 65536 bytes, got 65554'],
    [{ guidedJson: '{"type": "string", "format": "date"}' }, 'guided_json', 'unsupported schema: "format" is not supported'],
    [
      { guidedJson: '{"type": "string", "minLength": 40}', maxTokens: 41 },
      'max_tokens',
      "must be at least 42 with guided_json: the schema's shortest document is 42 tokens, got 41",
    ],
  ])('rejects %j naming %s', (input, field, message) => {
    let err: unknown;
    try {
      validateSampling(input, limits);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FieldError);
    expect((err as FieldError).field).toBe(field);
    expect((err as FieldError).message).toContain(message);
  });

  it('gives a guided request what fits in the context unless max_tokens says otherwise', () => {
    expect(validateSampling({ guidedJson: '{"type": "object"}' }, limits).maxTokens).toBe(502);
    expect(validateSampling({ guidedJson: '{"type": "object"}', maxTokens: 20 }, limits).maxTokens).toBe(20);
  });

  it('rejects an empty prompt and a prompt that fills the context', () => {
    expect(() => validateSampling({}, { ...limits, promptTokens: 0 })).toThrow('prompt: must not be empty');
    expect(() => validateSampling({}, { ...limits, promptTokens: 512 })).toThrow("prompt: is 512 tokens; the model's context is 512 tokens");
  });
});
