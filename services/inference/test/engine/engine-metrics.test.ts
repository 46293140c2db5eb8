import { resolve } from 'node:path';

import { createMetrics } from '@tokenmesh/metrics';
import { validateSampling } from '@tokenmesh/model';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';

describe('engine metrics', () => {
  it('reports vLLM-style series per model: tokens, latencies, batch sizes, running and waiting', async () => {
    const registry = createMetrics('inference');
    const repo = await ModelRepo.load(
      [parseModelEntry(resolve(__dirname, '../../../../models/tinygpt'))],
      { intraOpThreads: 1, executionProviders: ['cpu'] },
      undefined,
      registry,
    );
    try {
      const m = repo.models[0]!;
      const sampling = validateSampling({ maxTokens: 10, temperature: 0 }, { promptTokens: 3, contextLength: 512, vocabSize: 257 });
      await Promise.all(
        ['r1', 'r2', 'r3'].map(async (id) => {
          for await (const _ of m.engine.generate({ id, promptIds: [65, 66, 67], sampling })) void _;
        }),
      );
      const text = await registry.metrics();
      const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*model="tinygpt@1"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(value('tokenmesh_prompt_tokens_total')).toBe(9);
      expect(value('tokenmesh_generation_tokens_total')).toBe(30);
      expect(value('tokenmesh_time_to_first_token_seconds_count')).toBe(3);
      expect(value('tokenmesh_inter_token_latency_seconds_count')).toBe(27);
      expect(value('tokenmesh_e2e_request_latency_seconds_count')).toBe(3);
      expect(value('tokenmesh_decode_batch_size_sum') / value('tokenmesh_decode_batch_size_count')).toBeGreaterThan(1);
      expect(value('tokenmesh_num_requests_running')).toBe(0);
      expect(value('tokenmesh_num_requests_waiting')).toBe(0);
      expect(value('tokenmesh_num_requests_waiting_background')).toBe(0);
      expect(value('tokenmesh_kv_budget_used_ratio')).toBe(0);
    } finally {
      await repo.close();
    }
  });
});
