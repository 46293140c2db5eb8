import { parseModelConfig } from '../src';

const gpt2 = { model_type: 'gpt2', n_layer: 4, n_head: 4, n_embd: 160, n_positions: 512, vocab_size: 257, eos_token_id: 256 };
const llama = {
  model_type: 'llama',
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  hidden_size: 64,
  max_position_embeddings: 512,
  vocab_size: 257,
  eos_token_id: 256,
};

describe('parseModelConfig', () => {
  it('reads GPT-2 names; key/value heads default to the attention heads', () => {
    const s = parseModelConfig(gpt2, {}, '/models/tinygpt');
    expect(s).toMatchObject({
      name: 'tinygpt',
      numLayers: 4,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 40,
      contextLength: 512,
      eosTokenIds: [256],
      padTokenId: 256,
    });
  });

  it('reads Llama names with grouped-query attention and an explicit head_dim', () => {
    expect(parseModelConfig({ ...llama, head_dim: 32 }, {}, '/m/x')).toMatchObject({ numKvHeads: 2, headDim: 32 });
    expect(parseModelConfig(llama, {}, '/m/x').headDim).toBe(16);
  });

  it('takes eos ids from generation_config.json first, lists included', () => {
    expect(parseModelConfig(llama, { eos_token_id: [1, 2], pad_token_id: 0 }, '/m/x')).toMatchObject({ eosTokenIds: [1, 2], padTokenId: 0 });
  });

  it.each([
    [{ ...gpt2, model_type: undefined }, /"model_type" must be a non-empty string/],
    [{ ...gpt2, n_layer: 0 }, /"num_hidden_layers" or "n_layer" must be a positive integer, got 0/],
    [{ ...llama, num_key_value_heads: 3 }, /"num_attention_heads" \(4\) must be a multiple of "num_key_value_heads" \(3\)/],
    [{ ...gpt2, n_positions: undefined }, /"max_position_embeddings" or "n_positions" or "n_ctx"/],
    [{ ...gpt2, eos_token_id: undefined }, /"eos_token_id" is missing/],
    [{ ...gpt2, eos_token_id: 300 }, /"eos_token_id" 300 is outside the vocabulary \(0\.\.256\)/],
  ])('rejects %j naming the field', (cfg, message) => {
    expect(() => parseModelConfig(cfg as Record<string, unknown>, {}, '/m/bad')).toThrow(message);
    expect(() => parseModelConfig(cfg as Record<string, unknown>, {}, '/m/bad')).toThrow('/m/bad/config.json');
  });
});
