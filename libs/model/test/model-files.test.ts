import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { CausalLm, expectedIo, ioMismatches, sessionIo } from '../src';
import { COMMITTED, modelDir } from './committed-models';

const LAYOUT = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'onnx/model.onnx',
  'reference.json',
  'README.md',
];

describe.each(COMMITTED)('%s model files', (name) => {
  let lm: CausalLm;
  beforeAll(async () => {
    lm = await CausalLm.load(modelDir(name));
  });
  afterAll(() => lm.release());

  it('has every file of the Hugging Face Optimum layout', () => {
    for (const f of LAYOUT) expect([f, existsSync(join(modelDir(name), f))]).toEqual([f, true]);
  });

  it('declares exactly the inputs and outputs its config.json implies (names, dtypes, shapes)', () => {
    expect(ioMismatches(lm.session, lm.spec)).toEqual([]);
    const got = sessionIo(lm.session);
    const want = expectedIo(lm.spec);
    expect(got.inputs.map((i) => i.name)).toEqual(want.inputs.map((i) => i.name));
    expect(got.outputs.map((o) => o.name)).toEqual(want.outputs.map((o) => o.name));
  });

  it('accepts a past of length 0 and gives finite logits on left-padded rows', async () => {
    const r = await lm.forward(
      [
        [256, 256, 72, 105],
        [65, 66, 67, 68],
      ],
      [
        [0, 0, 1, 1],
        [1, 1, 1, 1],
      ],
      [
        [1, 1, 0, 1],
        [0, 1, 2, 3],
      ],
    );
    expect(r.logits.length).toBe(2 * 4 * lm.spec.vocabSize);
    expect(r.logits.every(Number.isFinite)).toBe(true);
    expect(r.past['past_key_values.0.key']!.dims).toEqual([2, lm.spec.numKvHeads, 4, lm.spec.headDim]);
  });
});

describe('model sizes and architectures', () => {
  const size = (name: string) => statSync(join(modelDir(name), 'onnx/model.onnx')).size;

  it('tinygpt is a GPT-2 of at most 8 MB', async () => {
    const lm = await CausalLm.load(modelDir('tinygpt'));
    await lm.release();
    expect(lm.spec.modelType).toBe('gpt2');
    expect(size('tinygpt')).toBeLessThanOrEqual(8 * 1024 * 1024);
  });

  it('tinyllama is a Llama with grouped-query attention, under 2 MB', async () => {
    const lm = await CausalLm.load(modelDir('tinyllama'));
    await lm.release();
    expect(lm.spec.modelType).toBe('llama');
    expect(lm.spec.numKvHeads).toBeLessThan(lm.spec.numHeads);
    expect(size('tinyllama')).toBeLessThan(2 * 1024 * 1024);
  });
});
