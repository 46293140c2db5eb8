/**
 * npm run bench:lora — what a decode pass with LoRA adapters costs, in one run on models/tinygpt
 * and its committed adapters (tinygpt-chat, tinygpt-jargon): the bare onnxruntime loop (batch 32,
 * 128 greedy steps, present fed back as past, 1 intra-op thread, no end-of-text), as the worker
 * runs its passes:
 *   1. the plain export (what every base-only pass runs, adapters loaded or not);
 *   2. the LoRA export with every row in slot 0 (no adapter);
 *   3. the LoRA export with every row the chat adapter;
 *   4. the LoRA export with rows mixed base / chat / jargon (three slots in one pass).
 * Rounds alternate the runs (the machine is shared and noisy); the report takes each run's median.
 * Then the serving half (lora-engine.ts): the engine at concurrency 32 on tinygpt and bench-26m, and
 * a decode step by the number of adapter slots it is given (lora-slots.ts).
 * Writes docs/bench/lora.md and docs/bench/lora.json.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { adapterIndex, argmax, CausalLm, leftPad, loadLoraAdapter, LORA_ONNX_FILE, type LoraStack, positionIds, stackAdapters } from '@tokenmesh/model';

import { LORA_RUNS, loraEngine, type LoraEngineResult } from './lora-engine';
import { loraSlotSteps, type SlotStep } from './lora-slots';
import { quantile, round } from './stats';

type Feeds = LoraStack['feeds'];

const ROOT = resolve(__dirname, '../..');
const BASE = join(ROOT, 'models', 'tinygpt');
const ADAPTERS = ['tinygpt-chat', 'tinygpt-jargon'].map((n) => join(ROOT, 'models', n));
const BATCH = 32;
const STEPS = 128;
const ROUNDS = 7;
/** The serving half: closed-loop rounds per run, and seconds per round, by model. */
const SERVING_ROUNDS = 5;
const SERVING_SECONDS: Record<string, number> = { tinygpt: 8, 'bench-26m': 15 };
const BENCH_26M = join(ROOT, 'models', 'bench-26m');
/** Adapter overhead over the base at concurrency 32, worst of one adapter and four mixed (issue 14). */
const MAX_OVERHEAD = 0.2;
/** Section 3: slot counts of a decode step (slot 0 the base's rows, the others adapters). */
const SLOT_COUNTS = [1, 2, 5, 9, 17];

function slotSection(steps: readonly SlotStep[]): string[] {
  return [
    '## 3. A decode step by the number of slots it is given',
    '',
    "tinygpt's decode-step exports at batch 32, a cache of 96 columns, random rank-8 weights, rows spread over the slots;",
    'the plain and the LoRA step in turn, 400 times each after a warm-up, median ms. Per linear, the LoRA export runs one',
    "GEMM over every given slot's A, masks the columns of the slots other than each row's, and one GEMM over every slot's",
    'B: no copy of weights per row, but work that grows with the slots a pass mixes. (A per-row gather of A and B, the',
    'layout before, measured 0.69–0.72 of the plain step at any slot count on this machine.)',
    '',
    '| slots | plain step ms | LoRA step ms | LoRA speed / plain |',
    '|---|---|---|---|',
    ...steps.map((s) => `| ${s.slots} | ${s.plainMs} | ${s.loraMs} | ${s.speed} |`),
    '',
  ];
}

function servingSection(results: readonly LoraEngineResult[], missing: string[]): string[] {
  const lines = [
    '## 2. Serving: the engine at concurrency 32',
    '',
    `The worker's engine (batching, sampling, decode-step exports; no RPC) under 32 closed-loop clients sending sampled`,
    `64-token requests (temperature 0.8): all for the base, all for one adapter, or spread over four adapters (request i`,
    `for adapter i mod 4). The adapters are random, rank 8 on every block's linears, small weights: a trained one changes`,
    `what the model writes (tinygpt-chat ends its turn within a few tokens) and shorter answers would weigh prefills`,
    `against the base. ${SERVING_ROUNDS} alternating rounds after a warm-up, median tokens/s. Target: adapters cost at most`,
    `${MAX_OVERHEAD * 100}% of the base's throughput (the worse of one adapter and four mixed).`,
    '',
    '| model | run | tokens/s (median) | rounds | vs all base | mean decode batch | mean output tokens |',
    '|---|---|---|---|---|---|---|',
  ];
  const verdicts: string[] = [];
  for (const r of results) {
    const base = r.medianTokensPerS['all base'];
    for (const run of LORA_RUNS) {
      const rounds = r.rounds[run];
      const batch = round(rounds.reduce((n, x) => n + x.steps.meanBatch, 0) / rounds.length, 1);
      const outTokens = round(rounds.reduce((n, x) => n + x.meanOutputTokens, 0) / rounds.length, 1);
      lines.push(
        `| ${r.model} | ${run} | ${r.medianTokensPerS[run]} | ${rounds.map((x) => x.tokensPerS).join(', ')} | ${round(r.medianTokensPerS[run] / base, 2)} | ${batch} | ${outTokens} |`,
      );
    }
    const worst = Math.min(r.medianTokensPerS['all one adapter'], r.medianTokensPerS['4 adapters mixed']) / base;
    const overhead = round((1 - worst) * 100, 1);
    verdicts.push(`- ${r.model}: adapter overhead ${overhead}% (target ≤ ${MAX_OVERHEAD * 100}%): **${1 - worst <= MAX_OVERHEAD ? 'met' : 'not met'}**.`);
  }
  for (const m of missing) verdicts.push(`- ${m}`);
  verdicts.push(
    '- A LoRA pass is given only the slots its rows use (LoraPassFeeds): "all one adapter" runs one slot, "4 adapters',
    '  mixed" four; section 3 says what a pass costs by its number of slots.',
  );
  return [...lines, '', ...verdicts, ''];
}

/** tokens/s of the bare loop on `lm` with `feeds` on every pass. */
async function loop(lm: CausalLm, feeds: Feeds): Promise<number> {
  const { ids, mask } = leftPad(
    Array.from({ length: BATCH }, (_, i) => [...Buffer.from(`<|user|>\nQuestion ${String(i).padStart(2, '0')}?\n<|assistant|>\n`)]),
    lm.spec.padTokenId,
  );
  const t0 = performance.now();
  let pos = positionIds(mask);
  let out = await lm.forward(ids, mask, pos, undefined, feeds);
  for (let step = 0; step < STEPS - 1; step++) {
    const next = ids.map((_, r) => [argmax(lm.lastLogits(out, r))]);
    mask.forEach((m) => m.push(1));
    pos = pos.map((p) => [p[p.length - 1]! + 1]);
    out = await lm.forward(next, mask, pos, out.past, feeds);
  }
  return (BATCH * STEPS) / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const plain = await CausalLm.load(BASE);
  const lora = await CausalLm.load(BASE, {}, LORA_ONNX_FILE);
  const adapters = await Promise.all(ADAPTERS.map((d) => loadLoraAdapter(d, plain.spec)));
  const stack = stackAdapters(plain.spec, adapters);
  const slots = (f: (row: number) => number) => ({ adapter_index: adapterIndex(Array.from({ length: BATCH }, (_, r) => f(r))), ...stack.feeds });
  const runs: Record<string, { lm: CausalLm; feeds: Feeds; samples: number[] }> = {
    'plain export (base-only passes)': { lm: plain, feeds: {}, samples: [] },
    'LoRA export, every row slot 0 (no adapter)': { lm: lora, feeds: slots(() => 0), samples: [] },
    'LoRA export, every row tinygpt-chat': { lm: lora, feeds: slots(() => 1), samples: [] },
    'LoRA export, rows mixed base / chat / jargon': { lm: lora, feeds: slots((r) => r % 3), samples: [] },
  };
  try {
    for (const r of Object.values(runs)) await loop(r.lm, r.feeds); // warm-up: JIT, arenas
    for (let i = 0; i < ROUNDS; i++) {
      for (const [label, r] of Object.entries(runs)) {
        r.samples.push(await loop(r.lm, r.feeds));
        console.log(`round ${i + 1} ${label}: ${round(r.samples.at(-1)!)} tokens/s`);
      }
    }
  } finally {
    await plain.release();
    await lora.release();
  }
  const median = Object.fromEntries(Object.entries(runs).map(([label, r]) => [label, round(quantile(r.samples, 0.5))]));
  const base = median['plain export (base-only passes)']!;
  const rows = Object.entries(runs).map(
    ([label, r]) => `| ${label} | ${median[label]} | ${r.samples.map((s) => round(s)).join(', ')} | ${round(median[label]! / base, 2)} |`,
  );
  const md = [
    '# LoRA adapters: what a pass costs (`npm run bench:lora`)',
    '',
    '## 1. The bare loop on the Optimum exports',
    '',
    `tinygpt (4 layers) and its adapters (r 8 on every block's linears): the bare onnxruntime loop, batch ${BATCH},`,
    `${STEPS} greedy steps, 1 intra-op thread, ${ROUNDS} alternating rounds after a warm-up, median tokens/s.`,
    `${new Date().toISOString().slice(0, 10)}, this 2-core machine (shared, noisy: compare within the run).`,
    '',
    '| pass | tokens/s (median) | rounds | vs plain export |',
    '|---|---|---|---|',
    ...rows,
    '',
    '- The worker runs the plain export for every pass without an adapter row, so serving adapters costs base-only',
    '  traffic nothing; a pass with any adapter row runs the LoRA export for all its rows.',
    '- A mixed pass costs what a single-adapter pass costs: one pass for all adapters, not one per adapter.',
    '',
  ].join('\n');
  const serving: LoraEngineResult[] = [await loraEngine(BASE, SERVING_ROUNDS, SERVING_SECONDS['tinygpt']!)];
  const missing: string[] = [];
  if (existsSync(join(BENCH_26M, 'onnx', 'model_lora_decode.onnx'))) serving.push(await loraEngine(BENCH_26M, SERVING_ROUNDS, SERVING_SECONDS['bench-26m']!));
  else missing.push('bench-26m: not measured, models/bench-26m (with its LoRA exports) is not built: `npm run model:bench`.');
  const slotSteps = await loraSlotSteps(BASE, SLOT_COUNTS);
  const report = [md, ...servingSection(serving, missing), ...slotSection(slotSteps)].join('\n');
  writeFileSync(join(ROOT, 'docs/bench/lora.md'), report);
  writeFileSync(
    join(ROOT, 'docs/bench/lora.json'),
    JSON.stringify(
      { batch: BATCH, steps: STEPS, median, samples: Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.samples])), serving, slotSteps },
      null,
      2,
    ),
  );
  console.log(report);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
