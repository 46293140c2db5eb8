import type { Balancer, WorkerLoad } from './balancer';

/**
 * nginx's smooth weighted round robin: every pick adds each candidate's weight to its running
 * score, takes the highest and charges it the total. Over any cycle of sum(weights) picks each
 * worker gets exactly its weight, and heavy workers are interleaved with light ones instead of
 * being sent a burst (5:1:1 gives a a b a c a a).
 */
export class SmoothWeightedBalancer implements Balancer {
  readonly strategy = 'weighted' as const;
  private readonly current = new Map<string, number>();

  /** The candidate with the highest running score. */
  pick<W extends WorkerLoad>(candidates: readonly W[]): W {
    let total = 0;
    let best: W | undefined;
    let bestScore = 0;
    for (const c of candidates) {
      const score = (this.current.get(c.id) ?? 0) + c.weight;
      this.current.set(c.id, score);
      total += c.weight;
      // Ties go to the smaller id so the sequence does not depend on the caller's ordering.
      if (best === undefined || score > bestScore || (score === bestScore && c.id < best.id)) {
        best = c;
        bestScore = score;
      }
    }
    if (best === undefined) throw new RangeError('balancer needs at least one candidate');
    this.current.set(best.id, bestScore - total);
    // A worker that left would otherwise come back with stale credit (or debt) and the map would grow with every id ever seen.
    if (this.current.size > candidates.length) {
      const present = new Set(candidates.map((c) => c.id));
      for (const id of this.current.keys()) if (!present.has(id)) this.current.delete(id);
    }
    return best;
  }
}
