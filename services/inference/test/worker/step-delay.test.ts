import { resolve } from 'node:path';

import { loadReference, validateSampling } from '@tokenmesh/model';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { warmUp } from '../../src/models/warm-up';

const MODEL = resolve(__dirname, '../../../../models/tinygpt');
const TOKENS = 16;

// INFERENCE_STEP_DELAY_MS emulates a slower worker for router benchmarks: the same output, later.
// The check is a lower bound the delay alone sets (a slow or stalled machine can only add to it),
// not a ratio to the plain run: a stall of the plain run once made the ratio fail in CI.
describe('step delay', () => {
  it(`a ${TOKENS}-token generation takes at least 20 ms per decode step with the delay, with the same tokens`, async () => {
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
      // Every step sleeps before its tokens are sent; one step of margin for timer rounding.
      expect(delayed.ms).toBeGreaterThanOrEqual((TOKENS - 1) * 20);
    } finally {
      await Promise.all([fast.close(), slow.close()]);
    }
  });
});
