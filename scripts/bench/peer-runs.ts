import { basename, dirname } from 'node:path';

import { env, pipeline } from '@huggingface/transformers';

import { NEW_TOKENS, type Run } from './engine-runs';
import { round } from './stats';

/**
 * The peer: transformers.js text-generation on the same directory, `concurrency` calls at once,
 * greedy (or sampled at `temperature`), `tokens` new tokens each.
 */
export async function transformersJs(dir: string, concurrency: number, tokens = NEW_TOKENS, temperature = 0): Promise<Run> {
  env.allowRemoteModels = false;
  env.localModelPath = dirname(dir);
  const generate = await pipeline('text-generation', basename(dir), { dtype: 'fp32', device: 'cpu' });
  try {
    const t0 = performance.now();
    const outs = await Promise.all(
      Array.from({ length: concurrency }, (_, i) =>
        // min_new_tokens: exactly NEW_TOKENS each, as the engine's runs (EOS cannot end them early).
        generate(`In the beginning ${String(i).padStart(3, '0')}`, {
          max_new_tokens: tokens,
          min_new_tokens: tokens,
          return_full_text: false,
          ...(temperature > 0 ? { do_sample: true, temperature } : { do_sample: false }),
        }),
      ),
    );
    if (outs.length !== concurrency) throw new Error('transformers.js returned fewer outputs than calls');
    return { tokensPerS: round((concurrency * tokens) / ((performance.now() - t0) / 1000)) };
  } finally {
    await generate.dispose();
  }
}
