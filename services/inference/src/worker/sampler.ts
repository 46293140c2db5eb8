import { argmax, type JsonConstraint, type JsonGuide, type Sampling } from '@tokenmesh/model';

import { randomSeed, Rng } from './rng';

/** The most likely tokens at a position, most likely first (ties: the lower id), and their log-probabilities. */
export interface TopTokens {
  readonly ids: number[];
  readonly logprobs: number[];
}

export interface SampledToken {
  readonly token: number;
  /** log P(token) under the model's raw distribution (before temperature and filters). */
  readonly logprob: number;
  /** With top_logprobs: the k most likely tokens under that distribution. */
  readonly top?: TopTokens;
}

/** log P(index), and with k > 0 the k most likely tokens, under the softmax of `logits`. */
export function logSoftmaxAt(logits: Float32Array, index: number, k = 0): { logprob: number; top?: TopTokens } {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const norm = max + Math.log(sum);
  if (k <= 0) return { logprob: logits[index]! - norm };
  // k is at most 20: insertion into a short sorted list beats sorting the vocabulary.
  const ids: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (ids.length === k && v <= vals[k - 1]!) continue;
    let at = ids.length;
    while (at > 0 && vals[at - 1]! < v) at--;
    ids.splice(at, 0, i);
    vals.splice(at, 0, v);
    if (ids.length > k) {
      ids.pop();
      vals.pop();
    }
  }
  return { logprob: logits[index]! - norm, top: { ids, logprobs: vals.map((v) => v - norm) } };
}

/** The filters that need the candidates in order of probability. */
type Filters = Pick<Sampling, 'topK' | 'topP' | 'minP'>;

/**
 * Which tokens survive top-k, then top-p (over the top-k mass), then min-p (against the top
 * token), as Hugging Face's logits processors apply them: the first `keep` tokens ordered by
 * weight, highest first, ties to the lower id. `weights` are exp((logit - max) / temperature),
 * so the top token weighs 1. Zeroes the weights of the others in place; returns the kept mass.
 */
export function applyFilters(weights: Float64Array, p: Filters, scratch: Float64Array): number {
  const n = weights.length;
  const sorted = scratch.subarray(0, n);
  sorted.set(weights);
  // Native numeric sort, ascending; read from the end for highest first.
  sorted.sort();
  let keep = p.topK > 0 && p.topK < n ? p.topK : n;
  let topMass = 0;
  for (let i = 0; i < keep; i++) topMass += sorted[n - 1 - i]!;
  if (p.topP < 1) {
    let cum = 0;
    for (let i = 0; i < keep; i++) {
      cum += sorted[n - 1 - i]!;
      if (cum >= p.topP * topMass) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.minP > 0) {
    const floor = p.minP * sorted[n - 1]!;
    let above = 0;
    while (above < keep && sorted[n - 1 - above]! >= floor) above++;
    if (above > 0) keep = above;
  }
  if (keep === n) {
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i]!;
    return total;
  }
  // Everything above the threshold is in; ties at it go to the lowest ids.
  const threshold = sorted[n - keep]!;
  let above = 0;
  for (let i = 0; i < n; i++) if (weights[i]! > threshold) above++;
  let ties = keep - above;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (w > threshold || (w === threshold && ties-- > 0)) total += w;
    else weights[i] = 0;
  }
  return total;
}

/**
 * Per-request token selection: logit bias, repetition penalty, OpenAI's presence and frequency
 * penalties, guided decoding's mask, then greedy (temperature 0) or temperature,
 * top-k, top-p and min-p filtering and a draw from the request's own seeded generator.
 * Processing order follows Hugging Face's logits processors. Plain temperature sampling is one
 * pass over the vocabulary; only the filters sort it.
 */
export class Sampler {
  private readonly rng: Rng;
  private readonly seen = new Set<number>();
  private weights = new Float64Array(0);
  private scratch = new Float64Array(0);

  /** Times each token was generated, for the presence and frequency penalties. */
  private readonly generated = new Map<number, number>();
  private readonly penalised: boolean;
  private readonly biased: readonly [number, number][];
  /** Guided decoding's place in the document; absent: unconstrained. */
  private readonly constraint: JsonConstraint | undefined;

  constructor(
    private readonly params: Sampling,
    promptIds: readonly number[],
    guide?: JsonGuide,
  ) {
    this.constraint = guide?.start();
    this.rng = new Rng(params.seed ?? randomSeed());
    if (params.repetitionPenalty !== 1) for (const id of promptIds) this.seen.add(id);
    this.penalised = params.presencePenalty !== 0 || params.frequencyPenalty !== 0;
    this.biased = Object.entries(params.logitBias).map(([id, bias]) => [Number(id), bias]);
  }

  /** Chooses the next token from one position's logits (not modified); `left`: tokens max_tokens still allows, this one included. */
  next(raw: Float32Array, left: number): SampledToken {
    const p = this.params;
    let logits = raw;
    if (p.repetitionPenalty !== 1 || this.penalised || this.biased.length > 0 || this.constraint) logits = Float32Array.from(raw);
    // OpenAI's logit_bias first, as vLLM's logits processors come before its penalties.
    for (const [id, bias] of this.biased) if (id < logits.length) logits[id] = logits[id]! + bias;
    if (p.repetitionPenalty !== 1) {
      for (const id of this.seen) {
        const v = logits[id]!;
        logits[id] = v > 0 ? v / p.repetitionPenalty : v * p.repetitionPenalty;
      }
    }
    // OpenAI's penalties, after the repetition penalty (vLLM's order), over generated tokens only.
    if (this.penalised) for (const [id, n] of this.generated) logits[id] = logits[id]! - p.frequencyPenalty * n - p.presencePenalty;
    // The schema's mask last: no bias or penalty brings back a token that breaks the document.
    this.constraint?.mask(logits, left);
    const token = p.temperature === 0 ? argmax(logits) : this.draw(logits);
    if (p.repetitionPenalty !== 1) this.seen.add(token);
    if (this.penalised) this.generated.set(token, (this.generated.get(token) ?? 0) + 1);
    this.constraint?.accept(token);
    return p.logprobs ? { token, ...logSoftmaxAt(raw, token, p.topLogprobs) } : { token, logprob: 0 };
  }

  private draw(logits: Float32Array): number {
    const p = this.params;
    const n = logits.length;
    if (this.weights.length !== n) {
      this.weights = new Float64Array(n);
      this.scratch = new Float64Array(n);
    }
    const w = this.weights;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
    const invT = 1 / p.temperature;
    let total = 0;
    for (let i = 0; i < n; i++) total += w[i] = Math.exp((logits[i]! - max) * invT);
    if ((p.topK > 0 && p.topK < n) || p.topP < 1 || p.minP > 0) total = applyFilters(w, p, this.scratch);
    let u = this.rng.next() * total;
    let lastKept = -1;
    for (let i = 0; i < n; i++) {
      if (w[i] === 0) continue;
      u -= w[i]!;
      if (u < 0) return i;
      lastKept = i;
    }
    // Rounding left u a hair above 0: the last candidate takes it.
    return lastKept;
  }
}
