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
 * Writes docs/bench/lora.md and docs/bench/lora.json.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { adapterIndex, argmax, CausalLm, leftPad, loadLoraAdapter, LORA_ONNX_FILE, type LoraStack, positionIds, stackAdapters } from '@tokenmesh/model';

import { quantile, round } from './stats';

type Feeds = LoraStack['feeds'];

const ROOT = resolve(__dirname, '../..');
const BASE = join(ROOT, 'models', 'tinygpt');
const ADAPTERS = ['tinygpt-chat', 'tinygpt-jargon'].map((n) => join(ROOT, 'models', n));
const BATCH = 32;
const STEPS = 128;
const ROUNDS = 7;

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
  writeFileSync(join(ROOT, 'docs/bench/lora.md'), md);
  writeFileSync(
    join(ROOT, 'docs/bench/lora.json'),
    JSON.stringify({ batch: BATCH, steps: STEPS, median, samples: Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.samples])) }, null, 2),
  );
  console.log(md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
