import { adapterIndex, CausalLm, DecodeLm, greedy, greedyDecode, loadLoraAdapter, LORA_DECODE_ONNX_FILE, LORA_ONNX_FILE, stackAdapters } from '../src';
import { modelDir } from './committed-models';

const INT8 = modelDir('tinygpt-int8');

describe('tinygpt-int8 LoRA exports', () => {
  it('its LoRA exports (fp32 LoRA branches over int8 weights) take the committed tinygpt-chat adapter, row by row', async () => {
    const lora = await CausalLm.load(INT8, {}, LORA_ONNX_FILE);
    const loraDecoder = await DecodeLm.load(INT8, {}, LORA_DECODE_ONNX_FILE);
    try {
      // The adapter names its base "tinygpt"; this directory is tinygpt's version int8 (model-meta.json), not a model of its own.
      const stack = stackAdapters(lora.spec, [await loadLoraAdapter(modelDir('tinygpt-chat'), { ...lora.spec, name: 'tinygpt' })]);
      const prompt = [...Buffer.from('<|user|>\nWhat is a hacker?\n<|assistant|>\n')];
      const feeds = { adapter_index: adapterIndex([1, 0]), ...stack.feeds };
      const viaLora = await greedy(lora, [prompt, prompt], 24, { feeds });
      const viaDecode = await greedyDecode(lora, loraDecoder, [prompt, prompt], 24, { feeds });
      expect(viaDecode.tokens).toEqual(viaLora.tokens);
      expect(viaLora.stepLogits.flat().every((row) => row.every(Number.isFinite))).toBe(true);
      // The adapter row is not the base row: the adapter reached the int8 graph.
      expect(viaLora.tokens[0]).not.toEqual(viaLora.tokens[1]);
      // The base row of the LoRA export is the int8 base model.
      const base = await CausalLm.load(INT8);
      try {
        expect((await greedy(base, [prompt], 24)).tokens[0]).toEqual(viaLora.tokens[1]);
      } finally {
        await base.release();
      }
    } finally {
      await lora.release();
      await loraDecoder.release();
    }
  });
});
