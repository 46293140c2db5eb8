import { resolve } from 'node:path';

import { loadReference, validateSampling } from '@tokenmesh/model';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';

describe('several worker threads per model', () => {
  it('spreads requests over the engines, each giving the reference output', async () => {
    const dir = resolve(__dirname, '../../../../models/tinygpt');
    const repo = await ModelRepo.load([parseModelEntry(dir)], { intraOpThreads: 1, executionProviders: ['cpu'], workersPerModel: 2 });
    try {
      const pool = repo.models[0]!.engine;
      expect(pool.engines).toHaveLength(2);
      // Two threads, two KV budgets: the ratio metric divides by their sum.
      expect(pool.kvBudget).toBe(2 * pool.engines[0]!.kvBudget);
      const c = (await loadReference(dir)).cases[0]!;
      const prompt = c.input_ids[0]!;
      const sampling = validateSampling({ maxTokens: 32, temperature: 0 }, { promptTokens: prompt.length, contextLength: 512, vocabSize: 257 });
      const seenBusy = new Set<number>();
      const outs = await Promise.all(
        Array.from({ length: 4 }, async (_, i) => {
          const ids: number[] = [];
          for await (const e of pool.generate({ id: `r${i}`, promptIds: prompt, sampling })) {
            if (e.type === 'token') ids.push(e.tokenId);
            pool.engines.forEach((eng, k) => eng.running > 0 && seenBusy.add(k));
          }
          return ids;
        }),
      );
      for (const o of outs) expect(o).toEqual(c.greedy_ids[0]);
      expect(seenBusy).toEqual(new Set([0, 1]));
      expect([pool.running, pool.queued]).toEqual([0, 0]);
    } finally {
      await repo.close();
    }
  });
});
