/**
 * `npm run bench:batch`: what a running batch costs interactive traffic. The embedded mesh
 * (`npm start`, tinygpt) serves closed-loop SSE clients in windows that alternate alone and
 * while a batch runs (its lines at the batch service's default priority and concurrency), starting
 * and ending alone (the machine's drift). Interactive TTFT p99 with a batch, every such window's
 * requests pooled, should stay within 1.5× of the alone windows' pooled p99.
 * Writes docs/bench/batch.md and docs/bench/batch.json.
 *
 *   BENCH_SECONDS=20  a window's length;  BENCH_ROUNDS=3  batch windows per setup
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { submitBatch } from '@tokenmesh/testing';

import type { LoadResult, LoadSpec } from './mesh-load';
import { loadWithCpu, startTopology } from './mesh-topologies';
import { quantile, round } from './stats';

const ROOT = join(__dirname, '..', '..');
const MODEL = 'models/tinygpt';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
/** Batch windows per setup, each between two alone windows: a p99 of one 20 s window is its ~10 slowest requests, and this machine's stalls come and go. */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const CLIENTS = 4;
/** More than a window's worth of lines at the fastest setup (~50 lines/s), and a cancel that drains in seconds. */
const LINES = 2000;
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
  /** Batch lines finished during the window (the batch windows only). */
  readonly batchLinesPerS?: number;
}

/** A setup's TTFTs pooled over its windows, alone and with a batch, and each round's own ratio. */
interface Pooled {
  readonly aloneRequests: number;
  readonly batchRequests: number;
  readonly aloneP99Ms: number;
  readonly batchP99Ms: number;
  readonly aloneP50Ms: number;
  readonly batchP50Ms: number;
  /** Pooled p99 with a batch / pooled p99 alone: the figure the aim is for. */
  readonly ratio: number;
  /** Each batch window's p99 over the mean of the alone windows on either side of it. */
  readonly roundRatios: number[];
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
  const pooled: Record<string, Pooled> = {};
  for (const s of SETUPS) {
    const windows = await measure(s);
    pooled[label(s)] = pool(windows);
    // The samples served the pooling; the report keeps each window's summary.
    phases.push(...windows.map(({ load: { ttftsMs: _, ...load }, ...p }) => ({ ...p, load })));
  }
  const result = {
    date: new Date().toISOString(),
    seconds: round((Date.now() - started) / 1000),
    clients: CLIENTS,
    rounds: ROUNDS,
    phases,
    pooled,
    aim: AIM_P99_RATIO,
  };
  writeFileSync(join(ROOT, 'docs/bench/batch.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(ROOT, 'docs/bench/batch.md'), report(result));
  const ratios = Object.fromEntries(Object.entries(pooled).map(([k, v]) => [k, v.ratio]));
  console.log(
    `interactive TTFT p99 with a batch / without, pooled over ${ROUNDS} rounds: ${JSON.stringify(ratios)} (aim ≤ ${AIM_P99_RATIO}); wrote docs/bench/batch.md`,
  );
}

function pool(windows: Phase[]): Pooled {
  const alone = windows.filter((w) => w.batchLinesPerS === undefined);
  const batch = windows.filter((w) => w.batchLinesPerS !== undefined);
  const all = (ws: Phase[]) => ws.flatMap((w) => w.load.ttftsMs ?? []);
  const q = (ws: Phase[], p: number) => round(quantile(all(ws), p), 2);
  // Windows alternate alone, batch, alone, …: batch window i sits between alone windows i and i + 1.
  const roundRatios = batch.map((b, i) => round(b.load.ttftP99Ms / ((alone[i]!.load.ttftP99Ms + alone[i + 1]!.load.ttftP99Ms) / 2), 2));
  return {
    aloneRequests: all(alone).length,
    batchRequests: all(batch).length,
    aloneP99Ms: q(alone, 0.99),
    batchP99Ms: q(batch, 0.99),
    aloneP50Ms: q(alone, 0.5),
    batchP50Ms: q(batch, 0.5),
    ratio: round(q(batch, 0.99) / q(alone, 0.99), 2),
    roundRatios,
  };
}

/** A fresh mesh, warmed up; then alone, with a batch, alone, … (`ROUNDS` batch windows), each batch created for its window and cancelled after it. */
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
    keepTtfts: true,
  };
  const phases: Phase[] = [];
  const alone = async (n: number) =>
    phases.push({ setup: label(setup), batchConcurrency, name: `interactive alone (${n})`, load: (await loadWithCpu(mesh, spec)).load });
  try {
    // A fresh mesh's first seconds are slower (JIT, first allocations): warm it up unmeasured.
    await loadWithCpu(mesh, { ...spec, seconds: WARMUP_SECONDS });
    await alone(1);
    for (let r = 1; r <= ROUNDS; r++) {
      const lines = Array.from({ length: LINES }, (_, i) =>
        JSON.stringify({
          custom_id: `b${i}`,
          method: 'POST',
          url: '/v1/completions',
          body: { prompt: `And it came to pass ${r * LINES + i}`, max_tokens: 32, temperature: 0.8, seed: i },
        }),
      );
      const { batchId } = await submitBatch(mesh.httpUrl, { lines });
      const batch = async () =>
        (await (await api(`/v1/batches/${batchId}`)).json()) as { status: string; request_counts: { completed: number; failed: number } };
      const finished = async () => {
        const c = (await batch()).request_counts;
        return c.completed + c.failed;
      };
      // Let the batch reach its steady state first.
      while ((await batch()).request_counts.completed < 50) await sleep(200);
      const c0 = await finished();
      const t0 = performance.now();
      const load = (await loadWithCpu(mesh, spec)).load;
      const batchLinesPerS = round(((await finished()) - c0) / ((performance.now() - t0) / 1000), 1);
      phases.push({ setup: label(setup), batchConcurrency, name: `interactive while a batch runs (${r})`, load, batchLinesPerS });
      await api(`/v1/batches/${batchId}/cancel`, { method: 'POST' });
      // The cancel takes effect line by line: the next alone window starts once the batch is over.
      const until = performance.now() + 120_000;
      while ((await batch()).status !== 'cancelled') {
        // An alone window beside a batch still draining would measure the batch.
        if (performance.now() > until) throw new Error(`batch ${batchId} not cancelled 120 s after its cancel (${(await batch()).status})`);
        await sleep(200);
      }
      await alone(r + 1);
    }
  } finally {
    await mesh.stop();
  }
  return phases;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function report(r: { date: string; seconds: number; clients: number; rounds: number; phases: Phase[]; pooled: Record<string, Pooled>; aim: number }): string {
  const rows = r.phases.map(
    (p) =>
      `| ${p.setup} | ${p.name} | ${p.load.requests} | ${p.load.errors} | ${p.load.tokensPerS} | ${p.load.ttftP50Ms} | ${p.load.ttftP99Ms} | ${p.load.chunkGapP50Ms} | ${p.load.chunkGapP99Ms} | ${p.batchLinesPerS ?? '–'} |`,
  );
  return `# Batch lane: what a running batch costs interactive traffic

\`npm run bench:batch\`, ${r.date}, ${r.seconds} s. The embedded mesh (\`npm start\`, tinygpt), started fresh for each setup: its
defaults; the same with the engines' priority yield off (INFERENCE_YIELD_ROWS=0: batch lines share every decode step);
the defaults with twice the batch service's BATCH_CONCURRENCY (the lines it runs at once). Batch lines at queue priority 10,
interactive requests at 0. ${r.clients} closed-loop SSE clients (32 sampled tokens each), in windows of ${SECONDS} s (after ${WARMUP_SECONDS} s unmeasured on the fresh mesh):
alone, then ${r.rounds} rounds of a window while a ${LINES}-line batch of 32-token completions runs (a new batch each round, cancelled after
its window) followed by one alone again. The machine is shared and noisy, and the p99 of one window is its ~10 slowest requests:
the aim is judged on every window's requests pooled, alone against with a batch.

| setup | phase | interactive requests | errors | interactive tokens/s | TTFT p50 ms | TTFT p99 ms | chunk gap p50 ms | chunk gap p99 ms | batch lines/s |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Interactive TTFT while a batch runs against alone, each setup's windows pooled; aim: p99 ratio ≤ ${r.aim}:

| setup | requests alone / with a batch | TTFT p50 ms alone / with | TTFT p99 ms alone / with | p99 ratio (pooled) | each round's p99 ratio (its window / the alone windows beside it) | |
|---|---|---|---|---|---|---|
${Object.entries(r.pooled)
  .map(
    ([setup, p]) =>
      `| ${setup} | ${p.aloneRequests} / ${p.batchRequests} | ${p.aloneP50Ms} / ${p.batchP50Ms} | ${p.aloneP99Ms} / ${p.batchP99Ms} | **${p.ratio}** | ${p.roundRatios.join(', ')} | ${p.ratio <= r.aim ? 'met' : 'not met'} |`,
  )
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
