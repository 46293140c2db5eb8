import { type SamplingInput, validateSampling } from '@tokenmesh/model';

import { applyFilters, Sampler } from '../../src/worker/sampler';

const params = (input: SamplingInput) => validateSampling(input, { promptTokens: 1, contextLength: 64, vocabSize: 8 });
const logits = Float32Array.from([1.0, 3.0, 2.0, 0.5, -1, -2, 2.9, 0]);

function draws(s: Sampler, n: number, l = logits): number[] {
  return Array.from({ length: n }, () => s.next(l, 1).token);
}

describe('Sampler', () => {
  it('temperature 0 is greedy and reports the raw log-probability', () => {
    const s = new Sampler(params({ temperature: 0, logprobs: true }), []);
    const { token, logprob } = s.next(logits, 1);
    expect(token).toBe(1);
    const z = logits.reduce((a, v) => a + Math.exp(v), 0);
    expect(logprob).toBeCloseTo(3 - Math.log(z), 5);
  });

  it('the same seed gives the same draws; another seed gives others', () => {
    const a = draws(new Sampler(params({ seed: 42 }), []), 50);
    expect(draws(new Sampler(params({ seed: 42 }), []), 50)).toEqual(a);
    expect(draws(new Sampler(params({ seed: 43 }), []), 50)).not.toEqual(a);
  });

  it('draws in proportion to softmax(logits / temperature)', () => {
    const l = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
    const n = 20000;
    const counts = [0, 0, 0];
    for (const t of draws(new Sampler(params({ seed: 1 }), []), n, l)) counts[t]!++;
    expect(counts.map((c) => c / n)).toEqual([expect.closeTo(0.5, 1), expect.closeTo(0.3, 1), expect.closeTo(0.2, 1)]);
    // Temperature 0.5 squares the odds: 0.25 : 0.09 : 0.04.
    const hot = [0, 0, 0];
    for (const t of draws(new Sampler(params({ seed: 2, temperature: 0.5 }), []), n, l)) hot[t]!++;
    expect(hot[0]! / n).toBeCloseTo(0.25 / 0.38, 1);
  });

  it('top_k, top_p and min_p never draw filtered tokens', () => {
    expect(new Set(draws(new Sampler(params({ seed: 3, topK: 2, temperature: 2 }), []), 500))).toEqual(new Set([1, 6]));
    expect(new Set(draws(new Sampler(params({ seed: 4, topP: 0.01, temperature: 2 }), []), 200))).toEqual(new Set([1]));
    // min_p 0.5: only tokens with p >= 0.5 * p(top): ids 1 (3.0), 6 (2.9), 2 (2.0 → e^-1 = 0.37 < 0.5 excluded).
    expect(new Set(draws(new Sampler(params({ seed: 5, minP: 0.5 }), []), 500))).toEqual(new Set([1, 6]));
  });

  it('repetition penalty lowers tokens already in the prompt or generated', () => {
    const s = new Sampler(params({ temperature: 0, repetitionPenalty: 2 }), [1]);
    expect(s.next(logits, 1).token).toBe(6); // 3.0 / 2 = 1.5 < 2.9
    expect(s.next(logits, 1).token).toBe(2); // 6 now seen too: 2.9 / 2 = 1.45 < 2.0
  });

  it('presence and frequency penalties (OpenAI) lower generated tokens only, once or per occurrence', () => {
    // The prompt's token 1 is not penalised: greedy still picks it first.
    const presence = new Sampler(params({ temperature: 0, presencePenalty: 0.5 }), [1]);
    expect(draws(presence, 3)).toEqual([1, 6, 1]); // 3.0 - 0.5 = 2.5 < 2.9; then 2.9 - 0.5 = 2.4 < 2.5
    const frequency = new Sampler(params({ temperature: 0, frequencyPenalty: 0.6 }), []);
    // 1 (3.0) → 2.4 < 2.9: 6 → 2.3; then 1 at 2.4 → 1.8; 6 at 2.3 → 1.7; then 2 (2.0).
    expect(draws(frequency, 5)).toEqual([1, 6, 1, 6, 2]);
    // Negative values favour what was generated: greedy keeps it.
    expect(draws(new Sampler(params({ temperature: 0, frequencyPenalty: -1 }), []), 3)).toEqual([1, 1, 1]);
    expect(() => params({ presencePenalty: 2.5 })).toThrow(/presence_penalty/);
    expect(() => params({ frequencyPenalty: -3 })).toThrow(/frequency_penalty/);
  });

  it('logit_bias is added before anything else: +100 forces a token, -100 bans one', () => {
    expect(draws(new Sampler(params({ temperature: 0, logitBias: { 4: 100 } }), []), 3)).toEqual([4, 4, 4]);
    expect(draws(new Sampler(params({ temperature: 0, logitBias: { 1: -100 } }), []), 2)).toEqual([6, 6]);
    // Sampled too: a banned token is never drawn.
    expect(draws(new Sampler(params({ seed: 9, temperature: 1.5, logitBias: { 1: -100, 6: -100 } }), []), 300)).not.toContain(1);
    expect(() => params({ logitBias: { 8: 1 } })).toThrow('logit_bias: keys must be token ids in [0, 8), got "8"');
    expect(() => params({ logitBias: { 3: -101 } })).toThrow('logit_bias.3: must be a number in [-100, 100], got -101');
  });

  it('the filters keep exactly the tokens a full sort keeps (ties to the lower id), over random cases', () => {
    // The obvious implementation: sort every id by weight (stable, so ties keep the lower id), cut.
    const naive = (w: number[], topK: number, topP: number, minP: number): number[] => {
      let order = w.map((_, i) => i).sort((a, b) => w[b]! - w[a]! || a - b);
      if (topK > 0 && topK < order.length) order = order.slice(0, topK);
      const mass = order.reduce((t, i) => t + w[i]!, 0);
      let keep = order.length;
      if (topP < 1) {
        let cum = 0;
        keep = order.findIndex((i) => (cum += w[i]!) >= topP * mass) + 1 || order.length;
      }
      if (minP > 0) {
        const n = order.findIndex((i) => w[i]! < minP * w[order[0]!]!);
        if (n > 0) keep = Math.min(keep, n);
      }
      return order.slice(0, keep).sort((a, b) => a - b);
    };
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let c = 0; c < 500; c++) {
      const n = 2 + Math.floor(rand() * 40);
      // Few distinct values, so ties are common.
      const w = Array.from({ length: n }, () => Math.exp(-Math.floor(rand() * 6)));
      const topK = rand() < 0.5 ? 0 : 1 + Math.floor(rand() * n);
      const topP = rand() < 0.5 ? 1 : rand();
      const minP = rand() < 0.5 ? 0 : rand();
      const weights = Float64Array.from(w);
      const total = applyFilters(weights, { topK, topP, minP }, new Float64Array(n));
      const kept = [...weights.keys()].filter((i) => weights[i]! > 0);
      expect([c, kept]).toEqual([c, naive(w, topK, topP, minP)]);
      expect(total).toBeCloseTo(
        kept.reduce((t, i) => t + w[i]!, 0),
        10,
      );
    }
  });
});
