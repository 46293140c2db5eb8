/**
 * bench:lora's serving half: the engine (worker thread, batching, sampling; the decode-step
 * exports where the model has them, as a worker serves) under a closed loop of 32 clients sending
 * sampled 64-token requests, (a) all for the base, (b) all for one adapter, (c) spread over four
 * adapters (request i for adapter i mod 4), in alternating rounds. Adapters are served from the
 * base's LoRA exports; a pass with only base rows runs the plain export.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEFAULT_LIMITS, ModelRepo, parseModelEntry } from '@tokenmesh/inference';
import { loadModelConfig } from '@tokenmesh/model';

import { engineClosedLoop, type EngineRun, fixedRequest } from './mesh-engine';
import { writeRandomAdapter } from './random-adapter';
import { quantile, round } from './stats';

export const LORA_RUNS = ['all base', 'all one adapter', '4 adapters mixed'] as const;
export type LoraRun = (typeof LORA_RUNS)[number];

export interface LoraEngineResult {
  readonly model: string;
  readonly adapters: string[];
  readonly medianTokensPerS: Record<LoraRun, number>;
  readonly rounds: Record<LoraRun, EngineRun[]>;
}

/**
 * With four random rank-8 adapters of the base: a trained one changes what the model writes
 * (shorter answers would weigh prefills against the base).
 * @returns tokens/s per run and round
 */
export async function loraEngine(modelDir: string, rounds: number, seconds: number): Promise<LoraEngineResult> {
  const spec = await loadModelConfig(modelDir);
  const tmp = mkdtempSync(join(tmpdir(), 'bench-lora-'));
  const dirs = [1, 2, 3, 4].map((i) => writeRandomAdapter(tmp, `${spec.name}-random-${i}`, spec, 8, 999 + i));
  const repo = await ModelRepo.load([parseModelEntry(modelDir)], { intraOpThreads: 1, executionProviders: ['cpu'] }, DEFAULT_LIMITS, undefined, dirs);
  try {
    const [base, ...adapters] = repo.models;
    const pick: Record<LoraRun, (i: number) => (typeof repo.models)[number]> = {
      'all base': () => base!,
      'all one adapter': () => adapters[0]!,
      '4 adapters mixed': (i) => adapters[i % adapters.length]!,
    };
    const request = fixedRequest(64, 0.8);
    const out = Object.fromEntries(LORA_RUNS.map((r) => [r, [] as EngineRun[]])) as Record<LoraRun, EngineRun[]>;
    // Warm-up: both exports' first passes (arenas, lazy initialisation) before anything counts.
    for (const r of LORA_RUNS) await engineClosedLoop(base!, 32, 2, request, 0, pick[r]);
    for (let round_ = 0; round_ < rounds; round_++) {
      for (const r of LORA_RUNS) {
        const run = await engineClosedLoop(base!, 32, seconds, request, 1, pick[r]);
        out[r].push(run);
        console.log(`${spec.name} round ${round_ + 1} ${r}: ${run.tokensPerS} tokens/s, mean decode batch ${run.steps.meanBatch}`);
      }
    }
    const medianTokensPerS = Object.fromEntries(
      LORA_RUNS.map((r) => [
        r,
        round(
          quantile(
            out[r].map((x) => x.tokensPerS),
            0.5,
          ),
        ),
      ]),
    ) as Record<LoraRun, number>;
    return { model: spec.name, adapters: repo.models.slice(1).map((m) => m.entry.name), medianTokensPerS, rounds: out };
  } finally {
    await repo.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
