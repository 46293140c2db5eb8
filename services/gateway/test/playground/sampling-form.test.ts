import { FieldError, samplingFrom } from '../../web/playground/sampling-form';

const EMPTY = { temperature: '', topP: '', topK: '', maxTokens: '', seed: '', stop: '' };

describe('playground sampling controls', () => {
  it('sends only what is typed (the rest takes the serving defaults), seed as int64, stop strings one per line', () => {
    expect(samplingFrom(EMPTY)).toEqual({});
    expect(samplingFrom({ temperature: '0.7', topP: '0.9', topK: '40', maxTokens: '64', seed: '11', stop: '\n\nThe end\n' })).toEqual({
      temperature: 0.7,
      topP: 0.9,
      topK: 40,
      maxTokens: 64,
      seed: 11n,
      stop: ['The end'],
    });
  });

  it('refuses what is not a number, naming the control; ranges are left to the gateway', () => {
    expect(() => samplingFrom({ ...EMPTY, maxTokens: '6.5' })).toThrow(new FieldError('Max tokens', 'must be an integer, got "6.5"'));
    expect(() => samplingFrom({ ...EMPTY, temperature: 'hot' })).toThrow('Temperature: must be a number, got "hot"');
    expect(samplingFrom({ ...EMPTY, topP: '7' })).toEqual({ topP: 7 });
  });
});
