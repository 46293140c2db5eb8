import { monitorEventLoopDelay } from 'node:perf_hooks';

import { DEFAULT_LIMITS, ModelRepo, parseModelEntry, rebuildKv } from '@tokenmesh/inference';
import { argmax, CausalLm, DecodeLm, greedyDecode, leftPad, pastNames, positionIds, validateSampling } from '@tokenmesh/model';

import { quantile, round } from './stats';

export const NEW_TOKENS = 128;
const prompt = (i: number) => [...Buffer.from(`In the beginning ${String(i).padStart(3, '0')}`)];
/** Row i's prompt ids in a bare loop. */
export type PromptOf = (i: number) => number[];

export interface Run {
  readonly tokensPerS: number;
  readonly ttftP50Ms?: number;
  readonly ttftP99Ms?: number;
  readonly itlP50Ms?: number;
  readonly itlP99Ms?: number;
  /** Event-loop lag p99 of the serving thread during the run. */
  readonly loopLagP99Ms?: number;
}

/** Passes timed after one untimed warm-up pass (onnxruntime's first run allocates and plans). */
const BARE_PASSES = 3;

/** The limit of a bare loop: its best of BARE_PASSES timed passes of `batch` rows x `tokens`, after a warm-up. */
async function bestPass(batch: number, tokens: number, pass: () => Promise<void>): Promise<Run> {
  await pass();
  let best = 0;
  for (let i = 0; i < BARE_PASSES; i++) {
    const t0 = performance.now();
    await pass();
    best = Math.max(best, (batch * tokens) / ((performance.now() - t0) / 1000));
  }
  return { tokensPerS: round(best) };
}

/** The hardware limit: onnxruntime alone, a fixed batch, present fed back as past, greedy. */
export async function bareLoop(dir: string, batch: number, tokens = NEW_TOKENS, promptOf: PromptOf = prompt): Promise<Run> {
  const lm = await CausalLm.load(dir);
  try {
    return await bestPass(batch, tokens, async () => {
      const { ids, mask } = leftPad(
        Array.from({ length: batch }, (_, i) => promptOf(i)),
        lm.spec.padTokenId,
      );
      let pos = positionIds(mask);
      let out = await lm.forward(ids, mask, pos);
      for (let step = 0; step < tokens - 1; step++) {
        const next = ids.map((_, r) => [argmax(lm.lastLogits(out, r))]);
        mask.forEach((m) => m.push(1));
        pos = pos.map((p) => [p[p.length - 1]! + 1]);
        out = await lm.forward(next, mask, pos, out.past);
      }
    });
  } finally {
    await lm.release();
  }
}

/**
 * The bare loop on the decode-step export (model_decode.onnx): the same fixed batch and prompts,
 * the cache read in place and one new column written per step (libs/model greedyDecode).
 */
export async function bareDecodeLoop(dir: string, batch: number, tokens = NEW_TOKENS, promptOf: PromptOf = prompt): Promise<Run> {
  const lm = await CausalLm.load(dir);
  const decoder = await DecodeLm.load(dir);
  try {
    const prompts = Array.from({ length: batch }, (_, i) => promptOf(i));
    return await bestPass(batch, tokens, async () => {
      await greedyDecode(lm, decoder, prompts, tokens);
    });
  } finally {
    await lm.release();
    await decoder.release();
  }
}

/** The engine (worker thread, batching, sampling) with `concurrency` requests arriving together. */
export async function engineRun(dir: string, concurrency: number, maxBatchSize = DEFAULT_LIMITS.maxBatchSize): Promise<Run> {
  const repo = await ModelRepo.load([parseModelEntry(dir)], { intraOpThreads: 1, executionProviders: ['cpu'] }, { ...DEFAULT_LIMITS, maxBatchSize });
  try {
    const m = repo.models[0]!;
    const ttft: number[] = [];
    const itl: number[] = [];
    let tokens = 0;
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        const ids = prompt(i);
        // EOS is a stop token only when the model says so: ban nothing, but count what comes.
        const sampling = validateSampling(
          { maxTokens: NEW_TOKENS, temperature: 0 },
          { promptTokens: ids.length, contextLength: m.spec.contextLength, vocabSize: m.spec.vocabSize },
        );
        const start = performance.now();
        let last = start;
        for await (const e of m.engine.generate({ id: `b${i}`, promptIds: ids, sampling })) {
          if (e.type !== 'token') continue;
          const now = performance.now();
          if (last === start) ttft.push(now - start);
          else itl.push(now - last);
          last = now;
          tokens++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    lag.disable();
    return {
      loopLagP99Ms: round(lag.percentile(99) / 1e6, 1),
      tokensPerS: round(tokens / seconds),
      ttftP50Ms: round(quantile(ttft, 0.5)),
      ttftP99Ms: round(quantile(ttft, 0.99)),
      itlP50Ms: round(quantile(itl, 0.5), 2),
      itlP99Ms: round(quantile(itl, 0.99), 2),
    };
  } finally {
    await repo.close();
  }
}

/**
 * What one KV rebuild (a sequence joining or leaving the batch) costs, against one decode step
 * of the same batch: a cache of `batch` rows at `length` positions is gathered into a new one.
 */
export async function rebuildCost(dir: string, batch: number, length: number): Promise<{ rebuildMs: number; decodeStepMs: number }> {
  const lm = await CausalLm.load(dir);
  try {
    const { ids, mask } = leftPad(
      Array.from({ length: batch }, (_, i) => [...prompt(i), ...new Array<number>(length - 20).fill(32)]),
      lm.spec.padTokenId,
    );
    const out = await lm.forward(ids, mask, positionIds(mask));
    const rows = Array.from({ length: batch }, (_, i) => ({ past: out.past, index: i, length }));
    const names = pastNames(lm.spec);
    const reps = 20;
    let t0 = performance.now();
    for (let i = 0; i < reps; i++) rebuildKv(rows, names);
    const rebuildMs = (performance.now() - t0) / reps;
    const next = ids.map(() => [32]);
    const nextMask = mask.map((m) => [...m, 1]);
    const pos = ids.map(() => [length]);
    t0 = performance.now();
    for (let i = 0; i < reps; i++) await lm.forward(next, nextMask, pos, out.past);
    return { rebuildMs: round(rebuildMs, 2), decodeStepMs: round((performance.now() - t0) / reps, 2) };
  } finally {
    await lm.release();
  }
}
