import { chatLogprobs, CompletionLogprobs } from '../../../src/api/rest/openai-logprobs';
import type { TokenLogprob } from '../../../src/pipeline/token-logprobs';

const token = (bytes: number[], logprob = -1, special = false): TokenLogprob => ({ id: bytes[0] ?? 0, bytes, special, logprob });

describe('OpenAI logprobs shapes', () => {
  it('completions: offsets where each token starts, a token inside a character where the character does, chunk after chunk', () => {
    // "aé" then a lone lead byte the next token does not continue, then "b": the text is "aé\ufffdb".
    const lp = new CompletionLogprobs(0);
    const first = lp.next([token([0x61]), token([0xc3])]);
    const second = lp.next([token([0xa9]), token([0xe2]), token([0x62]), token([], -0.1, true)]);
    expect(first['text_offset']).toEqual([0, 1]);
    expect(second['text_offset']).toEqual([1, 2, 3]);
    // End-of-text is no token of the text.
    expect(second['tokens']).toEqual(['\ufffd', '\ufffd', 'b']);
  });

  it('completions: an echoed prompt shifts the offsets; top_logprobs holds the alternatives and the chosen token', () => {
    const t = { ...token([0x61], -0.5), top: [token([0x62], -0.2), token([0x63], -2)] };
    expect(new CompletionLogprobs(6).next([t])).toEqual({
      tokens: ['a'],
      token_logprobs: [-0.5],
      top_logprobs: [{ b: -0.2, c: -2, a: -0.5 }],
      text_offset: [6],
    });
  });

  it('chat: content entries with bytes and alternatives, special tokens left out', () => {
    const t = { ...token([0xc3], -0.3), top: [token([0xc3], -0.3)] };
    expect(chatLogprobs([t, token([], 0, true)])).toEqual({
      content: [{ token: '\ufffd', logprob: -0.3, bytes: [0xc3], top_logprobs: [{ token: '\ufffd', logprob: -0.3, bytes: [0xc3] }] }],
      refusal: null,
    });
  });
});
