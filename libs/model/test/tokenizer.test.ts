import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';

import { loadReference } from '../src';
import { COMMITTED, modelDir } from './committed-models';

const SAMPLES: Record<string, string> = {
  ascii: 'Hello, world! 123',
  accents: 'Ça va? Crème brûlée, naïve façade, Ångström',
  cjk: '你好，世界。日本語のテキスト',
  'emoji with skin tone': 'waving 👋🏽 thumbs 👍🏿',
  'ZWJ sequences': 'family 👩‍👩‍👧‍👦 and 🏳️‍🌈 flag',
  'leading spaces': '   three leading spaces',
  newlines: 'line one\nline two\r\n\n\ttabbed\n',
  'lone space': ' ',
};

function load(name: string): Tokenizer {
  const read = (f: string) => JSON.parse(readFileSync(join(modelDir(name), f), 'utf8')) as object;
  return new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
}

describe.each(COMMITTED)('%s tokenizer.json with @huggingface/tokenizers', (name) => {
  const tok = load(name);

  it.each(Object.entries(SAMPLES))('round-trips %s exactly, one token per UTF-8 byte', (_, text) => {
    const { ids } = tok.encode(text);
    expect(ids).toEqual([...Buffer.from(text, 'utf8')]);
    expect(tok.decode(ids)).toBe(text);
  });

  it('maps <|endoftext|> to id 256 and back', () => {
    expect(tok.encode('<|endoftext|>').ids).toEqual([256]);
    expect(tok.encode('a<|endoftext|>b').ids).toEqual([97, 256, 98]);
    expect(tok.decode([256])).toBe('<|endoftext|>');
    expect(tok.decode([104, 256, 105], { skip_special_tokens: true })).toBe('hi');
  });

  it("encodes the reference prompts to the reference's input ids", async () => {
    const ref = await loadReference(modelDir(name));
    for (const c of ref.cases) {
      c.prompts.forEach((p, r) => {
        const unpadded = c.input_ids[r]!.filter((_, i) => c.attention_mask[r]![i] === 1);
        expect(tok.encode(p).ids).toEqual(unpadded);
      });
    }
  });
});
