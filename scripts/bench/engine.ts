/**
 * npm run bench:engine — in one run, on models/tinygpt and models/bench-26m (build it with
 * `npm run model:bench`), 128-token generations:
 *   1. the hardware limit: a bare onnxruntime loop at fixed batch 1, 8, 32;
 *   2. the engine at concurrency 1, 8, 32 (tokens/s, TTFT and inter-token latency p50/p99);
 *   3. sequential serving (max_batch_size 1) at concurrency 8;
 *   4. the peer, transformers.js pipeline('text-generation'), at concurrency 1 and 32.
 * Writes docs/bench/engine.md (for people) and docs/bench/engine.json.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';

import { bareLoop, engineRun, NEW_TOKENS, rebuildCost, type Run } from './engine-runs';
import { transformersJs } from './peer-runs';
import { round } from './stats';

const ROOT = resolve(__dirname, '../..');

type Rebuild = Awaited<ReturnType<typeof rebuildCost>>;
const rebuilds: Record<string, Rebuild> = {};

async function benchModel(name: string): Promise<Record<string, Run> | undefined> {
  const dir = join(ROOT, 'models', name);
  if (!existsSync(join(dir, 'onnx', 'model.onnx'))) {
    console.error(`${name}: not built (npm run model:bench builds models/bench-26m); skipped`);
    return undefined;
  }
  const runs: Record<string, Run> = {};
  const record = async (label: string, run: () => Promise<Run>) => {
    runs[label] = await run();
    console.log(name, label, JSON.stringify(runs[label]));
  };
  for (const b of [1, 8, 32]) await record(`bare batch ${b}`, () => bareLoop(dir, b));
  for (const c of [1, 8, 32]) await record(`engine concurrency ${c}`, () => engineRun(dir, c));
  await record('sequential (max_batch_size 1) concurrency 8', () => engineRun(dir, 8, 1));
  for (const c of [1, 32]) await record(`transformers.js concurrency ${c}`, () => transformersJs(dir, c));
  rebuilds[name] = await rebuildCost(dir, 32, 148);
  console.log(name, 'rebuild', JSON.stringify(rebuilds[name]));
  return runs;
}

function table(name: string, runs: Record<string, Run>): string {
  const ms = (v?: number) => (v === undefined ? '–' : String(v));
  const rows = Object.entries(runs).map(
    ([label, r]) => `| ${label} | ${r.tokensPerS} | ${ms(r.ttftP50Ms)} | ${ms(r.ttftP99Ms)} | ${ms(r.itlP50Ms)} | ${ms(r.itlP99Ms)} | ${ms(r.loopLagP99Ms)} |`,
  );
  const ratio = (a: string, b: string) => (runs[a] && runs[b] ? round(runs[a]!.tokensPerS / runs[b]!.tokensPerS, 2) : NaN);
  return [
    `### ${name}`,
    '',
    '| run | tokens/s | TTFT p50 ms | TTFT p99 ms | inter-token p50 ms | inter-token p99 ms | event-loop lag p99 ms |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `- engine at concurrency 32 / bare loop at batch 32: **${ratio('engine concurrency 32', 'bare batch 32')}** (target ≥ 0.85)`,
    `- engine at concurrency 32 / transformers.js at concurrency 32: **${ratio('engine concurrency 32', 'transformers.js concurrency 32')}** (target ≥ 3)`,
    `- engine at concurrency 1 / bare loop at batch 1: **${ratio('engine concurrency 1', 'bare batch 1')}** (target ≥ 0.9)`,
    `- engine at concurrency 8 / sequential serving at concurrency 8: **${ratio('engine concurrency 8', 'sequential (max_batch_size 1) concurrency 8')}**`,
    rebuilds[name]
      ? `- KV rebuild (a sequence joins or leaves) of 32 rows × 148 positions: **${rebuilds[name]!.rebuildMs} ms**, against ${rebuilds[name]!.decodeStepMs} ms for one decode step of the same batch`
      : '',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const results: Record<string, Record<string, Run>> = {};
  for (const name of ['tinygpt', 'bench-26m']) {
    const r = await benchModel(name);
    if (r) results[name] = r;
  }
  const when = new Date().toISOString();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, onnxruntime-node CPU, 1 intra-op thread`;
  writeFileSync(join(ROOT, 'docs/bench/engine.json'), JSON.stringify({ when, machine, newTokens: NEW_TOKENS, results, rebuilds }, null, 2) + '\n');
  const md = [
    '# Engine benchmark',
    '',
    `\`npm run bench:engine\`, ${when}; ${machine}. ${NEW_TOKENS}-token greedy generations, prompts of 20 bytes.`,
    'Tokens/s count generated tokens over wall time (prefill included). All runs of a model happen in one',
    'process one after another: compare ratios within one report, not across machines or days (the',
    'machine is shared and noisy).',
    '',
    ...Object.entries(results).map(([name, runs]) => table(name, runs)),
  ].join('\n');
  writeFileSync(join(ROOT, 'docs/bench/engine.md'), md);
  console.log(md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
