import { resolve } from 'node:path';

import { validateSampling } from '@tokenmesh/model';

import { DEFAULT_LIMITS } from '../../src/engine/engine-limits';
import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';

describe('dynamic batching window', () => {
  it('an idle engine gathers arrivals for max_queue_delay_ms into one prefill pass', async () => {
    const repo = await ModelRepo.load(
      [parseModelEntry(resolve(__dirname, '../../../../models/tinygpt'))],
      { intraOpThreads: 1, executionProviders: ['cpu'] },
      {
        ...DEFAULT_LIMITS,
        maxQueueDelayMs: 80,
      },
    );
    try {
      const runner = repo.models[0]!.runners[0]!;
      const prefills: number[] = [];
      runner.onStep((r) => r.prefillBatch > 0 && prefills.push(r.prefillBatch));
      const sampling = validateSampling({ maxTokens: 4, temperature: 0 }, { promptTokens: 2, contextLength: 512, vocabSize: 257 });
      const runs: Promise<void>[] = [];
      for (let i = 0; i < 3; i++) {
        runs.push(
          (async () => {
            for await (const _ of repo.models[0]!.engine.generate({ id: `w${i}`, promptIds: [65, 66 + i], sampling })) void _;
          })(),
        );
        await new Promise((r) => setTimeout(r, 15));
      }
      await Promise.all(runs);
      expect(prefills).toEqual([3]);
    } finally {
      await repo.close();
    }
  });
});
