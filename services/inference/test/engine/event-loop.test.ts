import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { validateSampling } from '@tokenmesh/model';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';

// onnxruntime runs in the worker thread: the thread that serves RPCs stays responsive under
// full load. This is a stall detector, not a latency target (those live in bench:engine): a
// synchronous run() or model load on this thread blocks it for seconds, while CI's other jest
// workers on 2 shared cores alone push an honest p99 past 100 ms (seen: 105 ms).
describe('event loop under load', () => {
  it('the serving thread never stalls while 32 requests generate', async () => {
    const repo = await ModelRepo.load([parseModelEntry(resolve(__dirname, '../../../../models/tinygpt'))], { intraOpThreads: 1, executionProviders: ['cpu'] });
    const lag = monitorEventLoopDelay({ resolution: 5 });
    try {
      const engine = repo.models[0]!.engine;
      const sampling = validateSampling({ maxTokens: 64, temperature: 0.8, seed: 1 }, { promptTokens: 8, contextLength: 512, vocabSize: 257 });
      lag.enable();
      let tokens = 0;
      let finished = 0;
      await Promise.all(
        Array.from({ length: 32 }, async (_, i) => {
          for await (const e of engine.generate({ id: `r${i}`, promptIds: [...Buffer.from(`prompt ${String(i).padStart(2, '0')}`)], sampling })) {
            if (e.type === 'token') tokens++;
            else finished++;
          }
        }),
      );
      lag.disable();
      // Sampled: some requests may end early at end-of-sequence.
      expect(finished).toBe(32);
      expect(tokens).toBeGreaterThan(32 * 32);
      expect(lag.percentile(99) / 1e6).toBeLessThan(500);
    } finally {
      await repo.close();
    }
  });
});
