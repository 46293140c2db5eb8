/**
 * `npm run bench:batch`: what a running batch costs interactive traffic. The embedded mesh
 * (`npm start`, tinygpt) serves closed-loop SSE clients alone, then while a large batch runs
 * (its lines at the batch service's default priority and concurrency), then alone again (the
 * machine's drift). Interactive TTFT p99 with the batch should stay within 1.5× of without.
 * Writes docs/bench/batch.md and docs/bench/batch.json.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { submitBatch } from '@tokenmesh/testing';

import type { LoadResult, LoadSpec } from './mesh-load';
import { loadWithCpu, startTopology } from './mesh-topologies';
import { round } from './stats';

const ROOT = join(__dirname, '..', '..');
const MODEL = 'models/tinygpt';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const CLIENTS = 4;
const LINES = 4000;
const WARMUP_SECONDS = 8;
const AIM_P99_RATIO = 1.5;

/** One mesh: the batch service's BATCH_CONCURRENCY and whether the engines hold batch lines back (INFERENCE_YIELD_ROWS). */
interface Setup {
  readonly name: string;
  readonly batchConcurrency: number;
  readonly env: Record<string, string>;
}

interface Phase {
  readonly setup: string;
  readonly batchConcurrency: number;
  readonly name: string;
  readonly load: LoadResult;
  /** Batch lines finished during the window (the batch phase only). */
  readonly batchLinesPerS?: number;
}

/**
 * The defaults; the same without the engines' priority yield (what it buys, in this run); twice
 * the batch lines at once (what they cost interactive traffic).
 */
const SETUPS: Setup[] = [
  { name: 'defaults', batchConcurrency: 4, env: {} },
  { name: 'no priority yield', batchConcurrency: 4, env: { INFERENCE_YIELD_ROWS: '0' } },
  { name: 'defaults', batchConcurrency: 8, env: {} },
];
const label = (s: Setup) => `${s.name}, batch concurrency ${s.batchConcurrency}`;

async function main(): Promise<void> {
  const started = Date.now();
  const phases: Phase[] = [];
  for (const s of SETUPS) phases.push(...(await measure(s)));
  const ratioOf = (s: Setup) => {
    const [alone, during, again] = phases.filter((p) => p.setup === label(s));
    return round(during!.load.ttftP99Ms / ((alone!.load.ttftP99Ms + again!.load.ttftP99Ms) / 2), 2);
  };
  const ratios = Object.fromEntries(SETUPS.map((s) => [label(s), ratioOf(s)]));
  const result = {
    date: new Date().toISOString(),
    seconds: round((Date.now() - started) / 1000),
    clients: CLIENTS,
    phases,
    p99Ratios: ratios,
    aim: AIM_P99_RATIO,
  };
  writeFileSync(join(ROOT, 'docs/bench/batch.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(ROOT, 'docs/bench/batch.md'), report(result));
  console.log(
    `interactive TTFT p99 with a batch / without, by batch concurrency: ${JSON.stringify(ratios)} (aim ≤ ${AIM_P99_RATIO}); wrote docs/bench/batch.md`,
  );
}

async function measure(setup: Setup): Promise<Phase[]> {
  const { batchConcurrency } = setup;
  const mesh = await startTopology('embedded', MODEL, { BATCH_CONCURRENCY: String(batchConcurrency), ...setup.env });
  const api = (path: string, init?: RequestInit) => fetch(`${mesh.httpUrl}${path}`, init);
  const spec: LoadSpec = {
    httpUrl: mesh.httpUrl,
    grpcUrl: mesh.grpcUrl,
    protocol: 'sse',
    concurrency: CLIENTS,
    seconds: SECONDS,
    warmupSeconds: 3,
    maxTokens: 32,
    temperature: 0.8,
    prompt: 'In the beginning God created',
  };
  const phases: Phase[] = [];
  try {
    // A fresh mesh's first seconds are slower (JIT, first allocations): warm it up unmeasured.
    await loadWithCpu(mesh, { ...spec, seconds: WARMUP_SECONDS });
    phases.push({ setup: label(setup), batchConcurrency, name: 'interactive alone', load: (await loadWithCpu(mesh, spec)).load });

    const lines = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `b${i}`,
        method: 'POST',
        url: '/v1/completions',
        body: { prompt: `And it came to pass ${i}`, max_tokens: 32, temperature: 0.8, seed: i },
      }),
    );
    const { batchId } = await submitBatch(mesh.httpUrl, { lines });
    const completed = async () =>
      ((await (await api(`/v1/batches/${batchId}`)).json()) as { request_counts: { completed: number; failed: number } }).request_counts;
    // Let the batch reach its steady state first.
    while ((await completed()).completed < 50) await new Promise((r) => setTimeout(r, 200));
    const c0 = await completed();
    const t0 = performance.now();
    const withBatch = (await loadWithCpu(mesh, spec)).load;
    const c1 = await completed();
    const batchLinesPerS = round((c1.completed + c1.failed - c0.completed - c0.failed) / ((performance.now() - t0) / 1000), 1);
    phases.push({ setup: label(setup), batchConcurrency, name: 'interactive while a batch runs', load: withBatch, batchLinesPerS });
    await api(`/v1/batches/${batchId}/cancel`, { method: 'POST' });
    // The cancel takes effect line by line; wait for the batch's running lines to drain.
    await new Promise((r) => setTimeout(r, 3000));
    phases.push({ setup: label(setup), batchConcurrency, name: 'interactive alone, again', load: (await loadWithCpu(mesh, spec)).load });
  } finally {
    await mesh.stop();
  }
  return phases;
}

function report(r: { date: string; seconds: number; clients: number; phases: Phase[]; p99Ratios: Record<string, number>; aim: number }): string {
  const rows = r.phases.map(
    (p) =>
      `| ${p.setup} | ${p.name} | ${p.load.requests} | ${p.load.errors} | ${p.load.tokensPerS} | ${p.load.ttftP50Ms} | ${p.load.ttftP99Ms} | ${p.load.chunkGapP50Ms} | ${p.load.chunkGapP99Ms} | ${p.batchLinesPerS ?? '–'} |`,
  );
  return `# Batch lane: what a running batch costs interactive traffic

\`npm run bench:batch\`, ${r.date}, ${r.seconds} s. The embedded mesh (\`npm start\`, tinygpt), started fresh for each setup: its
defaults; the same with the engines' priority yield off (INFERENCE_YIELD_ROWS=0: batch lines share every decode step);
the defaults with twice the batch service's BATCH_CONCURRENCY (the lines it runs at once). Batch lines at queue priority 10,
interactive requests at 0. ${r.clients} closed-loop SSE clients (32 sampled tokens each) for ${SECONDS} s (after ${WARMUP_SECONDS} s unmeasured on the fresh mesh): alone, while a ${LINES}-line
batch of 32-token completions runs, and alone again (the machine's drift between the two). The machine is shared and noisy:
compare within this report.

| setup | phase | interactive requests | errors | interactive tokens/s | TTFT p50 ms | TTFT p99 ms | chunk gap p50 ms | chunk gap p99 ms | batch lines/s |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Interactive TTFT p99 while the batch runs / alone (the mean of the two alone runs), aim ≤ ${r.aim}:
${Object.entries(r.p99Ratios)
  .map(([setup, v]) => `- ${setup}: **${v}** (${v <= r.aim ? 'met' : 'not met'})`)
  .join('\n')}

Reading: the workers' queue orders by priority, so an interactive request never waits behind queued batch lines, and
while interactive requests run (and for INFERENCE_YIELD_WINDOW_MS after the last) batch lines run at most
INFERENCE_YIELD_ROWS (1) at a time in each engine: on a CPU every row of a decode step lengthens the step for every
sequence in it, so the batch gets the capacity interactive traffic leaves and its other lines wait in the queue. What
interactive requests still share is that one row, the serving thread (in the embedded mesh the batch service's calls
to the gateway run on the same event loop as the interactive streams) and the CPU of this 2-core machine, where the
load client, the mesh and onnxruntime all run. BATCH_CONCURRENCY then mostly sets how fast a batch goes when nothing
else runs. Rows already running are not paused when an interactive burst begins; they finish their lines.
`;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
