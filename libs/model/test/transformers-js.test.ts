import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';

import { loadReference } from '../src';
import { modelDir, MODELS_DIR } from './committed-models';

// transformers.js is the peer we benchmark against: if it loads our directory unchanged, fully
// offline, and decodes like PyTorch, our layout is the standard one.
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = MODELS_DIR;

describe.each(['tinygpt', 'tinyllama'])('transformers.js on models/%s', (name) => {
  it('loads offline and its greedy output equals the reference', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(name);
    const model = await AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32', device: 'cpu' });
    try {
      const ref = await loadReference(modelDir(name));
      for (const c of ref.cases.filter((x) => x.prompts.length === 1)) {
        const inputs = tokenizer(c.prompts[0]!);
        const promptLength = inputs.input_ids.dims[1] as number;
        const out = (await model.generate({ ...inputs, max_new_tokens: ref.new_tokens, do_sample: false })) as {
          tolist(): bigint[][];
        };
        const generated = out.tolist()[0]!.map(Number).slice(promptLength);
        expect(generated).toEqual(c.greedy_ids[0]);
      }
    } finally {
      await model.dispose();
    }
  });
});
