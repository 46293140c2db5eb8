/**
 * npm run bench:guided — what guided JSON decoding (response_format json_schema / json_object,
 * SamplingParams.guided_json) costs, in one run:
 *   1. the mask alone: microseconds per row-step to mask a vocabulary from a state seen before
 *      (the table is cached per schema) and from a new one (a table computed: every token's bytes
 *      through the automaton), over seeded random walks of the schema;
 *   2. the engine (worker thread, batching, sampling; no RPC) at concurrency 1 and 32, sampled
 *      requests of up to 128 tokens: free rows, every row guided by a schema, every row json_object,
 *      and half the rows guided beside free ones. Rounds alternate the runs (the machine is shared
 *      and noisy); the report takes medians.
 * On models/tinygpt, and models/bench-26m when built (npm run model:bench).
 * Writes docs/bench/guided.md and docs/bench/guided.json.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { JsonGuide, loadModelConfig, loadTokenBytes, parseJsonSchema } from '@tokenmesh/model';

import { engineClosedLoop, type EngineRequest, type EngineRun, loadEngine, seeded } from './mesh-engine';
import { quantile, round } from './stats';

const ROOT = resolve(__dirname, '../..');
const MODELS = ['tinygpt', 'bench-26m'].map((m) => join(ROOT, 'models', m)).filter((d) => existsSync(join(d, 'config.json')));
const ROUNDS = 2;
const SECONDS: Record<string, number> = { tinygpt: 6, 'bench-26m': 15 };
const CONCURRENCIES = [1, 32];

/** What an OpenAI structured-output call sends: nested object, array, enum, bounded strings. */
export const SCHEMA = JSON.stringify({
  type: 'object',
  properties: {
    title: { type: 'string', maxLength: 24 },
    year: { type: 'integer' },
    score: { type: 'number' },
    genre: { enum: ['law', 'story', 'song', 'letter'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 10 }, maxItems: 4 },
    author: { type: 'object', properties: { name: { type: 'string' }, alive: { type: 'boolean' } }, required: ['name'], additionalProperties: false },
  },
  required: ['title', 'year', 'genre', 'author'],
  additionalProperties: false,
});
const JSON_OBJECT = '{"type":"object"}';

const RUNS = ['free', 'schema', 'json_object', 'half schema'] as const;
type Run = (typeof RUNS)[number];

const request =
  (run: Run) =>
  (i: number): EngineRequest => {
    const guided = run === 'schema' || (run === 'half schema' && i % 2 === 0) ? SCHEMA : run === 'json_object' ? JSON_OBJECT : undefined;
    return { promptIds: [...Buffer.from(`In the beginning God created ${i}`)], maxTokens: 128, temperature: 0.8, ...(guided && { guidedJson: guided }) };
  };

interface MaskCost {
  readonly schema: string;
  readonly warmUs: number;
  readonly coldUs: number;
  readonly states: number;
  readonly rowSteps: number;
}

/** Masks over seeded walks: the first pass computes each state's table (cold), the second reuses them (warm). */
async function maskCost(dir: string, name: string, text: string): Promise<MaskCost> {
  const tokens = await loadTokenBytes(dir);
  const eos = (await loadModelConfig(dir)).eosTokenIds;
  const guide = new JsonGuide(parseJsonSchema(text), tokens, eos);
  const walk = (seed: number) => {
    const rnd = seeded(seed);
    const c = guide.start();
    const logits = new Float32Array(tokens.length);
    let steps = 0;
    for (let left = 128; left > 0; left--) {
      logits.fill(0);
      c.mask(logits, left);
      steps++;
      const allowed: number[] = [];
      for (let t = 0; t < logits.length; t++) if (logits[t] !== -Infinity) allowed.push(t);
      const t = allowed[Math.floor(rnd() * allowed.length)]!;
      if (eos.includes(t)) break;
      c.accept(t);
    }
    return steps;
  };
  const time = () => {
    const t0 = performance.now();
    let steps = 0;
    for (let s = 0; s < 200; s++) steps += walk(s);
    return { us: ((performance.now() - t0) * 1000) / steps, steps };
  };
  const cold = time();
  const states = guide.misses;
  const warm = time();
  return { schema: name, coldUs: round(cold.us, 1), warmUs: round(warm.us, 1), states, rowSteps: cold.steps };
}

interface ModelResult {
  readonly model: string;
  readonly mask: MaskCost[];
  readonly runs: Record<string, Record<Run, EngineRun[]>>;
}

async function model(dir: string): Promise<ModelResult> {
  const name = dir.split('/').pop()!;
  const mask = [await maskCost(dir, 'schema', SCHEMA), await maskCost(dir, 'json_object', JSON_OBJECT)];
  const { repo, model: m } = await loadEngine(dir);
  const runs: ModelResult['runs'] = {};
  try {
    for (const c of CONCURRENCIES) {
      const byRun = Object.fromEntries(RUNS.map((r) => [r, [] as EngineRun[]])) as Record<Run, EngineRun[]>;
      for (const r of RUNS) await engineClosedLoop(m, c, 1, request(r));
      for (let k = 0; k < ROUNDS; k++) {
        for (const r of RUNS) {
          const run = await engineClosedLoop(m, c, SECONDS[name] ?? 10, request(r), 1);
          byRun[r].push(run);
          console.log(`${name} c=${c} round ${k + 1} ${r}: ${run.tokensPerS} tokens/s, step ${run.steps.meanStepMs} ms, sampling ${run.steps.meanSampleMs} ms`);
        }
      }
      runs[`c${c}`] = byRun;
    }
  } finally {
    await repo.close();
  }
  return { model: name, mask, runs };
}

const median = (xs: number[]) => round(quantile(xs, 0.5), 2);

function report(results: ModelResult[], seconds: number, date: string): string {
  const lines = [
    '# Guided JSON decoding',
    '',
    `\`npm run bench:guided\`, ${date}, ${round(seconds, 1)} s. Machine: ${process.arch}, Node ${process.version}, onnxruntime-node CPU, 1 intra-op thread; shared and noisy: compare within this report.`,
    '',
    'Guided decoding masks, per row and step, every token after which the document would break the schema or could not be finished in the',
    "tokens left (`response_format` json_schema / json_object on REST, `sampling.guided_json` on gRPC/Connect). Each state's table (per token:",
    'the fewest bytes that finish the document after it, or "cannot come next") is computed once per schema and cached; a row-step then costs',
    'one pass over the vocabulary. Constrained and free rows share every batch; free rows are untouched (tested token for token).',
    '',
    '## 1. The mask alone',
    '',
    `200 seeded random walks of up to 128 tokens per schema: the first pass computes the tables of the states it reaches (cold), the second`,
    `finds them cached (warm). The benchmark schema: \`${SCHEMA}\`.`,
    '',
    '| model | schema | µs per row-step, warm | µs per row-step, cold pass | states tabled | row-steps |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of results) for (const m of r.mask) lines.push(`| ${r.model} | ${m.schema} | ${m.warmUs} | ${m.coldUs} | ${m.states} | ${m.rowSteps} |`);
  lines.push(
    '',
    '## 2. The engine',
    '',
    `Closed loop, sampled (temperature 0.8), max_tokens 128, ${ROUNDS} alternating rounds after a warm-up; medians. Guided requests end when`,
    'their document is complete (end-of-text is the only token left then), so their answers are shorter: compare tokens/s and the sampling',
    "time per step, which is where the masks run (the worker's sampler, on the worker thread).",
    '',
    '| model | concurrency | run | tokens/s | vs free | mean step ms | sampling ms per step | sampling share | mean output tokens |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of results) {
    for (const [c, byRun] of Object.entries(r.runs)) {
      const free = median(byRun.free.map((x) => x.tokensPerS));
      for (const run of RUNS) {
        const xs = byRun[run];
        const tps = median(xs.map((x) => x.tokensPerS));
        lines.push(
          `| ${r.model} | ${c.slice(1)} | ${run} | ${tps} | ${round(tps / free, 2)} | ${median(xs.map((x) => x.steps.meanStepMs))} | ${median(xs.map((x) => x.steps.meanSampleMs))} | ${median(xs.map((x) => x.steps.sampleShare))} | ${median(xs.map((x) => x.meanOutputTokens))} |`,
        );
      }
    }
  }
  lines.push('', '## Reading', '');
  for (const r of results) {
    const c32 = r.runs['c32'];
    if (!c32) continue;
    const free = median(c32.free.map((x) => x.steps.meanSampleMs));
    const guided = median(c32.schema.map((x) => x.steps.meanSampleMs));
    const step = median(c32.schema.map((x) => x.steps.meanStepMs));
    lines.push(
      `- ${r.model}, 32 rows all guided by the schema: sampling takes ${guided} ms per step against ${free} ms free, so the masks add` +
        ` ${round(guided - free, 2)} ms to a ${step} ms step (${round(((guided - free) / step) * 100, 1)}%), ${round(((guided - free) * 1000) / 32, 1)} µs per row.`,
    );
  }
  lines.push(
    "- Once a schema's states are tabled a row-step costs one pass over the vocabulary; a new state costs one table (every token's bytes",
    '  through the automaton). States repeat: inside a string without maxLength every character is the same state.',
    '- Tokens/s of guided runs against free ones also moves with answer length: a guided answer ends when its document is complete',
    '  (tinygpt closes a json_object at once: `{}`, so that run is nearly all prefills), or runs to max_tokens, where the budget closes it.',
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  // --report: rewrite guided.md from guided.json (the figures of the last run).
  if (process.argv.includes('--report')) {
    const last = JSON.parse(readFileSync(join(ROOT, 'docs/bench/guided.json'), 'utf8')) as { date: string; seconds: number; results: ModelResult[] };
    writeFileSync(join(ROOT, 'docs/bench/guided.md'), report(last.results, last.seconds, last.date));
    return;
  }
  const t0 = performance.now();
  const results: ModelResult[] = [];
  for (const dir of MODELS) results.push(await model(dir));
  const seconds = (performance.now() - t0) / 1000;
  const date = new Date().toISOString();
  writeFileSync(join(ROOT, 'docs/bench/guided.json'), `${JSON.stringify({ date, seconds, schema: JSON.parse(SCHEMA) as unknown, results }, null, 2)}\n`);
  writeFileSync(join(ROOT, 'docs/bench/guided.md'), report(results, seconds, date));
  console.log('wrote docs/bench/guided.md');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
