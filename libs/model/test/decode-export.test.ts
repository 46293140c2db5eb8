import {
  adapterIndex,
  CausalLm,
  DecodeLm,
  greedy,
  greedyDecode,
  loadLoraAdapter,
  loadReference,
  LORA_DECODE_ONNX_FILE,
  LORA_ONNX_FILE,
  promptRows,
  stackAdapters,
} from '../src';
import { modelDir } from './committed-models';

const LOGIT_TOLERANCE = 1e-4;

const maxDiff = (a: Float32Array[][], b: Float32Array[][]) =>
  Math.max(...a.flatMap((step, s) => step.map((row, r) => Math.max(...row.map((v, k) => Math.abs(v - b[s]![r]![k]!))))));

describe('tinygpt decode-step export: the cache read in place, only the new column returned', () => {
  let plain: CausalLm;
  let decoder: DecodeLm;
  beforeAll(async () => {
    plain = await CausalLm.load(modelDir('tinygpt'));
    decoder = await DecodeLm.load(modelDir('tinygpt'));
  });
  afterAll(async () => {
    await plain.release();
    await decoder.release();
  });

  it('has no attention mask and returns new_key_values, not present', () => {
    expect(decoder.session.inputNames).not.toContain('attention_mask');
    expect(decoder.session.outputNames).toEqual([
      'logits',
      ...Array.from({ length: 4 }, (_, i) => [`new_key_values.${i}.key`, `new_key_values.${i}.value`]).flat(),
    ]);
  });

  it('rows of different lengths decode exactly as the Optimum export does, and reproduce the PyTorch reference', async () => {
    const ref = await loadReference(modelDir('tinygpt'));
    for (const c of ref.cases) {
      const prompts = promptRows(c);
      const steps = c.greedy_ids[0]!.length;
      const viaDecode = await greedyDecode(plain, decoder, prompts, steps);
      const viaOptimum = await greedy(plain, prompts, steps);
      expect(viaDecode.tokens).toEqual(c.greedy_ids);
      expect(viaDecode.tokens).toEqual(viaOptimum.tokens);
      expect(maxDiff(viaDecode.stepLogits, viaOptimum.stepLogits)).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    }
  });

  it('refuses a file that is not a decode-step export, naming the missing input', async () => {
    await expect(DecodeLm.load(modelDir('tinygpt'), {}, 'model.onnx')).rejects.toThrow(
      /model\.onnx is not a decode-step export: no output new_key_values\.0\.key/,
    );
  });

  it('the LoRA twin decodes a batch mixing the jargon adapter, the base and the chat adapter as the LoRA export does', async () => {
    const lora = await CausalLm.load(modelDir('tinygpt'), {}, LORA_ONNX_FILE);
    const loraDecoder = await DecodeLm.load(modelDir('tinygpt'), {}, LORA_DECODE_ONNX_FILE);
    try {
      const stack = stackAdapters(lora.spec, [
        await loadLoraAdapter(modelDir('tinygpt-chat'), lora.spec),
        await loadLoraAdapter(modelDir('tinygpt-jargon'), lora.spec),
      ]);
      const feeds = { adapter_index: adapterIndex([2, 0, 1]), ...stack.feeds };
      const prompts = [[...Buffer.from('What is a kluge?')], [...Buffer.from('In the beginning')], [...Buffer.from('Hi')]];
      const viaDecode = await greedyDecode(lora, loraDecoder, prompts, 24, { feeds });
      const viaLora = await greedy(lora, prompts, 24, { feeds });
      expect(viaDecode.tokens).toEqual(viaLora.tokens);
      expect(maxDiff(viaDecode.stepLogits, viaLora.stepLogits)).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    } finally {
      await lora.release();
      await loraDecoder.release();
    }
  });
});
