/**
 * npm run bench:mesh — what the serving path costs per generated token, in one run, on
 * models/tinygpt and models/bench-26m (build it with `npm run model:bench`; skipped if absent):
 *   1. the bare onnxruntime loop at batch 1 and 32 (the limit);
 *   2. the engine alone at concurrency 1 and 32 (sampled, closed loop) and transformers.js;
 *   3. the whole mesh embedded (`npm start`) and as one process per service (compose), at
 *      concurrency 1, 32 and 128, over REST, REST SSE, gRPC StreamPredict and Connect;
 *   4. serving-thread CPU per generated token of each service (µs/token), against the figures of
 *      the commit before this work (docs/bench/mesh-before.json, measured by `--before DIR`);
 *   5. 500 concurrent SSE streams of 32 tokens at the default configuration;
 *   6. the engine under Poisson arrivals at 50/80/100/120% of its capacity, mixed lengths.
 * Writes docs/bench/mesh.md (for people) and docs/bench/mesh.json.
 *
 *   npm run bench:mesh                      the full run (about half an hour)
 *   npm run bench:mesh -- --quick           everything, briefly: a check of the benchmark, not a result
 *   npm run bench:mesh -- --models tinygpt  one model only
 *   npm run bench:mesh -- --report          mesh.md again from mesh.json
 *   npm run bench:mesh -- --open-loop       section 6 again, into mesh.json and mesh.md
 *   npm run bench:mesh -- --before DIR      section 4's loads against the checkout in DIR (e.g. a
 *                                           `git worktree` of the commit before), into mesh-before.json
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

import { DECODE_ONNX_FILE, hasExport } from '@tokenmesh/model';

import { bareDecodeLoop, bareLoop } from './engine-runs';
import { engineClosedLoop, engineOpenLoop, type EngineRun, fixedRequest, loadEngine, mixedRequests, type OpenLoopRun } from './mesh-engine';
import type { LoadResult, LoadSpec, Protocol } from './mesh-load';
import { type MeshReport, type MeshRun, type ModelReport, report } from './mesh-report';
import { type CpuByService, loadWithCpu, startTopology, type Topology } from './mesh-topologies';
import { transformersJs } from './peer-runs';
import { round } from './stats';

const ROOT = resolve(__dirname, '../..');
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const BEFORE = args.includes('--before') ? resolve(args[args.indexOf('--before') + 1]!) : undefined;
const S = QUICK ? 0.2 : 1;
/** --models a,b: only these (default: both). */
const ONLY = args.includes('--models') ? args[args.indexOf('--models') + 1]!.split(',') : undefined;

/** The loads every model gets; the mesh runs send the same requests as the engine's closed loop. */
export const SETUP = {
  tokens: 64,
  temperature: 0.8,
  prompt: 'In the beginning God created',
  streams500: { streams: 500, tokens: 32 },
  openLoopShares: [0.5, 0.8, 1, 1.2, 1.5],
  /** The capacity is the best of closed loops at these concurrencies (a full batch is not always the fastest). */
  capacityConcurrencies: [8, 16, 32],
  models: {
    tinygpt: {
      engineSeconds: 15 * S,
      meshSeconds: 12 * S,
      warmup: 3 * S,
      concurrencies: [1, 32, 128],
      protocols: ['rest', 'sse', 'grpc', 'connect'] as Protocol[],
      capacitySeconds: 20 * S,
      openSeconds: 30 * S,
    },
    'bench-26m': {
      engineSeconds: 30 * S,
      meshSeconds: 30 * S,
      warmup: 5 * S,
      concurrencies: [1, 32],
      protocols: ['rest', 'sse'] as Protocol[],
      capacitySeconds: 40 * S,
      openSeconds: 60 * S,
    },
  },
} as const;

type ModelName = keyof typeof SETUP.models;

function spec(
  mesh: { httpUrl: string; grpcUrl: string },
  protocol: Protocol,
  concurrency: number,
  seconds: number,
  warmup: number,
  tokens: number = SETUP.tokens,
): LoadSpec {
  return {
    httpUrl: mesh.httpUrl,
    grpcUrl: mesh.grpcUrl,
    protocol,
    concurrency,
    seconds,
    warmupSeconds: warmup,
    maxTokens: tokens,
    temperature: SETUP.temperature,
    prompt: SETUP.prompt,
  };
}

const perToken = (cpu: CpuByService, load: LoadResult) =>
  Object.fromEntries(
    Object.entries(cpu).map(([s, c]) => [
      s,
      { mainUsPerToken: round(c.mainUs / Math.max(1, load.completionTokens)), processUsPerToken: round(c.totalUs / Math.max(1, load.completionTokens)) },
    ]),
  );

/** The protocols of the c=32 throughput targets: their runs are bracketed by the bare loop. */
const TARGET_PROTOCOLS = new Set<Protocol>(['rest', 'sse']);

/** The mesh's own prompts ("<prompt> <n>", n of three digits: the length most requests have). */
const promptOf = (i: number) => [...Buffer.from(`${SETUP.prompt} ${100 + i}`)];

/**
 * The limit at batch 32 (the decode-step export where the model has one, else the Optimum
 * export), tokens/s: measured again just before and after each target run, because this
 * machine's speed drifts between sections minutes apart by more than the margins measured.
 */
async function limitLoop(dir: string): Promise<number> {
  const run = hasExport(dir, DECODE_ONNX_FILE) ? await bareDecodeLoop(dir, 32, SETUP.tokens, promptOf) : await bareLoop(dir, 32, SETUP.tokens, promptOf);
  return run.tokensPerS;
}

async function meshRuns(
  name: ModelName,
  dir: string,
  topologies: readonly Topology[],
  concurrencies: readonly number[],
  protocols: readonly Protocol[],
): Promise<MeshRun[]> {
  const m = SETUP.models[name];
  const runs: MeshRun[] = [];
  for (const topology of topologies) {
    const mesh = await startTopology(topology, dir);
    try {
      for (const concurrency of concurrencies) {
        for (const protocol of protocols) {
          const target = concurrency === 32 && TARGET_PROTOCOLS.has(protocol);
          const before = target ? await limitLoop(dir) : undefined;
          const { load, cpu } = await loadWithCpu(mesh, spec(mesh, protocol, concurrency, m.meshSeconds, m.warmup));
          const after = before === undefined ? undefined : await limitLoop(dir);
          const run = { topology, ...load, cpu: perToken(cpu, load), ...(before !== undefined && { bareBeside: round((before + after!) / 2) }) };
          runs.push(run);
          console.log(name, topology, protocol, concurrency, JSON.stringify(run));
        }
      }
    } finally {
      await mesh.stop();
    }
  }
  return runs;
}

async function engineSection(name: ModelName, dir: string): Promise<Pick<ModelReport, 'bare' | 'engine' | 'peer'>> {
  const m = SETUP.models[name];
  const bare = {
    batch1: await bareLoop(dir, 1, SETUP.tokens, promptOf),
    batch32: await bareLoop(dir, 32, SETUP.tokens, promptOf),
    decode32: hasExport(dir, DECODE_ONNX_FILE) ? await bareDecodeLoop(dir, 32, SETUP.tokens, promptOf) : undefined,
  };
  console.log(name, 'bare', JSON.stringify(bare));
  const { repo, model } = await loadEngine(dir);
  let engine: Record<string, EngineRun>;
  try {
    engine = {
      c1: await engineClosedLoop(model, 1, m.engineSeconds, fixedRequest(SETUP.tokens, SETUP.temperature)),
      c32: await engineClosedLoop(model, 32, m.engineSeconds, fixedRequest(SETUP.tokens, SETUP.temperature)),
    };
  } finally {
    await repo.close();
  }
  console.log(name, 'engine', JSON.stringify(engine));
  const peer = { c1: await transformersJs(dir, 1, SETUP.tokens, SETUP.temperature), c32: await transformersJs(dir, 32, SETUP.tokens, SETUP.temperature) };
  console.log(name, 'transformers.js', JSON.stringify(peer));
  return { bare, engine, peer };
}

async function openLoopSection(name: ModelName, dir: string): Promise<ModelReport['openLoop']> {
  const m = SETUP.models[name];
  const { repo, model, spec: modelSpec } = await loadEngine(dir);
  try {
    // Capacity: the most requests of the mix per second a closed loop finishes (generated tokens/s
    // over the mean output), over several concurrencies: with long rows a full batch of 32 is
    // slower per token than a smaller one, so it is not the engine's best.
    const rateOf = (r: EngineRun) => r.tokensPerS / Math.max(1, r.meanOutputTokens);
    let capacity: EngineRun | undefined;
    let capacityConcurrency = 0;
    for (const c of SETUP.capacityConcurrencies) {
      const run = await engineClosedLoop(model, c, m.capacitySeconds, mixedRequests(7, modelSpec.contextLength), m.capacitySeconds / 2);
      console.log(name, 'capacity', c, JSON.stringify(run));
      if (!capacity || rateOf(run) > rateOf(capacity)) [capacity, capacityConcurrency] = [run, c];
    }
    const rate = rateOf(capacity!);
    const runs: OpenLoopRun[] = [];
    for (const [i, share] of SETUP.openLoopShares.entries()) {
      runs.push(await engineOpenLoop(model, rate * share, share, m.openSeconds, 100 + i, mixedRequests(100 + i, modelSpec.contextLength)));
      console.log(name, 'open loop', share, JSON.stringify(runs.at(-1)));
    }
    return { capacity: capacity!, capacityConcurrency, runs };
  } finally {
    await repo.close();
  }
}

async function streams500(dir: string): Promise<LoadResult & { wallSeconds: number }> {
  const mesh = await startTopology('embedded', dir);
  try {
    const { streams, tokens } = SETUP.streams500;
    const t0 = performance.now();
    const { load } = await loadWithCpu(mesh, { ...spec(mesh, 'sse', streams, 600, 0, tokens), requestsPerClient: 1 });
    return { ...load, wallSeconds: round((performance.now() - t0) / 1000, 1) };
  } finally {
    await mesh.stop();
  }
}

/** Section 4's loads on an older checkout: c=32 over REST and SSE, both topologies, tinygpt. */
async function before(dir: string): Promise<void> {
  process.env['TOKENMESH_ROOT'] = dir;
  const runs = await meshRuns('tinygpt', join(ROOT, 'models', 'tinygpt'), ['embedded', 'compose'], [32], ['rest', 'sse']);
  const commit = execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const out = { when: new Date().toISOString(), checkout: dir, commit, runs };
  writeFileSync(join(ROOT, 'docs/bench/mesh-before.json'), JSON.stringify(out, null, 2) + '\n');
  console.log('wrote docs/bench/mesh-before.json');
}

async function main(): Promise<void> {
  if (BEFORE) return before(BEFORE);
  if (args.includes('--open-loop')) {
    // Section 6 again, into the existing mesh.json (e.g. after changing how capacity is found).
    const path = join(ROOT, QUICK ? 'build' : 'docs/bench', 'mesh.json');
    const result = JSON.parse(readFileSync(path, 'utf8')) as MeshReport;
    for (const name of Object.keys(result.models) as ModelName[]) {
      if (ONLY && !ONLY.includes(name)) continue;
      (result.models[name] as { openLoop: ModelReport['openLoop'] }).openLoop = await openLoopSection(name, join(ROOT, 'models', name));
    }
    writeFileSync(path, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(join(path, '..', 'mesh.md'), report(result));
    return;
  }
  if (args.includes('--report')) {
    // Rewrites mesh.md from mesh.json (the report's wording changed, the figures did not).
    const dir = join(ROOT, QUICK ? 'build' : 'docs/bench');
    writeFileSync(join(dir, 'mesh.md'), report(JSON.parse(readFileSync(join(dir, 'mesh.json'), 'utf8')) as MeshReport));
    return;
  }
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const models: Partial<Record<ModelName, ModelReport>> = {};
  let many: MeshReport['streams500'];
  for (const name of Object.keys(SETUP.models) as ModelName[]) {
    if (ONLY && !ONLY.includes(name)) continue;
    const dir = join(ROOT, 'models', name);
    if (!existsSync(join(dir, 'onnx', 'model.onnx'))) {
      console.error(`${name}: not built (npm run model:bench builds models/bench-26m); skipped`);
      continue;
    }
    const m = SETUP.models[name];
    const engine = await engineSection(name, dir);
    const mesh = await meshRuns(name, dir, ['embedded', 'compose'], m.concurrencies, m.protocols);
    if (name === 'tinygpt') many = await streams500(dir);
    const openLoop = await openLoopSection(name, dir);
    models[name] = { ...engine, mesh, openLoop };
  }
  const beforePath = join(ROOT, 'docs/bench/mesh-before.json');
  const previous = existsSync(beforePath) ? (JSON.parse(readFileSync(beforePath, 'utf8')) as MeshReport['before']) : undefined;
  const result: MeshReport = {
    when: new Date().toISOString(),
    quick: QUICK,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, onnxruntime-node CPU, 1 intra-op thread`,
    load: { before: round(loadBefore, 2), after: round(loadavg()[0]!, 2) },
    runSeconds: round((performance.now() - started) / 1000),
    setup: SETUP,
    models,
    streams500: many,
    before: previous,
  };
  const out = QUICK ? join(ROOT, 'build') : join(ROOT, 'docs/bench');
  writeFileSync(join(out, 'mesh.json'), JSON.stringify(result, null, 2) + '\n');
  const md = report(result);
  writeFileSync(join(out, 'mesh.md'), md);
  console.log(md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
