/**
 * npm run bench:int8 — fp32 against int8 (scripts/model/quantize.py), in one run, for
 * models/tinygpt and models/bench-26m (when built: `npm run model:bench`, then
 * `npm run model:build -- quantize`):
 *   1. the size of every onnx file;
 *   2. held-out loss over the committed held-out sample and greedy agreement with fp32 over the
 *      reference prompts (scripts/bench/int8-eval.ts), written into both model-meta.json files;
 *   3. tokens/s through the engine at concurrency 1 and 32 (sampled 64-token requests, closed loop,
 *      as bench:mesh's engine section), fp32 and int8 alternating, the median of the rounds;
 *   4. the form: the bare decode loop at batch 1 and 32 on fp32, the MatMulInteger form (the
 *      committed one) and the QDQ form (written to a temporary directory by quantize.py --form QDQ).
 * Writes docs/bench/int8.md (for people), docs/bench/int8.json and the figures section of
 * models/tinygpt-int8/README.md.
 *
 *   npm run bench:int8               the full run (about ten minutes)
 *   npm run bench:int8 -- --quick    everything, briefly: a check of the benchmark, not a result
 *   npm run bench:int8 -- --report   int8.md and the card's section again from int8.json
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { DecodeLm } from '@tokenmesh/model';

import { bareDecodeLoop } from './engine-runs';
import { pairQuality, writeMetrics } from './int8-eval';
import { int8Pairs } from './int8-metrics';
import { type FileSize, type Int8Report, type ModelInt8, renderCardSection, renderReport, type SpeedRun } from './int8-report';
import { engineClosedLoop, type EngineRun, fixedRequest, loadEngine } from './mesh-engine';
import { quantile, round } from './stats';

const ROOT = resolve(__dirname, '../..');
const QUICK = process.argv.includes('--quick');
const S = QUICK ? 0.2 : 1;

/** The loads: bench:mesh's engine requests; seconds per closed loop and decode steps per bare pass. */
export const SETUP = {
  tokens: 64,
  temperature: 0.8,
  rounds: QUICK ? 1 : 3,
  /** Bare loops are short and this machine is shared: more rounds. */
  formRounds: QUICK ? 1 : 5,
  concurrencies: [1, 32],
  batches: [1, 32],
  models: {
    tinygpt: { seconds: 8 * S, formTokens: 64 },
    'bench-26m': { seconds: 15 * S, formTokens: 32 },
  } as Record<string, { seconds: number; formTokens: number }>,
};

const median = (xs: number[]) => round(quantile(xs, 0.5));

function fileSizes(fp32: string, int8: string): FileSize[] {
  return readdirSync(join(fp32, 'onnx'))
    .filter((f) => f.endsWith('.onnx'))
    .sort()
    .map((file) => {
      const a = statSync(join(fp32, 'onnx', file)).size;
      const b = statSync(join(int8, 'onnx', file)).size;
      return { file, fp32Bytes: a, int8Bytes: b, ratio: round(b / a, 3) };
    });
}

/** Closed loops at each concurrency, fp32 and int8 alternating per round; tokens/s is the median round. */
async function speed(fp32: string, int8: string, seconds: number): Promise<SpeedRun[]> {
  const engines = { fp32: await loadEngine(fp32), int8: await loadEngine(int8) };
  try {
    const out: SpeedRun[] = [];
    for (const c of SETUP.concurrencies) {
      const runs: Record<'fp32' | 'int8', EngineRun[]> = { fp32: [], int8: [] };
      for (let r = 0; r < SETUP.rounds; r++) {
        for (const v of r % 2 ? (['int8', 'fp32'] as const) : (['fp32', 'int8'] as const)) {
          const run = await engineClosedLoop(engines[v].model, c, seconds, fixedRequest(SETUP.tokens, SETUP.temperature), 1 * S);
          runs[v].push(run);
          console.log(`${v} concurrency ${c} round ${r + 1}: ${run.tokensPerS} tokens/s, inter-token p50 ${run.itlP50Ms} ms`);
        }
      }
      const pick = (v: 'fp32' | 'int8') => ({
        tokensPerS: median(runs[v].map((x) => x.tokensPerS)),
        itlP50Ms: median(runs[v].map((x) => x.itlP50Ms)),
        ttftP50Ms: median(runs[v].map((x) => x.ttftP50Ms)),
        rounds: runs[v].map((x) => x.tokensPerS),
      });
      out.push({ concurrency: c, fp32: pick('fp32'), int8: pick('int8') });
    }
    return out;
  } finally {
    await engines.fp32.repo.close();
    await engines.int8.repo.close();
  }
}

/** Nodes per op type of the decode-step graph as onnxruntime runs it (its optimized graph, counted by quantize.py --ops). */
async function optimizedOps(dir: string, tmp: string, label: string): Promise<Record<string, number>> {
  const dumped = join(tmp, `${label}.optimized.onnx`);
  const decoder = await DecodeLm.load(dir, { optimizedModelFilePath: dumped, logSeverityLevel: 3 });
  await decoder.release();
  const out = execFileSync('/usr/bin/python3', [join(ROOT, 'scripts/model/quantize.py'), '--ops', dumped], { encoding: 'utf8' });
  return Object.values(JSON.parse(out) as Record<string, Record<string, number>>)[0]!;
}

/**
 * Bare decode loops (engine-runs' bareDecodeLoop) on fp32, MatMulInteger and QDQ, alternating per
 * round (order reversed every other round), and the graphs onnxruntime makes of each form.
 */
async function forms(fp32: string, int8: string, tokens: number): Promise<Pick<ModelInt8, 'forms' | 'optimizedOps'>> {
  const tmp = mkdtempSync(join(tmpdir(), 'bench-int8-'));
  const qdq = join(tmp, 'qdq');
  try {
    execFileSync('/usr/bin/python3', [join(ROOT, 'scripts/model/quantize.py'), '--src', fp32, '--out', qdq, '--form', 'QDQ'], { stdio: 'inherit' });
    const dirs = { fp32, MatMulInteger: int8, QDQ: qdq };
    const variants = Object.keys(dirs) as (keyof typeof dirs)[];
    const optimized: ModelInt8['optimizedOps'] = {};
    for (const v of variants) optimized[v] = await optimizedOps(dirs[v], tmp, v);
    const out: ModelInt8['forms'] = [];
    for (const batch of SETUP.batches) {
      const runs: Record<keyof typeof dirs, number[]> = { fp32: [], MatMulInteger: [], QDQ: [] };
      for (let r = 0; r < SETUP.formRounds; r++) {
        for (const v of r % 2 ? [...variants].reverse() : variants) {
          runs[v].push((await bareDecodeLoop(dirs[v], batch, tokens)).tokensPerS);
          console.log(`${v} bare decode batch ${batch} round ${r + 1}: ${runs[v].at(-1)} tokens/s`);
        }
      }
      out.push({ batch, fp32: median(runs.fp32), MatMulInteger: median(runs.MatMulInteger), QDQ: median(runs.QDQ), rounds: runs });
    }
    return { forms: out, optimizedOps: optimized };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function write(report: Int8Report): void {
  const out = report.quick ? join(ROOT, 'build/bench') : join(ROOT, 'docs/bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'int8.json'), JSON.stringify(report, null, 2) + '\n');
  const md = renderReport(report);
  writeFileSync(join(out, 'int8.md'), md);
  if (!report.quick) renderCardSection(join(ROOT, 'models/tinygpt-int8/README.md'), report);
  console.log(md);
}

async function main(): Promise<void> {
  if (process.argv.includes('--report')) return write(JSON.parse(readFileSync(join(ROOT, 'docs/bench/int8.json'), 'utf8')) as Int8Report);
  const pairs = int8Pairs();
  if (!pairs.some((p) => p.name === 'tinygpt')) throw new Error('no models/tinygpt-int8: run `npm run model:build -- quantize` first');
  if (pairs.length < 2) console.error('bench-26m-int8: not built (npm run model:bench, then npm run model:build -- quantize); skipped');
  const models: Record<string, ModelInt8> = {};
  for (const p of pairs) {
    const setup = SETUP.models[p.name]!;
    const quality = await pairQuality(p.fp32, p.int8, p.reference, p.reference === p.fp32, p.heldOut);
    writeMetrics(p.fp32, p.int8, quality);
    console.log(p.name, JSON.stringify(quality));
    models[p.name] = {
      files: fileSizes(p.fp32, p.int8),
      quality,
      promptsFrom: p.reference === p.fp32 ? `models/${p.name}/reference.json` : 'models/tinygpt/reference.json',
      speed: await speed(p.fp32, p.int8, setup.seconds),
      ...(await forms(p.fp32, p.int8, setup.formTokens)),
      formTokens: setup.formTokens,
    };
  }
  const report: Int8Report = {
    when: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, onnxruntime-node CPU, 1 intra-op thread`,
    quick: QUICK,
    setup: SETUP,
    models,
  };
  write(report);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
