import { resolve } from 'node:path';

import { loadReference, validateSampling } from '@tokenmesh/model';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { warmUp } from '../../src/models/warm-up';

const MODEL = resolve(__dirname, '../../../../models/tinygpt');
const TOKENS = 16;

// INFERENCE_STEP_DELAY_MS emulates a slower worker for router benchmarks: the same output, later.
// Both speeds are measured here, side by side, so the check is a ratio and not a machine's speed.
describe('step delay', () => {
  it(`a ${TOKENS}-token generation is at least twice as slow with 20 ms per step, with the same tokens`, async () => {
    const promptIds = (await loadReference(MODEL)).cases[0]!.input_ids[0]!;
    const load = (stepDelayMs: number) => ModelRepo.load([parseModelEntry(MODEL)], { intraOpThreads: 1, executionProviders: ['cpu'], stepDelayMs });
    const [fast, slow] = await Promise.all([load(0), load(20)]);
    try {
      await Promise.all([warmUp(fast), warmUp(slow)]);
      const timed = async (repo: ModelRepo) => {
        const m = repo.models[0]!;
        const sampling = validateSampling(
          { maxTokens: TOKENS, temperature: 0 },
          { promptTokens: promptIds.length, contextLength: m.spec.contextLength, vocabSize: m.spec.vocabSize },
        );
        const started = performance.now();
        const ids: number[] = [];
        for await (const e of m.engine.generate({ id: 'timed', promptIds, sampling })) if (e.type === 'token') ids.push(e.tokenId);
        return { ids, ms: performance.now() - started };
      };
      const plain = await timed(fast);
      const delayed = await timed(slow);
      expect(plain.ids).toHaveLength(TOKENS);
      expect(delayed.ids).toEqual(plain.ids);
      expect(delayed.ms / plain.ms).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([fast.close(), slow.close()]);
    }
  });
});
