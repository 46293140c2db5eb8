/**
 * The engine alone (worker thread, batching, sampling, no RPC) under the mesh benchmark's loads:
 * a closed loop of sampled requests (the same requests the mesh gets), and an open loop of
 * Poisson arrivals with mixed prompt and output lengths, at shares of the engine's capacity.
 */
import { DEFAULT_LIMITS, type LoadedModel, ModelRepo, parseModelEntry, QueueFullError } from '@tokenmesh/inference';
import { type ModelSpec, validateSampling } from '@tokenmesh/model';

import { quantile, round } from './stats';

/** Deterministic uniform [0, 1) numbers from a seed (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEXT = Buffer.from(
  'In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. ' +
    'hacker: n. A person who enjoys exploring the details of programmable systems and how to stretch their capabilities. ',
);
/** `n` prompt ids (byte-level tokenizers: a byte is a token), starting at `offset` in a fixed text. */
const promptOf = (n: number, offset: number) => Array.from({ length: n }, (_, i) => TEXT[(offset + i) % TEXT.length]!);

export interface EngineRequest {
  readonly promptIds: number[];
  readonly maxTokens: number;
  readonly temperature: number;
  /** Guided decoding's JSON Schema text (bench:guided); absent: unconstrained. */
  readonly guidedJson?: string;
}

interface Measured {
  readonly ttftMs: number;
  readonly gaps: number[];
  readonly tokens: number;
}

async function measure(m: LoadedModel, id: string, r: EngineRequest): Promise<Measured> {
  const sampling = validateSampling(
    { maxTokens: r.maxTokens, temperature: r.temperature, guidedJson: r.guidedJson },
    { promptTokens: r.promptIds.length, contextLength: m.spec.contextLength, vocabSize: m.spec.vocabSize },
  );
  const t0 = performance.now();
  let last = 0;
  let ttft = 0;
  const gaps: number[] = [];
  let tokens = 0;
  for await (const e of m.engine.generate({ id, promptIds: r.promptIds, sampling, adapter: m.adapter?.slot })) {
    if (e.type !== 'token') continue;
    const now = performance.now();
    if (tokens === 0) ttft = now - t0;
    else gaps.push(now - last);
    last = now;
    tokens++;
  }
  return { ttftMs: ttft, gaps, tokens };
}

/** Step statistics of the worker over a run: how much of its time went to keeping the KV cache. */
export interface StepStats {
  readonly steps: number;
  /** Share of the worker's step time spent placing rows and gathering the cache. */
  readonly kvShare: number;
  readonly rebuildsPerStep: number;
  readonly meanDecodeRows: number;
  readonly meanBatch: number;
  readonly meanWidth: number;
  /** Share of step time in samplers. */
  readonly sampleShare: number;
  /** Mean milliseconds of a step, and of its sampling (guided decoding's masks included). */
  readonly meanStepMs: number;
  readonly meanSampleMs: number;
}

function watchSteps(m: LoadedModel): () => StepStats {
  let steps = 0;
  let kv = 0;
  let total = 0;
  let rebuilds = 0;
  let rows = 0;
  let batch = 0;
  let width = 0;
  let sample = 0;
  const off = m.runners.map((r) =>
    r.onStep((s) => {
      steps++;
      kv += s.kvMs;
      total += s.stepMs;
      rebuilds += s.rebuilds;
      rows += s.decodeRows;
      batch += s.decodeBatch;
      width += s.width;
      sample += s.sampleMs;
    }),
  );
  return () => {
    off.forEach((f) => f());
    const per = (x: number) => (steps ? round(x / steps, 2) : 0);
    return {
      steps,
      kvShare: total ? round(kv / total, 4) : 0,
      rebuildsPerStep: per(rebuilds),
      meanDecodeRows: per(rows),
      meanBatch: per(batch),
      meanWidth: per(width),
      sampleShare: total ? round(sample / total, 4) : 0,
      meanStepMs: per(total),
      meanSampleMs: steps ? round(sample / steps, 3) : 0,
    };
  };
}

export interface EngineRun {
  readonly tokensPerS: number;
  readonly requests: number;
  readonly meanOutputTokens: number;
  readonly ttftP50Ms: number;
  readonly ttftP99Ms: number;
  readonly itlP50Ms: number;
  readonly itlP99Ms: number;
  readonly steps: StepStats;
}

function summary(done: Measured[], seconds: number, tokens: number, steps: StepStats): EngineRun {
  const gaps = done.flatMap((d) => d.gaps);
  return {
    tokensPerS: round(tokens / seconds),
    requests: done.length,
    meanOutputTokens: done.length ? round(done.reduce((n, d) => n + d.tokens, 0) / done.length) : 0,
    ttftP50Ms: round(
      quantile(
        done.map((d) => d.ttftMs),
        0.5,
      ),
      2,
    ),
    ttftP99Ms: round(
      quantile(
        done.map((d) => d.ttftMs),
        0.99,
      ),
      2,
    ),
    itlP50Ms: round(quantile(gaps, 0.5), 2),
    itlP99Ms: round(quantile(gaps, 0.99), 2),
    steps,
  };
}

export async function loadEngine(dir: string): Promise<{ repo: ModelRepo; model: LoadedModel; spec: ModelSpec }> {
  const repo = await ModelRepo.load([parseModelEntry(dir)], { intraOpThreads: 1, executionProviders: ['cpu'] }, DEFAULT_LIMITS);
  const model = repo.models[0]!;
  // As a served worker: the first request must not pay onnxruntime's lazy initialisation.
  await measure(model, 'warm-up', { promptIds: promptOf(8, 0), maxTokens: 2, temperature: 0 });
  return { repo, model, spec: model.spec };
}

/**
 * `concurrency` clients, each sending the next of `next()` as soon as its last one ended, for
 * `warmupSeconds` and then `seconds`: only requests that finish, and tokens made, after the
 * warm-up count (the first wave of prefills would otherwise weigh on a short window).
 */
export async function engineClosedLoop(
  m: LoadedModel,
  concurrency: number,
  seconds: number,
  next: (i: number) => EngineRequest,
  warmupSeconds = 0,
  /** The model (base or one of its adapters, same runners) of request i; default `m`. */
  modelFor: (i: number) => LoadedModel = () => m,
): Promise<EngineRun> {
  const done: Measured[] = [];
  let seq = 0;
  const start = performance.now();
  const t0 = start + warmupSeconds * 1000;
  const end = t0 + seconds * 1000;
  let steps: (() => StepStats) | undefined;
  let windowTokens = 0;
  let offTokens: (() => void)[] = [];
  const timer = setTimeout(() => {
    steps = watchSteps(m);
    offTokens = m.runners.map((r) => r.onStep((st) => (windowTokens += st.tokens.length)));
  }, warmupSeconds * 1000);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const i = seq++;
        const r = await measure(modelFor(i), `c${i}`, next(i));
        if (performance.now() >= t0) done.push(r);
      }
    }),
  );
  clearTimeout(timer);
  steps ??= watchSteps(m);
  offTokens.forEach((f) => f());
  const s = (performance.now() - Math.max(t0, start)) / 1000;
  return summary(done, s, warmupSeconds > 0 ? windowTokens : done.reduce((n, d) => n + d.tokens, 0), steps());
}

/** The closed loop's requests: the prompt the mesh runs get, sampled at `temperature`. */
export const fixedRequest =
  (tokens: number, temperature: number) =>
  (i: number): EngineRequest => ({
    promptIds: [...Buffer.from(`In the beginning God created ${i}`)],
    maxTokens: tokens,
    temperature,
  });

/** The open loop's mix: prompts of 8–256 tokens, 16–256 generated, from a fixed seed. */
export function mixedRequests(seed: number, contextLength: number): (i: number) => EngineRequest {
  const rnd = seeded(seed);
  const cache: EngineRequest[] = [];
  return (i) => {
    while (cache.length <= i) {
      const prompt = 8 + Math.floor(rnd() * 249);
      const out = Math.min(16 + Math.floor(rnd() * 241), contextLength - prompt);
      cache.push({ promptIds: promptOf(prompt, Math.floor(rnd() * TEXT.length)), maxTokens: out, temperature: 0.8 });
    }
    return cache[i]!;
  };
}

export interface OpenLoopRun extends EngineRun {
  /** Offered load, requests per second, and the share of capacity it is. */
  readonly ratePerS: number;
  readonly share: number;
  /** Requests still waiting or running when the arrival window closed. */
  readonly backlogAtEnd: number;
  /** Arrivals the queue refused at once (RESOURCE_EXHAUSTED: its estimated wait was over the limit). */
  readonly refused: number;
}

/**
 * Poisson arrivals (exponential gaps from `seed`) at `ratePerS` for `seconds`; tokens/s counts
 * the tokens generated inside the window, latencies cover every request that arrived in it
 * (those still running at the end are waited for, up to `drainSeconds`).
 */
export async function engineOpenLoop(
  m: LoadedModel,
  ratePerS: number,
  share: number,
  seconds: number,
  seed: number,
  next: (i: number) => EngineRequest,
  drainSeconds = 120,
): Promise<OpenLoopRun> {
  const rnd = seeded(seed);
  const steps = watchSteps(m);
  let windowTokens = 0;
  const offCount = m.runners.map((r) => r.onStep((s) => (windowTokens += s.tokens.length)));
  const runs: Promise<Measured | undefined>[] = [];
  let refused = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let at = t0;
  for (let i = 0; ; i++) {
    at += (-Math.log(1 - rnd()) / ratePerS) * 1000;
    if (at >= end) break;
    const wait = at - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Past capacity the queue may refuse (its estimated wait is over the limit): as a client would see it.
    runs.push(
      measure(m, `o${seed}-${i}`, next(i)).catch((err: unknown) => {
        if (!(err instanceof QueueFullError)) throw err;
        refused++;
        return undefined;
      }),
    );
  }
  const tail = Math.max(0, end - performance.now());
  await new Promise((r) => setTimeout(r, tail));
  offCount.forEach((f) => f());
  const tokensInWindow = windowTokens;
  const windowSteps = steps();
  const backlog = m.engine.running + m.engine.queued;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([Promise.all(runs), new Promise<null>((r) => (timer = setTimeout(() => r(null), drainSeconds * 1000)))]);
  clearTimeout(timer);
  if (!drained) throw new Error(`open loop at ${share * 100}%: requests still running ${drainSeconds} s after the window`);
  const served = drained.filter((d): d is Measured => d !== undefined);
  return { ...summary(served, seconds, tokensInWindow, windowSteps), ratePerS: round(ratePerS, 2), share, backlogAtEnd: backlog, refused };
}
