import { argmax, type Sampling } from '@tokenmesh/model';
import { randomSeed, Rng } from './rng';

export interface SampledToken {
  readonly token: number;
  /** log P(token) under the model's raw distribution (before temperature and filters). */
  readonly logprob: number;
}

function logSoftmaxAt(logits: Float32Array, index: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return logits[index]! - max - Math.log(sum);
}

/**
 * Per-request token selection: repetition penalty, then greedy (temperature 0) or temperature,
 * top-k, top-p and min-p filtering and a draw from the request's own seeded generator.
 * Processing order follows Hugging Face's logits processors.
 */
export class Sampler {
  private readonly rng: Rng;
  private readonly seen = new Set<number>();

  constructor(
    private readonly params: Sampling,
    promptIds: readonly number[],
  ) {
    this.rng = new Rng(params.seed ?? randomSeed());
    if (params.repetitionPenalty !== 1) for (const id of promptIds) this.seen.add(id);
  }

  /** Chooses the next token from one position's logits (not modified). */
  next(raw: Float32Array): SampledToken {
    const logits = Float32Array.from(raw);
    const p = this.params;
    if (p.repetitionPenalty !== 1) {
      for (const id of this.seen) {
        const v = logits[id]!;
        logits[id] = v > 0 ? v / p.repetitionPenalty : v * p.repetitionPenalty;
      }
    }
    const token = p.temperature === 0 ? argmax(logits) : this.draw(logits);
    if (p.repetitionPenalty !== 1) this.seen.add(token);
    return { token, logprob: p.logprobs ? logSoftmaxAt(raw, token) : 0 };
  }

  private draw(logits: Float32Array): number {
    const p = this.params;
    // Candidates sorted by logit, best first; ties keep the lower id (stable sort).
    let order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
    if (p.topK > 0 && p.topK < order.length) order = order.slice(0, p.topK);
    const max = logits[order[0]!]!;
    let probs = order.map((id) => Math.exp((logits[id]! - max) / p.temperature));
    let total = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((x) => x / total);
    let keep = probs.length;
    if (p.topP < 1) {
      let cum = 0;
      keep = probs.findIndex((x) => (cum += x) >= p.topP) + 1 || probs.length;
    }
    if (p.minP > 0) {
      const floor = p.minP * probs[0]!;
      const n = probs.findIndex((x) => x < floor);
      if (n > 0) keep = Math.min(keep, n);
    }
    probs = probs.slice(0, keep);
    total = probs.reduce((a, b) => a + b, 0);
    let u = this.rng.next() * total;
    for (let i = 0; i < probs.length; i++) {
      u -= probs[i]!;
      if (u < 0) return order[i]!;
    }
    return order[probs.length - 1]!;
  }
}
