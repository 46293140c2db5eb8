import { resolve } from 'node:path';

import { ModelTokenizer } from '../src/model-tokenizer';

const MODELS = resolve(__dirname, '../../../models');

describe('StreamDecoder with a byte-level tokenizer', () => {
  let tok: ModelTokenizer;
  beforeAll(async () => {
    tok = await ModelTokenizer.load(resolve(MODELS, 'tinyllama'));
  });

  it.each(['plain ascii', 'Crème brûlée', '世界', 'hi 👋🏽 👩‍👩‍👧‍👦!', '\n  leading\tspace'])(
    'emits %j one token at a time, never half a character, and adds up to the full decode',
    (text) => {
      const ids = tok.encode(text);
      const dec = tok.streamDecoder();
      const deltas = ids.map((id) => dec.push([id]));
      deltas.push(dec.flush());
      expect(deltas.join('')).toBe(text);
      for (const d of deltas) expect(d).not.toContain('\uFFFD');
    },
  );

  it('holds the bytes of an incomplete character until it completes', () => {
    const dec = tok.streamDecoder();
    const euro = [...Buffer.from('€', 'utf8')]; // 3 bytes = 3 tokens
    expect(dec.push([euro[0]!])).toBe('');
    expect(dec.push([euro[1]!])).toBe('');
    expect(dec.push([euro[2]!, 33])).toBe('€!');
  });

  it('flushes an incomplete tail as U+FFFD at the end of a stream', () => {
    const dec = tok.streamDecoder();
    expect(dec.push([65, 0xe2, 0x82])).toBe('A');
    expect(dec.flush()).toBe('\uFFFD');
  });

  it('skips special tokens when asked', () => {
    const dec = tok.streamDecoder(true);
    expect(dec.push([104, 256, 105]) + dec.flush()).toBe('hi');
  });
});
